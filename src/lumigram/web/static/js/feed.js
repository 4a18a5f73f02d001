// Infinite scroll: when the "Older posts" link nears the viewport, fetch the next page of
// posts as HTML from the server and put it in the link's place.
import { enhance } from "./posts.js";

async function loadMore(link, observer) {
  observer.unobserve(link);
  const response = await fetch(link.dataset.next, { credentials: "same-origin" }).catch(() => null);
  if (!response || !response.ok) {
    // Signed out meanwhile, or offline: the link stays, and still opens the next page.
    return;
  }
  const holder = document.createElement("template");
  holder.innerHTML = await response.text();
  const fragment = holder.content;
  enhance(fragment);
  const next = fragment.querySelector("a.more[data-next]");
  link.replaceWith(fragment);
  if (next) observer.observe(next);
}

export function install() {
  const feed = document.querySelector("[data-feed]");
  const first = feed && feed.querySelector("a.more[data-next]");
  if (!first) return;
  const observer = new IntersectionObserver(
    (entries) => entries.filter((e) => e.isIntersecting).forEach((e) => loadMore(e.target, observer)),
    { rootMargin: "800px 0px" },
  );
  observer.observe(first);
}
