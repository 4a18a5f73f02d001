// Cropping in the browser, for posts and for the profile picture. ``CropBox`` is the one
// crop both keep: the largest part of the photo of an aspect, divided by a zoom, around a
// centre that stays inside the photo; dragging it and the arrow keys move it alike.
//
// A post's photo (``Cropper``) is shown through a frame of the chosen aspect (1:1, 4:5 or
// 1.91:1); the upload then sends the chosen part as ``crop=left,top,width,height``
// (fractions of the photo) and the server cuts it. The profile picture (avatar_crop.js)
// is a square drawn on a canvas and sent already cut.
export const ASPECTS = { "1:1": 1, "4:5": 4 / 5, "1.91:1": 1.91 };
const RATIO_CLASS = { "1:1": "ratio-1-1", "4:5": "ratio-4-5", "1.91:1": "ratio-191-1" };
const ARROWS = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };

export class CropBox {
  constructor(ratio) {
    this.ratio = ratio;
    this.zoom = 1;
    this.cx = 0.5; // the crop's centre, as fractions of the photo
    this.cy = 0.5;
  }

  // The crop in the pixels of a w × h photo; the centre moves back inside it if need be.
  box(w, h) {
    let cw = w / h > this.ratio ? h * this.ratio : w;
    let ch = cw / this.ratio;
    cw /= this.zoom;
    ch /= this.zoom;
    const left = Math.min(Math.max(this.cx * w - cw / 2, 0), w - cw);
    const top = Math.min(Math.max(this.cy * h - ch / 2, 0), h - ch);
    this.cx = (left + cw / 2) / w;
    this.cy = (top + ch / 2) / h;
    return { w, h, left, top, cw, ch };
  }

  // Move the centre by fractions of the photo.
  move(dx, dy) {
    this.cx += dx;
    this.cy += dy;
  }
}

// Calls ``moved(dx, dy)`` with the pointer's movement in screen pixels until it is let go.
export function followDrag(element, event, moved) {
  let last = { x: event.clientX, y: event.clientY };
  element.setPointerCapture(event.pointerId);
  const onMove = (next) => {
    moved(next.clientX - last.x, next.clientY - last.y);
    last = { x: next.clientX, y: next.clientY };
  };
  const onUp = () => {
    element.removeEventListener("pointermove", onMove);
    element.removeEventListener("pointerup", onUp);
    element.removeEventListener("pointercancel", onUp);
  };
  element.addEventListener("pointermove", onMove);
  element.addEventListener("pointerup", onUp);
  element.addEventListener("pointercancel", onUp);
}

// The direction an arrow key moves the crop ([x, y], each -1, 0 or 1), taking the key;
// null for any other key.
export function arrowDirection(event) {
  const direction = ARROWS[event.key];
  if (!direction) return null;
  event.preventDefault();
  return direction;
}

const KEY_STEP = 0.05; // of the photo, per arrow key

export class Cropper {
  constructor(frame, image) {
    this.frame = frame;
    this.image = image;
    this.aspect = "4:5";
    this.area = new CropBox(ASPECTS[this.aspect]);
    image.addEventListener("load", () => this.draw());
    frame.addEventListener("pointerdown", (event) => this.grab(event));
    frame.addEventListener("keydown", (event) => this.key(event));
    new ResizeObserver(() => this.draw()).observe(frame);
  }

  box() {
    return this.area.box(this.image.naturalWidth, this.image.naturalHeight);
  }

  // What the upload sends: left,top,width,height as fractions of the photo.
  crop() {
    if (!this.image.naturalWidth) return null;
    const { w, h, left, top, cw, ch } = this.box();
    return [left / w, top / h, cw / w, ch / h].map((v) => v.toFixed(5)).join(",");
  }

  setAspect(aspect) {
    this.frame.classList.remove(RATIO_CLASS[this.aspect]);
    this.aspect = aspect;
    this.area.ratio = ASPECTS[aspect];
    this.frame.classList.add(RATIO_CLASS[aspect]);
    this.draw();
  }

  setZoom(percent) {
    this.area.zoom = percent / 100;
    this.draw();
  }

  draw() {
    if (!this.image.naturalWidth || !this.frame.clientWidth) return;
    const { w, h, left, top, cw } = this.box();
    const scale = this.frame.clientWidth / cw;
    this.image.style.width = `${w * scale}px`;
    this.image.style.height = `${h * scale}px`;
    this.image.style.transform = `translate(${-left * scale}px, ${-top * scale}px)`;
  }

  move(dx, dy) {
    this.area.move(dx, dy);
    this.draw();
  }

  grab(event) {
    if (!this.image.naturalWidth) return;
    const { w, h, cw } = this.box();
    const scale = this.frame.clientWidth / cw;
    followDrag(this.frame, event, (dx, dy) => this.move(-dx / scale / w, -dy / scale / h));
  }

  key(event) {
    const direction = arrowDirection(event);
    if (direction) this.move(direction[0] * KEY_STEP, direction[1] * KEY_STEP);
  }
}
