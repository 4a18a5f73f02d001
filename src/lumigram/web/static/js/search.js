// Search and explore. The search box is an ARIA combobox: as one types, its listbox fills
// (debounced) from /api/v2/search with accounts, tags and posts; arrow keys move through
// the suggestions, Enter opens one, Escape closes the list. A search done or a result
// opened from it is remembered in the recent searches, which can be removed one by one or
// all at once. The explore grid grows as the reader nears its end.
import { api, token } from "./api.js";
import { paintPlaceholders } from "./posts.js";

const DEBOUNCE_MS = 200;
const SUGGESTED = 5;

function plainText(html) {
  return new DOMParser().parseFromString(html, "text/html").body.textContent || "";
}

function pathOf(url) {
  return new URL(url, window.location.href).pathname;
}

function suggestions(results, q) {
  const found = [];
  for (const account of results.accounts) {
    found.push({
      opened: `account:${account.id}`,
      href: `/@${account.username}`,
      label: account.username,
      detail: account.display_name || `${account.followers_count} followers`,
      avatar: account.avatar,
    });
  }
  for (const tag of results.hashtags) {
    found.push({ opened: `hashtag:${tag.id}`, href: pathOf(tag.url), label: `#${tag.name}`, detail: "Tag" });
  }
  for (const status of results.statuses) {
    const caption = plainText(status.content).trim();
    found.push({
      opened: `status:${status.id}`,
      href: pathOf(status.url),
      label: caption.length > 70 ? `${caption.slice(0, 70)}…` : caption || "A post",
      detail: `Post by ${status.account.username}`,
    });
  }
  found.push({ opened: null, href: `/search?q=${encodeURIComponent(q)}`, label: `Search for “${q}”`, detail: "" });
  return found;
}

// Remembers the search (for a signed-in person), then goes where it leads.
async function go(q, href, opened) {
  if (token && q.trim()) {
    await api("POST", "/api/v1/search/recent", opened ? { q, opened } : { q }).catch(() => null);
  }
  window.location.assign(href);
}

function installTypeahead(form) {
  const input = form.querySelector("[role=combobox]");
  const list = document.getElementById(input.getAttribute("aria-controls"));
  const status = document.getElementById("search-status");
  let timer = null;
  let asked = 0;
  let active = -1;

  const options = () => [...list.querySelectorAll("[role=option]")];
  const close = () => {
    list.hidden = true;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
    active = -1;
  };
  const highlight = (index) => {
    const all = options();
    if (!all.length) return;
    active = (index + all.length) % all.length;
    all.forEach((option, i) => option.setAttribute("aria-selected", String(i === active)));
    input.setAttribute("aria-activedescendant", all[active].id);
    all[active].scrollIntoView({ block: "nearest" });
  };
  const show = (found) => {
    list.replaceChildren(
      ...found.map((item, index) => {
        const option = document.createElement("li");
        option.id = `suggestion-${index}`;
        option.setAttribute("role", "option");
        option.setAttribute("aria-selected", "false");
        option.dataset.href = item.href;
        if (item.opened) option.dataset.opened = item.opened;
        if (item.avatar) {
          const face = document.createElement("img");
          face.className = "avatar small";
          face.src = item.avatar;
          face.alt = "";
          option.append(face);
        }
        const label = document.createElement("span");
        label.className = "label";
        label.textContent = item.label;
        option.append(label);
        if (item.detail) {
          const detail = document.createElement("span");
          detail.className = "small";
          detail.textContent = item.detail;
          option.append(" ", detail);
        }
        return option;
      }),
    );
    active = -1;
    list.hidden = false;
    input.setAttribute("aria-expanded", "true");
    input.removeAttribute("aria-activedescendant");
    const count = found.length - 1;
    status.textContent = count ? `${count} suggestion${count === 1 ? "" : "s"}` : "No suggestions";
  };
  const lookUp = async () => {
    const q = input.value.trim();
    const ticket = ++asked;
    if (!q) {
      close();
      return;
    }
    const query = new URLSearchParams({ q, limit: String(SUGGESTED) });
    const results = await api("GET", `/api/v2/search?${query}`).catch(() => null);
    if (ticket !== asked || !results) return; // a newer keystroke already asked again
    show(suggestions(results, q));
  };
  const openOption = (option) => go(input.value.trim(), option.dataset.href, option.dataset.opened);

  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(lookUp, DEBOUNCE_MS);
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      if (list.hidden) return;
      event.preventDefault();
      highlight(active + (event.key === "ArrowDown" ? 1 : -1));
    } else if (event.key === "Escape" && !list.hidden) {
      event.preventDefault();
      close();
    }
  });
  input.addEventListener("blur", close);
  // Keep the focus in the box while a suggestion is clicked.
  list.addEventListener("mousedown", (event) => event.preventDefault());
  list.addEventListener("click", (event) => {
    const option = event.target.closest("[role=option]");
    if (option) openOption(option);
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const chosen = active >= 0 && !list.hidden ? options()[active] : null;
    if (chosen) {
      openOption(chosen);
    } else if (input.value.trim()) {
      go(input.value.trim(), `/search?q=${encodeURIComponent(input.value.trim())}`, null);
    }
  });
}

function installRecent() {
  const section = document.querySelector(".recent-searches");
  if (!section) return;
  section.addEventListener("click", async (event) => {
    const remove = event.target.closest("button.remove-recent");
    if (remove) {
      const item = remove.closest("li");
      await api("DELETE", `/api/v1/search/recent/${item.dataset.id}`);
      item.remove();
      if (!section.querySelector("li")) section.remove();
      document.getElementById("search-q").focus();
    } else if (event.target.closest("#clear-recent")) {
      await api("DELETE", "/api/v1/search/recent");
      section.remove();
      document.getElementById("search-q").focus();
    }
  });
}

async function loadTiles(link, grid, observer) {
  observer.unobserve(link);
  const response = await fetch(link.dataset.next, { credentials: "same-origin" }).catch(() => null);
  if (!response || !response.ok) return; // the link still opens the next page
  const holder = document.createElement("template");
  holder.innerHTML = await response.text();
  const tiles = [...holder.content.querySelectorAll("li")];
  tiles.forEach((tile) => paintPlaceholders(tile));
  grid.append(...tiles);
  const next = holder.content.querySelector("a.more[data-next]");
  if (next) {
    link.replaceWith(next);
    observer.observe(next);
  } else {
    link.remove();
  }
}

function installGrid() {
  const grid = document.querySelector("[data-grid]");
  const first = document.querySelector("[data-grid-more]");
  if (!grid || !first) return;
  const observer = new IntersectionObserver(
    (entries) => entries.filter((e) => e.isIntersecting).forEach((e) => loadTiles(e.target, grid, observer)),
    { rootMargin: "600px 0px" },
  );
  observer.observe(first);
}

export function install() {
  const form = document.querySelector("form[data-typeahead]");
  if (form) installTypeahead(form);
  installRecent();
  installGrid();
}
