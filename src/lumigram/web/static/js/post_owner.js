// A post's page, for its author: edit the caption in place, or delete the post.
import { api } from "./api.js";

export function installEdit() {
  const open = document.getElementById("edit-caption");
  const form = document.getElementById("caption-form");
  if (!open || !form) return;
  const field = form.querySelector("textarea");
  open.addEventListener("click", async () => {
    const source = await api("GET", `/api/v1/statuses/${open.dataset.id}/source`);
    field.value = source.text;
    form.hidden = false;
    open.hidden = true;
    field.focus();
  });
  form.querySelector("button.cancel").addEventListener("click", () => {
    form.hidden = true;
    open.hidden = false;
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const save = form.querySelector("button[type=submit]");
    save.disabled = true;
    try {
      await api("PUT", `/api/v1/statuses/${open.dataset.id}`, { status: field.value });
      window.location.reload();
    } catch (error) {
      const box = form.querySelector(".alert");
      box.textContent = error.message;
      box.hidden = false;
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
