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
  document.addEventListener("lumigram:notification", () => {
    // Several notifications at once (a burst of likes) make one fetch.
    if (pending) return;
    pending = setTimeout(() => {
      pending = null;
      refresh();
    }, 300);
  });
}
