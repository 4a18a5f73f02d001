// A square crop chosen in the page: the picture is drawn on a canvas under a square
// window; drag it (or use the arrow keys) to move, the slider to zoom. The kept square
// is drawn at the profile picture's size and sent instead of the file chosen.
const OUTPUT = 400;
const KEY_STEP = 0.05;

export function installCropper(input, holder) {
  const canvas = holder.querySelector("canvas");
  const zoom = holder.querySelector("input[type=range]");
  const context = canvas.getContext("2d");
  let image = null;
  let url = null;
  // The kept square, in the picture's pixels: its side and its top-left corner.
  let crop = { side: 0, x: 0, y: 0 };

  function clamp() {
    crop.x = Math.min(Math.max(0, crop.x), image.naturalWidth - crop.side);
    crop.y = Math.min(Math.max(0, crop.y), image.naturalHeight - crop.side);
  }

  function draw() {
    if (!image) return;
    context.clearRect(0, 0, canvas.width, canvas.height);
    context.drawImage(image, crop.x, crop.y, crop.side, crop.side, 0, 0, canvas.width, canvas.height);
  }

  function setZoom(value) {
    const centre = { x: crop.x + crop.side / 2, y: crop.y + crop.side / 2 };
    crop.side = Math.min(image.naturalWidth, image.naturalHeight) / value;
    crop.x = centre.x - crop.side / 2;
    crop.y = centre.y - crop.side / 2;
    clamp();
    draw();
  }

  function move(dx, dy) {
    crop.x += dx;
    crop.y += dy;
    clamp();
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
      const side = Math.min(image.naturalWidth, image.naturalHeight);
      crop = { side, x: (image.naturalWidth - side) / 2, y: (image.naturalHeight - side) / 2 };
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

  zoom.addEventListener("input", () => image && setZoom(Number(zoom.value)));

  let dragging = null;
  canvas.addEventListener("pointerdown", (event) => {
    if (!image) return;
    dragging = { x: event.clientX, y: event.clientY };
    canvas.setPointerCapture(event.pointerId);
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!dragging) return;
    const scale = crop.side / canvas.getBoundingClientRect().width;
    move((dragging.x - event.clientX) * scale, (dragging.y - event.clientY) * scale);
    dragging = { x: event.clientX, y: event.clientY };
  });
  const stop = () => { dragging = null; };
  canvas.addEventListener("pointerup", stop);
  canvas.addEventListener("pointercancel", stop);
  canvas.addEventListener("keydown", (event) => {
    if (!image) return;
    const step = crop.side * KEY_STEP;
    const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    if (!(event.key in moves)) return;
    event.preventDefault();
    move(...moves[event.key]);
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
      out.getContext("2d").drawImage(image, crop.x, crop.y, crop.side, crop.side, 0, 0, OUTPUT, OUTPUT);
      return new Promise((resolve) => {
        out.toBlob((blob) => resolve(blob ? new File([blob], "avatar.png", { type: "image/png" }) : null), "image/png");
      });
    },
  };
}
