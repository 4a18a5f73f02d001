// The page kept current over the streaming API's WebSocket (the "user" stream), without
// a reload: each new notification adds one to the unread badge, a deleted post leaves
// the feed, and new posts are announced at the top of the home feed without moving it.
// The "direct" stream rides along for the messages pages. Reconnects after a drop, except
// when the token was refused.
import { token } from "./api.js";

const RETRY_MS = 5000;

function bump(badge) {
  const count = Number(badge.dataset.count || "0") + 1;
  badge.dataset.count = String(count);
  badge.textContent = count >= 100 ? "99+" : String(count);
  badge.hidden = false;
  const text = document.getElementById("unread-text");
  if (text) text.textContent = `${count} unread`;
}

function announce(feed) {
  let button = document.getElementById("new-posts");
  if (!button) {
    button = document.createElement("button");
    button.id = "new-posts";
    button.type = "button";
    button.className = "new-posts primary";
    button.textContent = "New posts";
    button.addEventListener("click", () => window.location.assign("/"));
    feed.before(button);
  }
}

function handle(frame) {
  // Other parts of the page (the messages, the story viewer) follow the same stream
  // through this event.
  document.dispatchEvent(new CustomEvent("lumigram:stream", { detail: frame }));
  const badge = document.getElementById("unread-badge");
  const onNotifications = document.querySelector('nav.tabs a[aria-current="page"][href="/notifications"]');
  if (frame.event === "notification") document.dispatchEvent(new CustomEvent("lumigram:notification"));
  if (frame.event === "notification" && badge && !onNotifications) {
    bump(badge);
  } else if (frame.event === "delete") {
    const gone = document.getElementById(`post-${frame.payload}`);
    if (gone) gone.remove();
  } else if (frame.event === "update") {
    const feed = document.querySelector('[data-feed="following"]');
    const status = JSON.parse(frame.payload);
    if (feed && status.account.id !== document.body.dataset.me && !document.getElementById(`post-${status.id}`)) {
      announce(feed);
    }
  }
}

function connect() {
  const scheme = window.location.protocol === "https:" ? "wss" : "ws";
  const query = `stream=user&access_token=${encodeURIComponent(token)}`;
  const socket = new WebSocket(`${scheme}://${window.location.host}/api/v1/streaming?${query}`);
  socket.addEventListener("open", () => {
    socket.send(JSON.stringify({ type: "subscribe", stream: "direct" }));
    document.body.dataset.stream = "open";
    // What happened before (or while disconnected) is fetched by whoever listens.
    document.dispatchEvent(new CustomEvent("lumigram:stream", { detail: { event: "open" } }));
    document.dispatchEvent(new CustomEvent("lumigram:stream-open"));
  });
  socket.addEventListener("message", (message) => handle(JSON.parse(message.data)));
  socket.addEventListener("close", (event) => {
    document.body.dataset.stream = "closed";
    if (event.code !== 1008) setTimeout(connect, RETRY_MS);
  });
}

export function install() {
  if (token && "WebSocket" in window) connect();
}
