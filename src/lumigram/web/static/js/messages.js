// Direct messages: the Messages badge, the inbox and requests (their rows swapped in when
// the stream says something changed), a thread (send text or a photo, unsend, typing,
// "Seen", new messages as they come), accepting or declining a request, and starting a
// thread from a profile's Message button or the new message page. Changes arrive on the
// "direct" stream (live.js hands its frames over as "lumigram:stream" events); the new
// part is then fetched as HTML from the server, so one template draws every message.
import { api, upload } from "./api.js";
import { waitUntilProcessed } from "./processing.js";

const TYPING_EVERY_MS = 3000;
const TYPING_SHOWN_MS = 5000;
const SEARCH_DEBOUNCE_MS = 200;

// The stream's (re)connection ("open") and its message events; the others are the feed's.
function onStream(listener) {
  document.addEventListener("lumigram:stream", (event) => {
    const frame = event.detail;
    const name = String(frame.event);
    if (name !== "open" && !name.startsWith("lumigram.")) return;
    let payload = {};
    try {
      payload = typeof frame.payload === "string" ? JSON.parse(frame.payload) : frame.payload || {};
    } catch {
      return; // not a message event's JSON: nothing for these pages
    }
    listener(name, payload);
  });
}

async function html(url) {
  const response = await fetch(url, { credentials: "same-origin" }).catch(() => null);
  if (!response || !response.ok) return null;
  const holder = document.createElement("template");
  holder.innerHTML = await response.text();
  return holder.content;
}

// -- the badge on the Messages link ---------------------------------------------------------

let badgeTimer = null;

function refreshBadge() {
  const badge = document.getElementById("messages-badge");
  if (!badge) return;
  clearTimeout(badgeTimer);
  badgeTimer = setTimeout(async () => {
    const unread = await api("GET", "/api/v1/lumigram/unread").catch(() => null);
    if (!unread) return;
    const count = unread.threads + unread.requests;
    badge.dataset.count = String(count);
    badge.textContent = count >= 100 ? "99+" : String(count);
    badge.hidden = count === 0;
    document.getElementById("messages-unread-text").textContent = `${count} unread`;
  }, 150);
}

function installBadge() {
  onStream((name) => {
    if (name.startsWith("lumigram.") && name !== "lumigram.typing") refreshBadge();
  });
}

// -- the inbox and the requests ---------------------------------------------------------

function installInbox() {
  const inbox = document.querySelector("[data-inbox]");
  if (!inbox) return;
  let timer = null;
  const reload = async () => {
    const rows = await html(`/web/messages?folder=${inbox.dataset.inbox}`);
    if (rows) inbox.replaceChildren(rows);
  };
  onStream((name) => {
    if (name === "open" || (name.startsWith("lumigram.") && name !== "lumigram.typing")) {
      clearTimeout(timer);
      timer = setTimeout(reload, 100);
    }
  });
}

function installRequests() {
  document.addEventListener("click", async (event) => {
    const button = event.target.closest(".accept-request, .decline-request");
    if (!button) return;
    const box = button.closest(".request-actions");
    const id = box.dataset.threadId;
    button.disabled = true;
    if (button.classList.contains("accept-request")) {
      await api("POST", `/api/v1/lumigram/threads/${id}/accept`);
      window.location.assign(`/messages/${id}`);
    } else {
      await api("POST", `/api/v1/lumigram/threads/${id}/decline`);
      if (document.querySelector(".thread[data-thread-id]")) window.location.assign("/messages/requests");
      else box.closest("li").remove();
      refreshBadge();
    }
  });
}

// -- a thread -----------------------------------------------------------------------------

function markUnsent(item) {
  const bubble = item.querySelector(".bubble");
  bubble.classList.remove("media-only");
  const note = document.createElement("em");
  note.className = "small";
  note.textContent = "Message unsent";
  bubble.replaceChildren(note);
  const button = item.querySelector("button.unsend");
  if (button) button.remove();
}

function installThread() {
  const thread = document.querySelector(".thread[data-thread-id]");
  if (!thread) return;
  const id = thread.dataset.threadId;
  const me = document.body.dataset.me;
  const names = JSON.parse(thread.dataset.names || "{}");
  const list = thread.querySelector(".message-list");
  const typing = document.getElementById("typing");
  const scrollDown = () => window.scrollTo({ top: document.body.scrollHeight });
  let queue = Promise.resolve();
  let typingTimer = null;

  const fetchNews = async () => {
    if (thread.dataset.paged === "true") return;
    const shown = list.querySelectorAll("li.message");
    const since = shown.length ? shown[shown.length - 1].dataset.id : null;
    const news = await html(`/web/messages/${id}${since ? `?since_id=${since}` : ""}`);
    if (!news) return;
    let fromOthers = false;
    for (const item of news.querySelectorAll("li.message")) {
      if (document.getElementById(item.id)) continue;
      fromOthers ||= !item.classList.contains("mine");
      list.append(item);
    }
    const seen = news.querySelector("template.seen-state");
    document.getElementById("seen-state").textContent = seen ? seen.content.textContent.trim() : "";
    if (fromOthers) {
      typing.textContent = "";
      scrollDown();
      if (thread.dataset.folder === "inbox" && document.visibilityState === "visible") {
        await api("POST", `/api/v1/lumigram/threads/${id}/read`, {});
        refreshBadge();
      }
    }
  };
  // One fetch at a time, in order, so a message is never appended twice.
  const catchUp = () => {
    queue = queue.then(fetchNews).catch(() => null);
    return queue;
  };

  onStream((name, payload) => {
    if (name === "open") {
      catchUp();
      return;
    }
    if (payload.thread_id !== id) return;
    if (name === "lumigram.message" || (name === "lumigram.read" && payload.account_id !== me)) {
      catchUp();
    } else if (name === "lumigram.message.edit") {
      const text = document.querySelector(`#message-${payload.id} .text`);
      if (text) text.textContent = payload.text;
    } else if (name === "lumigram.unsend") {
      const item = document.getElementById(`message-${payload.message_id}`);
      if (item) markUnsent(item);
    } else if (name === "lumigram.typing" && payload.account_id !== me) {
      const who = names[payload.account_id] || "Someone";
      typing.textContent = `${who} is typing…`;
      clearTimeout(typingTimer);
      typingTimer = setTimeout(() => { typing.textContent = ""; }, TYPING_SHOWN_MS);
    }
  });

  list.addEventListener("click", async (event) => {
    const button = event.target.closest("button.unsend");
    if (!button) return;
    const item = button.closest("li.message");
    button.disabled = true;
    await api("DELETE", `/api/v1/lumigram/threads/${id}/messages/${item.dataset.id}`);
    markUnsent(item);
  });

  const form = document.getElementById("message-form");
  if (form) installComposer(form, id, catchUp);
  scrollDown();
}

function installComposer(form, id, catchUp) {
  const input = form.querySelector("#message-text");
  const photo = form.querySelector("#message-photo");
  const picked = form.querySelector("#picked-photo");
  const error = form.querySelector("#message-error");
  const send = form.querySelector("#send-message");
  let lastTyping = 0;

  input.addEventListener("input", () => {
    const now = Date.now();
    if (input.value && now - lastTyping > TYPING_EVERY_MS) {
      lastTyping = now;
      api("POST", `/api/v1/lumigram/threads/${id}/typing`).catch(() => null);
    }
  });
  photo.addEventListener("change", () => {
    picked.hidden = !photo.files.length;
    picked.textContent = photo.files.length ? `Photo: ${photo.files[0].name}` : "";
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = input.value.trim();
    const file = photo.files[0];
    if (!text && !file) return;
    send.disabled = true;
    error.hidden = true;
    try {
      const body = { text };
      if (file) {
        const data = new FormData();
        data.append("file", file);
        const media = await upload("/api/v2/media", data, () => {});
        body.media_ids = [(await waitUntilProcessed(media)).id];
      }
      await api("POST", `/api/v1/lumigram/threads/${id}/messages`, body);
      input.value = "";
      photo.value = "";
      picked.hidden = true;
      lastTyping = 0;
      await catchUp();
    } catch (failure) {
      error.textContent = failure.message;
      error.hidden = false;
    } finally {
      send.disabled = false;
      input.focus();
    }
  });
}

// -- starting a thread --------------------------------------------------------------------

async function startThread(accountIds, name, errorBox) {
  try {
    const body = { account_ids: accountIds };
    if (name) body.name = name;
    const thread = await api("POST", "/api/v1/lumigram/threads", body);
    window.location.assign(`/messages/${thread.id}`);
  } catch (failure) {
    errorBox.textContent = failure.message;
    errorBox.hidden = false;
  }
}

function installMessageButton() {
  const button = document.querySelector("button.message-start");
  if (!button) return;
  const errorBox = document.createElement("p");
  errorBox.className = "alert";
  errorBox.setAttribute("role", "alert");
  errorBox.hidden = true;
  button.after(errorBox);
  button.addEventListener("click", async () => {
    button.disabled = true;
    await startThread([button.dataset.to], null, errorBox);
    button.disabled = false;
  });
}

function installNewThread() {
  const form = document.getElementById("new-thread");
  if (!form) return;
  const max = Number(form.dataset.max);
  const input = document.getElementById("people-q");
  const found = document.getElementById("people-found");
  const chosenList = document.getElementById("people-chosen");
  const nameField = document.getElementById("group-name-field");
  const start = document.getElementById("start-thread");
  const errorBox = document.getElementById("new-thread-error");
  const chosen = new Map();
  let timer = null;
  let asked = 0;

  const update = () => {
    chosenList.replaceChildren(
      ...[...chosen].map(([accountId, username]) => {
        const chip = document.createElement("li");
        const remove = document.createElement("button");
        remove.type = "button";
        remove.className = "chip";
        remove.dataset.id = accountId;
        remove.setAttribute("aria-label", `Remove ${username}`);
        remove.textContent = `${username} ×`;
        chip.append(remove);
        return chip;
      }),
    );
    for (const option of found.querySelectorAll("button[data-id]")) {
      option.setAttribute("aria-pressed", String(chosen.has(option.dataset.id)));
    }
    nameField.hidden = chosen.size < 2;
    start.disabled = chosen.size === 0;
  };
  const lookUp = async () => {
    const q = input.value.trim();
    const ticket = ++asked;
    if (!q) {
      found.replaceChildren();
      return;
    }
    const query = new URLSearchParams({ q, limit: "8" });
    const accounts = await api("GET", `/api/v1/accounts/search?${query}`).catch(() => null);
    if (ticket !== asked || !accounts) return;
    found.replaceChildren(
      ...accounts
        .filter((account) => account.id !== document.body.dataset.me)
        .map((account) => {
          const item = document.createElement("li");
          const pick = document.createElement("button");
          pick.type = "button";
          pick.className = "person";
          pick.dataset.id = account.id;
          pick.dataset.username = account.username;
          const face = document.createElement("img");
          face.className = "avatar small";
          face.src = account.avatar;
          face.alt = "";
          const label = document.createElement("span");
          label.textContent = account.display_name ? `${account.username} (${account.display_name})` : account.username;
          pick.append(face, label);
          item.append(pick);
          return item;
        }),
    );
    update();
  };

  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(lookUp, SEARCH_DEBOUNCE_MS);
  });
  found.addEventListener("click", (event) => {
    const pick = event.target.closest("button[data-id]");
    if (!pick) return;
    if (chosen.has(pick.dataset.id)) chosen.delete(pick.dataset.id);
    else if (chosen.size < max) chosen.set(pick.dataset.id, pick.dataset.username);
    update();
  });
  chosenList.addEventListener("click", (event) => {
    const chip = event.target.closest("button[data-id]");
    if (!chip) return;
    chosen.delete(chip.dataset.id);
    update();
    input.focus();
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!chosen.size) return;
    start.disabled = true;
    errorBox.hidden = true;
    const name = chosen.size > 1 ? document.getElementById("group-name").value.trim() : null;
    await startThread([...chosen.keys()], name, errorBox);
    start.disabled = false;
  });
}

export function install() {
  installBadge();
  installInbox();
  installRequests();
  installThread();
  installMessageButton();
  installNewThread();
}
