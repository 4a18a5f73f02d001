// The unread badge, kept current over the streaming API's WebSocket: each new
// notification adds one, without reloading the page. Reconnects after a drop.
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

function connect(badge) {
  const scheme = window.location.protocol === "https:" ? "wss" : "ws";
  const url = `${scheme}://${window.location.host}/api/v1/streaming?stream=user:notification&access_token=${encodeURIComponent(token)}`;
  const socket = new WebSocket(url);
  socket.addEventListener("message", (message) => {
    const frame = JSON.parse(message.data);
    if (frame.event === "notification" && !document.querySelector('nav.tabs a[aria-current="page"][href="/notifications"]')) {
      bump(badge);
    }
  });
  socket.addEventListener("close", (event) => {
    if (event.code !== 1008) setTimeout(() => connect(badge), RETRY_MS);
  });
}

export function install() {
  const badge = document.getElementById("unread-badge");
  if (badge && token && "WebSocket" in window) connect(badge);
}
