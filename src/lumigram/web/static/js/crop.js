// The crop of one chosen photo, done in the browser only as a choice: the page shows the
// photo through a frame of the chosen aspect (1:1, 4:5 or 1.91:1), which can be dragged,
// zoomed and moved with the arrow keys; the upload then sends the chosen part as
// ``crop=left,top,width,height`` (fractions of the photo) and the server cuts it.
export const ASPECTS = { "1:1": 1, "4:5": 4 / 5, "1.91:1": 1.91 };
const RATIO_CLASS = { "1:1": "ratio-1-1", "4:5": "ratio-4-5", "1.91:1": "ratio-191-1" };
const KEY_STEP = 0.05;

export class Cropper {
  constructor(frame, image) {
    this.frame = frame;
    this.image = image;
    this.aspect = "4:5";
    this.zoom = 1;
    this.cx = 0.5; // the crop's centre, as fractions of the photo
    this.cy = 0.5;
    image.addEventListener("load", () => this.draw());
    frame.addEventListener("pointerdown", (event) => this.grab(event));
    frame.addEventListener("keydown", (event) => this.key(event));
    new ResizeObserver(() => this.draw()).observe(frame);
  }

  // The crop box in photo pixels: the largest of the aspect, divided by the zoom.
  box() {
    const w = this.image.naturalWidth;
    const h = this.image.naturalHeight;
    const ratio = ASPECTS[this.aspect];
    let cw = w / h > ratio ? h * ratio : w;
    let ch = cw / ratio;
    cw /= this.zoom;
    ch /= this.zoom;
    const left = Math.min(Math.max(this.cx * w - cw / 2, 0), w - cw);
    const top = Math.min(Math.max(this.cy * h - ch / 2, 0), h - ch);
    this.cx = (left + cw / 2) / w;
    this.cy = (top + ch / 2) / h;
    return { w, h, left, top, cw, ch };
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
    this.frame.classList.add(RATIO_CLASS[aspect]);
    this.draw();
  }

  setZoom(percent) {
    this.zoom = percent / 100;
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
    this.cx += dx;
    this.cy += dy;
    this.draw();
  }

  grab(event) {
    if (!this.image.naturalWidth) return;
    const { w, h, cw } = this.box();
    const scale = this.frame.clientWidth / cw;
    let last = { x: event.clientX, y: event.clientY };
    this.frame.setPointerCapture(event.pointerId);
    const onMove = (moved) => {
      this.move(-(moved.clientX - last.x) / scale / w, -(moved.clientY - last.y) / scale / h);
      last = { x: moved.clientX, y: moved.clientY };
    };
    const onUp = () => {
      this.frame.removeEventListener("pointermove", onMove);
      this.frame.removeEventListener("pointerup", onUp);
      this.frame.removeEventListener("pointercancel", onUp);
    };
    this.frame.addEventListener("pointermove", onMove);
    this.frame.addEventListener("pointerup", onUp);
    this.frame.addEventListener("pointercancel", onUp);
  }

  key(event) {
    const steps = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    const step = steps[event.key];
    if (!step) return;
    event.preventDefault();
    this.move(step[0] * KEY_STEP, step[1] * KEY_STEP);
  }
}
