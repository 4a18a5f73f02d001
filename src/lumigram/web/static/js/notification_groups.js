// The notifications page stays current: when the stream announces a notification
// (live.js), the grouped list is fetched again from the server and put in place, so a
// new like joins its group ("alice and 2 others") rather than adding a line.
const list = document.getElementById("notification-groups");
let pending = null;

async function refresh() {
  const response = await fetch("/web/notifications", { credentials: "same-origin" }).catch(() => null);
  if (!response || !response.ok) return; // offline or signed out meanwhile: keep what is shown
  const holder = document.createElement("template");
  holder.innerHTML = await response.text();
  list.replaceChildren(holder.content);
}

if (list) {
  // Once the stream is open nothing new is missed; what came before it (since the page
  // was rendered, or while reconnecting) is fetched once.
  const caughtUp = async () => {
    await refresh();
    list.dataset.live = "true";
  };
  document.addEventListener("lumigram:stream-open", caughtUp);
  if (document.body.dataset.stream === "open") caughtUp(); // opened before this module ran
  document.addEventListener("lumigram:notification", () => {
    // Several notifications at once (a burst of likes) make one fetch.
    if (pending) return;
    pending = setTimeout(() => {
      pending = null;
      refresh();
    }, 300);
  });
}
