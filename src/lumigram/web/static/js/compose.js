// The composer: each chosen file gets a preview and an alt text field; on Share every
// file is uploaded with a progress bar, then the post is made and opened.
import { api, upload } from "./api.js";

const MAX_ITEMS = 10;

function showError(message) {
  const box = document.getElementById("compose-error");
  box.textContent = message;
  box.hidden = false;
}

function listPicked(input, list, template) {
  for (const old of list.querySelectorAll("img.preview")) URL.revokeObjectURL(old.src);
  list.replaceChildren();
  [...input.files].slice(0, MAX_ITEMS).forEach((file, index) => {
    const item = template.content.firstElementChild.cloneNode(true);
    const id = `alt-${index}`;
    item.querySelector("label").htmlFor = id;
    item.querySelector("input.alt").id = id;
    const preview = item.querySelector("img.preview");
    if (file.type.startsWith("image/")) preview.src = URL.createObjectURL(file);
    preview.alt = `Preview of ${file.name}`;
    list.append(item);
  });
  if (input.files.length > MAX_ITEMS) showError(`Only the first ${MAX_ITEMS} files will be posted.`);
}

export async function waitUntilProcessed(media) {
  let current = media;
  for (let tries = 0; current.url === null && tries < 120; tries += 1) {
    await new Promise((done) => setTimeout(done, 1000));
    current = await api("GET", `/api/v1/media/${media.id}`);
  }
  return current;
}

async function share(form, input, list) {
  const button = document.getElementById("share");
  button.disabled = true;
  document.getElementById("compose-error").hidden = true;
  try {
    const files = [...input.files].slice(0, MAX_ITEMS);
    if (!files.length) throw new Error("Choose at least one photo or video.");
    const items = list.querySelectorAll(".picked-item");
    const ids = [];
    for (const [index, file] of files.entries()) {
      const body = new FormData();
      body.append("file", file);
      const alt = items[index].querySelector("input.alt").value.trim();
      if (alt) body.append("description", alt);
      const bar = items[index].querySelector("progress");
      const media = await upload("/api/v2/media", body, (percent) => { bar.value = percent; });
      bar.value = 100;
      ids.push((await waitUntilProcessed(media)).id);
    }
    const post = await api("POST", "/api/v1/statuses", {
      status: form.querySelector("#caption").value,
      media_ids: ids,
    });
    window.location.assign(new URL(post.url).pathname);
  } catch (error) {
    showError(error.message);
    button.disabled = false;
  }
}

export function install() {
  const form = document.getElementById("composer");
  if (!form) return;
  const input = form.querySelector("#files");
  const list = document.getElementById("picked");
  const template = document.getElementById("picked-item");
  input.addEventListener("change", () => listPicked(input, list, template));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    share(form, input, list);
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
