// The web app's one entry point: each part looks for its own elements and does nothing
// on pages without them.
import * as compose from "./compose.js";
import * as feed from "./feed.js";
import * as live from "./live.js";
import * as messages from "./messages.js";
import * as posts from "./posts.js";
import * as profile from "./profile.js";
import * as search from "./search.js";

posts.install();
feed.install();
profile.install();
profile.installTagFollow();
compose.install();
compose.installDelete();
search.install();
messages.install();
live.install();
