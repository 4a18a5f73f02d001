// The filter and adjustments of one uploaded photo. Every preview is rendered by the
// server from the photo's master with the same code that will render the stored photo
// (GET /api/v1/media/:id/previews), so what is chosen here is what gets posted. Nothing
// is stored until Share sends the look with PUT /api/v1/media/:id.
import { api } from "./api.js";

const TILE_WIDTH = 120;
const PREVIEW_WIDTH = 640;
const SETTLE_MS = 200;

export class Looks {
  constructor(item, media, index) {
    this.item = item;
    this.media = media;
    this.filter = "normal";
    this.strip = item.querySelector(".filter-strip");
    this.preview = item.querySelector("img.look-preview");
    this.sliders = [...item.querySelectorAll("input[data-adjust]")];
    this.name = `filter-${index}`;
    this.timer = null;
    this.asked = 0;
    item.querySelector("fieldset.looks").hidden = false;
    item.querySelector("fieldset.adjust").hidden = false;
    this.preview.src = media.url;
    this.preview.hidden = false;
    for (const slider of this.sliders) {
      slider.addEventListener("input", () => {
        slider.nextElementSibling.textContent = slider.value;
        this.changed(true);
      });
    }
    this.strip.addEventListener("change", (event) => {
      this.filter = event.target.value;
      this.changed(false);
    });
  }

  adjustments() {
    const given = {};
    for (const slider of this.sliders) given[slider.dataset.adjust] = Number(slider.value);
    return given;
  }

  // The fields for PUT /api/v1/media/:id; empty when the photo stays as uploaded.
  fields() {
    const adjust = this.adjustments();
    const plain = this.filter === "normal" && Object.values(adjust).every((v) => v === 0);
    return plain ? {} : { filter: this.filter, ...adjust };
  }

  query(extra) {
    return new URLSearchParams({ ...this.adjustments(), ...extra }).toString();
  }

  async loadTiles() {
    const tiles = await api("GET", `/api/v1/media/${this.media.id}/previews?${this.query({ width: TILE_WIDTH })}`);
    const alreadyThere = this.strip.children.length > 0;
    if (!alreadyThere) {
      for (const tile of tiles) {
        const label = document.createElement("label");
        label.className = "filter-tile";
        label.title = tile.description;
        const input = document.createElement("input");
        input.type = "radio";
        input.name = this.name;
        input.value = tile.filter;
        input.checked = tile.filter === this.filter;
        const image = document.createElement("img");
        image.alt = "";
        const caption = document.createElement("span");
        caption.textContent = tile.filter;
        label.append(input, image, caption);
        this.strip.append(label);
      }
    }
    tiles.forEach((tile, index) => {
      this.strip.children[index].querySelector("img").src = tile.url;
    });
  }

  // A filter shows at once; slider moves settle first, then the tiles follow them too.
  changed(adjusting) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.render(adjusting), adjusting ? SETTLE_MS : 0);
  }

  async render(withTiles) {
    const asked = ++this.asked;
    const query = this.query({ filter: this.filter, width: PREVIEW_WIDTH });
    const [shown] = await api("GET", `/api/v1/media/${this.media.id}/previews?${query}`);
    if (asked === this.asked) this.preview.src = shown.url;
    if (withTiles && asked === this.asked) await this.loadTiles();
  }
}
