// The reels page: a vertical, full-screen feed. The reel in view plays (muted, looping;
// not on its own when the system asks for reduced motion: a tap plays it), the others
// stop; a tap pauses or plays, the Sound button unmutes. What was watched is reported
// to the API (play, complete, loop), which ranks the feed and counts plays.
// Each <video> lists the HLS playlist first, typed, and the MP4 after it: browsers that
// play HLS themselves take the playlist (Safari, Chromium from 141), the others the MP4.
import { api, token } from "./api.js";

const reducedMotion = window.matchMedia("(prefers-reduced-motion: reduce)");

function report(reel, type) {
  api("POST", "/api/v1/lumigram/reels/views", { events: [{ status_id: reel.dataset.id, type }] }).catch(() => {});
}

function watch(reel) {
  const video = reel.querySelector("video");
  let started = false;
  let completed = false;
  let last = 0;
  video.addEventListener("playing", () => {
    if (!started) report(reel, "play");
    started = true;
  });
  video.addEventListener("timeupdate", () => {
    // A loop shows as the time going back to the start.
    if (video.currentTime + 0.5 < last) {
      if (!completed) report(reel, "complete");
      completed = true;
      report(reel, "loop");
    }
    last = video.currentTime;
  });
  video.addEventListener("click", () => {
    if (video.paused) video.play().catch(() => {});
    else video.pause();
  });
  const sound = reel.querySelector(".reel-sound");
  sound.addEventListener("click", () => {
    video.muted = !video.muted;
    sound.setAttribute("aria-pressed", video.muted ? "false" : "true");
  });
}

function install() {
  const feed = document.getElementById("reels");
  if (!feed || !token) return;
  const reels = [...feed.querySelectorAll(".reel")];
  reels.forEach(watch);
  const seen = new IntersectionObserver(
    (entries) => {
      for (const entry of entries) {
        const video = entry.target.querySelector("video");
        if (entry.isIntersecting) {
          video.preload = "auto";
          if (!reducedMotion.matches) video.play().catch(() => {});
        } else {
          video.pause();
        }
      }
    },
    { threshold: 0.6 },
  );
  reels.forEach((reel) => seen.observe(reel));
}

install();
