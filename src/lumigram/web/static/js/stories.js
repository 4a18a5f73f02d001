// Stories in the web app: the full-screen viewer and the story composer (the home page's
// tray is rendered with the page). Each part looks for its own elements.
import { api, token, upload } from "./api.js";

const HOLD_MS = 250;
const reducedMotion = window.matchMedia("(prefers-reduced-motion: reduce)");

// --- the viewer ---------------------------------------------------------------------------

class Viewer {
  constructor(root) {
    this.root = root;
    this.items = [...root.querySelectorAll(".story-item")];
    this.bars = [...root.querySelectorAll(".story-bar span")];
    this.own = root.dataset.own === "true";
    this.pauseButton = root.querySelector("#story-pause");
    this.index = -1;
    this.elapsed = 0;
    this.paused = false;
    this.held = false;
    this.frame = null;
    this.last = 0;
  }

  get current() {
    return this.items[this.index];
  }

  durationMs() {
    const video = this.current.querySelector("video");
    if (video && Number.isFinite(video.duration) && video.duration > 0) return video.duration * 1000;
    return Number(this.current.dataset.duration || "10") * 1000;
  }

  show(index) {
    if (index < 0) index = 0;
    if (index >= this.items.length) {
      window.location.assign("/");
      return;
    }
    const leaving = this.current;
    if (leaving) {
      leaving.hidden = true;
      const video = leaving.querySelector("video");
      if (video) video.pause();
    }
    this.index = index;
    this.elapsed = 0;
    this.current.hidden = false;
    this.bars.forEach((bar, n) => {
      bar.style.width = n < index ? "100%" : "0%";
    });
    this.root.querySelector("#story-position").textContent = `Story ${index + 1} of ${this.items.length}`;
    const video = this.current.querySelector("video");
    if (video) {
      video.currentTime = 0;
      if (!this.paused) video.play().catch(() => {});
    }
    this.markSeen();
    this.showViewCount();
    this.updateReply();
  }

  markSeen() {
    const item = this.current;
    if (this.own || item.dataset.seen === "true") return;
    item.dataset.seen = "true";
    api("POST", `/api/v1/lumigram/stories/${item.dataset.id}/seen`).catch(() => {
      item.dataset.seen = "false";
    });
  }

  showViewCount() {
    if (!this.own) return;
    this.root.querySelector("#story-views").textContent = this.current.dataset.views;
    const panel = this.root.querySelector("#story-viewers");
    if (!panel.hidden) this.listViewers();
  }

  updateReply() {
    const form = this.root.querySelector("#story-reply");
    if (!form) return;
    const open = this.current.dataset.replies === "true";
    form.querySelector("input").disabled = !open;
    form.querySelector("input").placeholder = open ? form.querySelector("label").textContent : "Replies are off";
    form.querySelector("button").disabled = !open;
  }

  setPaused(paused) {
    this.paused = paused;
    this.pauseButton.setAttribute("aria-pressed", paused ? "true" : "false");
    this.pauseButton.textContent = paused ? "Play" : "Pause";
    this.root.classList.toggle("paused", paused || this.held);
    const video = this.current.querySelector("video");
    if (video) {
      if (paused || this.held) video.pause();
      else video.play().catch(() => {});
    }
  }

  tick(now) {
    const step = this.last ? now - this.last : 0;
    this.last = now;
    if (!this.paused && !this.held) {
      this.elapsed += step;
      const share = Math.min(this.elapsed / this.durationMs(), 1);
      // With reduced motion the bar moves in whole tenths rather than gliding.
      const shown = reducedMotion.matches ? Math.floor(share * 10) / 10 : share;
      this.bars[this.index].style.width = `${(shown * 100).toFixed(1)}%`;
      if (share >= 1) this.show(this.index + 1);
    }
    this.frame = requestAnimationFrame((time) => this.tick(time));
  }

  async listViewers() {
    const list = this.root.querySelector("#story-viewer-list");
    const viewers = await api("GET", `/api/v1/lumigram/stories/${this.current.dataset.id}/viewers?limit=40`);
    list.replaceChildren(
      ...viewers.map((viewer) => {
        const item = document.createElement("li");
        const link = document.createElement("a");
        link.href = `/@${encodeURIComponent(viewer.account.username)}`;
        const face = document.createElement("img");
        face.className = "avatar small";
        face.src = viewer.account.avatar;
        face.alt = "";
        const name = document.createElement("span");
        name.textContent = viewer.account.username;
        link.append(face, name);
        item.append(link);
        return item;
      }),
    );
    this.root.querySelector("#story-no-viewers").hidden = viewers.length > 0;
  }

  // A new viewer of one of the owner's stories, told over the user stream (live.js).
  heard(frame) {
    if (!this.own || frame.event !== "lumigram.story_view") return;
    const view = JSON.parse(frame.payload);
    const item = this.items.find((candidate) => candidate.dataset.id === view.story_id);
    if (!item) return;
    item.dataset.views = String(view.views_count);
    if (item === this.current) this.showViewCount();
  }

  // A tap on either side moves; holding anywhere on the story pauses it until let go.
  installPointer() {
    let timer = null;
    let wasHold = false;
    const press = () => {
      wasHold = false;
      timer = setTimeout(() => {
        wasHold = true;
        this.held = true;
        this.setPaused(this.paused);
      }, HOLD_MS);
    };
    const release = () => {
      clearTimeout(timer);
      if (this.held) {
        this.held = false;
        this.setPaused(this.paused);
      }
    };
    for (const side of [this.root.querySelector("#story-prev"), this.root.querySelector("#story-next")]) {
      side.addEventListener("pointerdown", press);
      side.addEventListener("pointerup", release);
      side.addEventListener("pointerleave", release);
      side.addEventListener("pointercancel", release);
      side.addEventListener("contextmenu", (event) => event.preventDefault());
      side.addEventListener("click", (event) => {
        if (wasHold) {
          wasHold = false;
          event.preventDefault();
          return;
        }
        this.show(this.index + (side.id === "story-next" ? 1 : -1));
      });
    }
  }

  installKeys() {
    document.addEventListener("keydown", (event) => {
      if (event.target instanceof HTMLInputElement) return;
      if (event.key === "ArrowRight") this.show(this.index + 1);
      else if (event.key === "ArrowLeft") this.show(this.index - 1);
      else if (event.key === " " || event.key === "k") this.setPaused(!this.paused);
      else if (event.key === "Escape") window.location.assign("/");
      else return;
      event.preventDefault();
    });
  }

  installFoot() {
    const form = this.root.querySelector("#story-reply");
    if (form) {
      const input = form.querySelector("input");
      const status = form.querySelector("#story-reply-status");
      // Typing a reply holds the story still.
      input.addEventListener("focus", () => {
        this.held = true;
      });
      input.addEventListener("blur", () => {
        this.held = false;
      });
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const text = input.value.trim();
        if (!text) return;
        try {
          await api("POST", `/api/v1/lumigram/stories/${this.current.dataset.id}/reply`, { text });
          input.value = "";
          status.textContent = "Sent";
        } catch (error) {
          status.textContent = error.message;
        }
      });
    }
    const seenBy = this.root.querySelector("#story-seen-by");
    if (seenBy) {
      seenBy.addEventListener("click", () => {
        const panel = this.root.querySelector("#story-viewers");
        panel.hidden = !panel.hidden;
        seenBy.setAttribute("aria-expanded", panel.hidden ? "false" : "true");
        this.held = !panel.hidden;
        if (!panel.hidden) this.listViewers().catch(() => {});
      });
    }
    this.pauseButton.addEventListener("click", () => this.setPaused(!this.paused));
  }

  start() {
    this.installPointer();
    this.installKeys();
    this.installFoot();
    document.addEventListener("lumigram:stream", (event) => this.heard(event.detail));
    this.show(Number(this.root.dataset.start || "0"));
    this.root.focus();
    this.frame = requestAnimationFrame((time) => this.tick(time));
  }
}

// --- the composer -------------------------------------------------------------------------

async function ready(media) {
  let current = media;
  for (let tries = 0; current.url === null && tries < 120; tries += 1) {
    await new Promise((done) => setTimeout(done, 1000));
    current = await api("GET", `/api/v1/media/${media.id}`);
  }
  return current;
}

function installComposer(form) {
  const error = form.querySelector("#story-error");
  const progress = form.querySelector("#story-progress");
  const button = form.querySelector("#story-share");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    button.disabled = true;
    try {
      const file = form.querySelector("#story-file").files[0];
      if (!file) throw new Error("Choose a photo or a video.");
      const body = new FormData();
      body.append("file", file);
      const alt = form.querySelector("#story-alt").value.trim();
      if (alt) body.append("description", alt);
      progress.hidden = false;
      const media = await ready(await upload("/api/v2/media", body, (percent) => { progress.value = percent; }));
      await api("POST", "/api/v1/lumigram/stories", {
        media_id: media.id,
        caption: form.querySelector("#story-caption").value,
        audience: form.querySelector("#story-audience").value,
      });
      window.location.assign(`/stories/${encodeURIComponent(form.dataset.meUsername)}`);
    } catch (problem) {
      error.textContent = problem.message;
      error.hidden = false;
      button.disabled = false;
    }
  });
}

function install() {
  if (!token) return;
  const viewer = document.getElementById("story-viewer");
  if (viewer) new Viewer(viewer).start();
  const composer = document.getElementById("story-composer");
  if (composer) installComposer(composer);
}

install();
