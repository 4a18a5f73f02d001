// A square crop chosen in the page: the picture is drawn on a canvas under a square
// window; drag it (or use the arrow keys) to move, the slider to zoom. The kept square
// is drawn at the profile picture's size and sent instead of the file chosen.
import { CropBox, arrowDirection, followDrag } from "./crop.js";

const OUTPUT = 400;
const KEY_STEP = 0.05; // of the kept square's side, per arrow key

export function installCropper(input, holder) {
  const canvas = holder.querySelector("canvas");
  const zoom = holder.querySelector("input[type=range]");
  const context = canvas.getContext("2d");
  let image = null;
  let url = null;
  // The kept square: a square crop of the picture (crop.js), centred when it is chosen.
  let area = new CropBox(1);

  function box() {
    return area.box(image.naturalWidth, image.naturalHeight);
  }

  function draw() {
    if (!image) return;
    const { left, top, cw } = box();
    context.clearRect(0, 0, canvas.width, canvas.height);
    context.drawImage(image, left, top, cw, cw, 0, 0, canvas.width, canvas.height);
  }

  // Move the square by pixels of the picture.
  function move(dx, dy) {
    area.move(dx / image.naturalWidth, dy / image.naturalHeight);
    draw();
  }

  function reset() {
    if (url) URL.revokeObjectURL(url);
    image = null;
    url = null;
    input.value = "";
    holder.hidden = true;
  }

  input.addEventListener("change", () => {
    const file = input.files[0];
    if (url) URL.revokeObjectURL(url);
    if (!file) {
      reset();
      return;
    }
    url = URL.createObjectURL(file);
    const loading = new Image();
    loading.addEventListener("load", () => {
      image = loading;
      area = new CropBox(1);
      zoom.value = "1";
      holder.hidden = false;
      draw();
    });
    loading.addEventListener("error", () => {
      // Not a picture the browser can draw: the server checks and answers for it.
      image = null;
      holder.hidden = true;
    });
    loading.src = url;
  });

  zoom.addEventListener("input", () => {
    if (!image) return;
    area.zoom = Number(zoom.value);
    draw();
  });

  canvas.addEventListener("pointerdown", (event) => {
    if (!image) return;
    followDrag(canvas, event, (dx, dy) => {
      const scale = box().cw / canvas.getBoundingClientRect().width;
      move(-dx * scale, -dy * scale);
    });
  });
  canvas.addEventListener("keydown", (event) => {
    if (!image) return;
    const direction = arrowDirection(event);
    if (!direction) return;
    const step = box().cw * KEY_STEP;
    move(direction[0] * step, direction[1] * step);
  });

  return {
    reset,
    // The kept square as a PNG file, or null when no new picture was chosen.
    croppedFile() {
      if (!image) {
        const chosen = input.files[0];
        return Promise.resolve(chosen || null);
      }
      const out = document.createElement("canvas");
      out.width = OUTPUT;
      out.height = OUTPUT;
      const { left, top, cw } = box();
      out.getContext("2d").drawImage(image, left, top, cw, cw, 0, 0, OUTPUT, OUTPUT);
      return new Promise((resolve) => {
        out.toBlob((blob) => resolve(blob ? new File([blob], "avatar.png", { type: "image/png" }) : null), "image/png");
      });
    },
  };
}
