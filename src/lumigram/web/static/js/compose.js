// The composer, the /new page's own module (the feed's pages never load it). Chosen
// files are listed with a crop frame for each photo (crop.js); the Upload button sends
// them one by one with a progress bar each, the crop going with the photo; then each
// photo offers the server's filters and adjustments (looks.js), each
// video shows its processing state until ready, and the caption suggests hashtags and
// people (autocomplete.js). Share saves every item's alt text and look, then posts.
import { api, upload } from "./api.js";
import { attach } from "./autocomplete.js";
import { Cropper } from "./crop.js";
import { Looks } from "./looks.js";
import { waitUntilProcessed } from "./processing.js";

const MAX_ITEMS = 10;

let items = [];

function showError(message) {
  const box = document.getElementById("compose-error");
  box.textContent = message;
  box.hidden = !message;
}

function setState(item, text) {
  item.element.querySelector(".item-state").textContent = text;
}

function listPicked(input, list, template) {
  for (const old of list.querySelectorAll("img.crop-image")) URL.revokeObjectURL(old.src);
  list.replaceChildren();
  showError("");
  items = [...input.files].slice(0, MAX_ITEMS).map((file, index) => {
    const element = template.content.firstElementChild.cloneNode(true);
    const item = { file, element, media: null, looks: null, ready: null };
    element.querySelector(".item-name").textContent = `${index + 1}. ${file.name}`;
    const alt = element.querySelector("input.alt");
    alt.id = `alt-${index}`;
    element.querySelector("label.alt-label").htmlFor = alt.id;
    element.querySelector("progress").setAttribute("aria-label", `Upload progress of ${file.name}`);
    const frame = element.querySelector(".crop-frame");
    if (file.type.startsWith("video/")) {
      frame.hidden = true;
      element.querySelector("fieldset.aspects").hidden = true;
      element.querySelector(".zoom-label").hidden = true;
      element.querySelector(".video-note").hidden = false;
    } else {
      const image = frame.querySelector("img.crop-image");
      item.cropper = new Cropper(frame, image);
      image.src = URL.createObjectURL(file);
      for (const radio of element.querySelectorAll("fieldset.aspects input")) {
        radio.name = `aspect-${index}`;
        radio.addEventListener("change", () => item.cropper.setAspect(radio.value));
      }
      const zoom = element.querySelector("input.zoom");
      zoom.setAttribute("aria-label", `Zoom of ${file.name}`);
      zoom.addEventListener("input", () => item.cropper.setZoom(Number(zoom.value)));
    }
    list.append(element);
    return item;
  });
  if (input.files.length > MAX_ITEMS) showError(`Only the first ${MAX_ITEMS} files will be posted.`);
  document.getElementById("upload").hidden = items.length === 0;
}

async function whenProcessed(item) {
  item.media = await waitUntilProcessed(item.media, item.file.name);
  showPoster(item);
  return item.media;
}

// A ready video's poster frame stands where a photo's preview would.
function showPoster(item) {
  const poster = item.element.querySelector("img.look-preview");
  if (item.media.preview_url) {
    poster.src = item.media.preview_url;
    poster.hidden = false;
  }
  setState(item, "Video ready");
}

function lockCrop(item) {
  const element = item.element;
  for (const control of element.querySelectorAll("fieldset.aspects input, input.zoom")) control.disabled = true;
  element.querySelector("fieldset.aspects").hidden = true;
  element.querySelector(".zoom-label").hidden = true;
  element.querySelector(".crop-frame").hidden = true;
}

async function sendOne(item, index) {
  const body = new FormData();
  body.append("file", item.file);
  const crop = item.cropper && item.cropper.crop();
  if (crop) body.append("crop", crop);
  const bar = item.element.querySelector("progress");
  setState(item, "Uploading…");
  item.media = await upload("/api/v2/media", body, (percent) => {
    bar.value = percent;
  });
  bar.value = 100;
  if (item.cropper) {
    lockCrop(item);
    setState(item, "Uploaded: choose a filter");
    item.looks = new Looks(item.element, item.media, index);
    await item.looks.loadTiles();
  } else if (item.media.url === null) {
    setState(item, "Processing video…");
    item.ready = whenProcessed(item);
    item.ready.catch((error) => setState(item, error.message));
  } else {
    showPoster(item);
  }
}

async function uploadAll() {
  const button = document.getElementById("upload");
  button.disabled = true;
  document.getElementById("files").disabled = true;
  showError("");
  try {
    for (const [index, item] of items.entries()) {
      if (!item.media) await sendOne(item, index);
    }
    button.hidden = true;
    document.getElementById("finish").hidden = false;
    document.getElementById("caption").focus();
  } catch (error) {
    showError(error.message);
    button.disabled = false;
  }
}

async function share(form) {
  const button = document.getElementById("share");
  button.disabled = true;
  showError("");
  try {
    for (const item of items) {
      if (item.ready) await item.ready;
      const alt = item.element.querySelector("input.alt").value.trim();
      const fields = { ...(item.looks ? item.looks.fields() : {}) };
      if (alt) fields.description = alt;
      if (Object.keys(fields).length) await api("PUT", `/api/v1/media/${item.media.id}`, fields);
    }
    const post = await api("POST", "/api/v1/statuses", {
      status: form.querySelector("#caption").value,
      media_ids: items.map((item) => item.media.id),
    });
    window.location.assign(new URL(post.url).pathname);
  } catch (error) {
    showError(error.message);
    button.disabled = false;
  }
}

function install() {
  const form = document.getElementById("composer");
  if (!form) return;
  const input = form.querySelector("#files");
  const list = document.getElementById("picked");
  const template = document.getElementById("picked-item");
  input.addEventListener("change", () => listPicked(input, list, template));
  // Files a person chose before this module ran (a slow connection) are listed too.
  if (input.files.length) listPicked(input, list, template);
  document.getElementById("upload").addEventListener("click", uploadAll);
  attach(document.getElementById("caption"), document.getElementById("caption-suggestions"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    share(form);
  });
}

install();
