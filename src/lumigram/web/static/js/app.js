// The web app's one entry point: each part looks for its own elements and does nothing
// on pages without them. The composer's modules (crop, filters, suggestions) are loaded
// only on the pages that use them, so the feed's first paint does not carry them.
import * as feed from "./feed.js";
import * as live from "./live.js";
import * as posts from "./posts.js";
import * as profile from "./profile.js";

posts.install();
feed.install();
profile.install();
profile.installTagFollow();
live.install();
if (document.querySelector("#composer, #edit-caption, #delete-post")) {
  const compose = await import("./compose.js");
  compose.install();
  compose.installEdit();
  compose.installDelete();
}
