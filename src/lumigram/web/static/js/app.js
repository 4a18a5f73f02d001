// The web app's one entry point: each part looks for its own elements and does nothing
// on pages without them.
import * as compose from "./compose.js";
import * as feed from "./feed.js";
import * as live from "./live.js";
import * as posts from "./posts.js";
import * as profile from "./profile.js";

posts.install();
feed.install();
profile.install();
profile.installTagFollow();
compose.install();
compose.installEdit();
compose.installDelete();
live.install();
