// The web app's entry point on every page: each part looks for its own elements and does
// nothing on pages without them. The composer (crop, filters, suggestions) is the /new
// page's own module, so the feed's first paint does not carry it.
import * as feed from "./feed.js";
import * as live from "./live.js";
import * as messages from "./messages.js";
import * as postOwner from "./post_owner.js";
import * as posts from "./posts.js";
import * as profile from "./profile.js";
import * as search from "./search.js";

posts.install();
feed.install();
profile.install();
profile.installTagFollow();
search.install();
messages.install();
postOwner.installEdit();
postOwner.installDelete();
live.install();
