// A post's page, for its author: edit the caption in place, or delete the post.
import { api } from "./api.js";

// The edited caption, as the server rendered it (its HTML is the same sanitised content
// the page itself shows), put in place without reloading the page.
function showCaption(status) {
  const post = document.getElementById(`post-${status.id}`);
  if (!post) return;
  let caption = post.querySelector(".caption");
  if (!caption) {
    caption = document.createElement("div");
    caption.className = "caption";
    post.querySelector(".likes").after(caption);
  }
  const author = document.createElement("a");
  author.className = "author";
  author.href = `/@${status.account.username}`;
  author.textContent = status.account.username;
  caption.replaceChildren(author, " ");
  caption.insertAdjacentHTML("beforeend", status.content);
}

export function installEdit() {
  const open = document.getElementById("edit-caption");
  const form = document.getElementById("caption-form");
  if (!open || !form) return;
  const field = form.querySelector("textarea");
  const box = form.querySelector(".alert");
  open.addEventListener("click", async () => {
    const source = await api("GET", `/api/v1/statuses/${open.dataset.id}/source`);
    field.value = source.text;
    box.hidden = true;
    form.hidden = false;
    open.hidden = true;
    field.focus();
  });
  form.querySelector("button.cancel").addEventListener("click", () => {
    form.hidden = true;
    open.hidden = false;
    open.focus();
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const save = form.querySelector("button[type=submit]");
    save.disabled = true;
    try {
      showCaption(await api("PUT", `/api/v1/statuses/${open.dataset.id}`, { status: field.value }));
      form.hidden = true;
      open.hidden = false;
      open.focus();
    } catch (error) {
      box.textContent = error.message;
      box.hidden = false;
    } finally {
      save.disabled = false;
    }
  });
}

export function installDelete() {
  const button = document.getElementById("delete-post");
  if (!button) return;
  button.addEventListener("click", async () => {
    if (!window.confirm("Delete this post? This cannot be undone.")) return;
    button.disabled = true;
    await api("DELETE", `/api/v1/statuses/${button.dataset.id}`);
    window.location.assign(button.dataset.after);
  });
}
