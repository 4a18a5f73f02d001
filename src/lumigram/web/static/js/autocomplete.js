// Hashtag and mention suggestions in a caption, from the search API: typing #sun or
// @ann lists matching hashtags or people under the field; arrow keys move through them,
// Enter or Tab (or a click) puts the chosen one in place of what was typed.
import { api } from "./api.js";

const WORD = /(^|\s)([#@])([\p{L}\p{N}_]{1,30})$/u;
const WAIT_MS = 150;
const LIMIT = 5;

export function attach(field, list) {
  let options = [];
  let active = -1;
  let timer = null;
  let asked = 0;

  function close() {
    list.hidden = true;
    list.replaceChildren();
    options = [];
    active = -1;
    field.removeAttribute("aria-activedescendant");
  }

  function highlight(index) {
    active = index;
    [...list.children].forEach((option, i) => option.setAttribute("aria-selected", String(i === index)));
    if (index >= 0) field.setAttribute("aria-activedescendant", list.children[index].id);
  }

  function choose(index) {
    const before = field.value.slice(0, field.selectionStart);
    const typed = before.match(WORD);
    if (!typed) return close();
    const start = before.length - typed[2].length - typed[3].length;
    const insert = `${options[index]} `;
    field.value = field.value.slice(0, start) + insert + field.value.slice(field.selectionStart);
    field.selectionStart = field.selectionEnd = start + insert.length;
    close();
    field.focus();
  }

  function show(found) {
    list.replaceChildren();
    options = found;
    found.forEach((text, index) => {
      const option = document.createElement("li");
      option.id = `suggestion-${index}`;
      option.setAttribute("role", "option");
      option.textContent = text;
      option.addEventListener("mousedown", (event) => {
        event.preventDefault();
        choose(index);
      });
      list.append(option);
    });
    list.hidden = found.length === 0;
    highlight(found.length ? 0 : -1);
  }

  async function suggest() {
    const typed = field.value.slice(0, field.selectionStart).match(WORD);
    if (!typed) return close();
    const [, , sign, word] = typed;
    const type = sign === "#" ? "hashtags" : "accounts";
    const mine = ++asked;
    const query = new URLSearchParams({ q: word, type, limit: String(LIMIT) });
    const found = await api("GET", `/api/v2/search?${query}`).catch(() => null);
    if (mine !== asked || !found) return;
    show(sign === "#" ? found.hashtags.map((tag) => `#${tag.name}`) : found.accounts.map((a) => `@${a.acct}`));
  }

  field.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(suggest, WAIT_MS);
  });
  field.addEventListener("blur", close);
  field.addEventListener("keydown", (event) => {
    if (list.hidden || !options.length) return;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const step = event.key === "ArrowDown" ? 1 : -1;
      highlight((active + step + options.length) % options.length);
    } else if (event.key === "Enter" || event.key === "Tab") {
      event.preventDefault();
      choose(Math.max(active, 0));
    } else if (event.key === "Escape") {
      close();
    }
  });
}
