// What a post card does: like (button or double tap on the photo), save, comment inline,
// album position dots and BlurHash placeholder colours. Delegated from the document, so
// cards added by infinite scroll work too.
import { api } from "./api.js";

const DOUBLE_TAP_MS = 350;

function card(element) {
  return element.closest("article.post");
}

function showLiked(post, status) {
  const button = post.querySelector("button.like");
  if (button) {
    button.setAttribute("aria-pressed", String(status.favourited));
  }
  const count = post.querySelector(".like-count");
  if (count) {
    count.textContent = String(status.favourites_count);
    count.nextSibling.textContent = status.favourites_count === 1 ? " like" : " likes";
  }
}

async function setLiked(post, liked) {
  if (post.dataset.busy) return;
  post.dataset.busy = "1";
  try {
    const action = liked ? "favourite" : "unfavourite";
    showLiked(post, await api("POST", `/api/v1/statuses/${post.dataset.id}/${action}`));
  } finally {
    delete post.dataset.busy;
  }
}

function burst(carousel) {
  const heart = carousel.querySelector(".heart-burst");
  if (!heart) return;
  heart.classList.remove("show");
  void heart.offsetWidth; // restart the animation
  heart.classList.add("show");
}

async function toggleSaved(post, button) {
  const saved = button.getAttribute("aria-pressed") === "true";
  const status = await api("POST", `/api/v1/statuses/${post.dataset.id}/${saved ? "unbookmark" : "bookmark"}`);
  button.setAttribute("aria-pressed", String(status.bookmarked));
}

async function comment(form) {
  const post = card(form);
  const input = form.querySelector("input[name=status]");
  const text = input.value.trim();
  if (!text) return;
  input.disabled = true;
  try {
    const created = await api("POST", "/api/v1/statuses", { status: text, in_reply_to_id: post.dataset.id });
    const item = document.createElement("li");
    const author = document.createElement("a");
    author.className = "author";
    author.href = `/@${created.account.username}`;
    author.textContent = created.account.username;
    item.append(author, " ", text);
    post.querySelector("ol.comments").append(item);
    input.value = "";
  } finally {
    input.disabled = false;
  }
}

export function paintPlaceholders(root) {
  for (const image of root.querySelectorAll("img[data-placeholder]")) {
    image.style.backgroundColor = image.dataset.placeholder;
  }
}

function trackAlbum(slides) {
  const dots = slides.parentElement.querySelectorAll(".dots span");
  if (!dots.length) return;
  const update = () => {
    const index = Math.round(slides.scrollLeft / slides.clientWidth);
    dots.forEach((dot, i) => dot.classList.toggle("current", i === index));
  };
  slides.addEventListener("scroll", update, { passive: true });
  update();
}

export function enhance(root) {
  paintPlaceholders(root);
  root.querySelectorAll(".slides").forEach(trackAlbum);
}

export function install() {
  let lastTap = { target: null, at: 0 };
  document.addEventListener("pointerup", (event) => {
    if (event.target.closest("button")) return;
    const carousel = event.target.closest(".carousel");
    const post = carousel && card(carousel);
    if (!post || !post.querySelector("button.like")) return;
    const now = event.timeStamp;
    if (lastTap.target === carousel && now - lastTap.at < DOUBLE_TAP_MS) {
      lastTap = { target: null, at: 0 };
      burst(carousel);
      if (post.querySelector("button.like").getAttribute("aria-pressed") !== "true") setLiked(post, true);
    } else {
      lastTap = { target: carousel, at: now };
    }
  });
  document.addEventListener("click", (event) => {
    const like = event.target.closest("button.like");
    if (like) {
      setLiked(card(like), like.getAttribute("aria-pressed") !== "true");
      return;
    }
    const nav = event.target.closest("button.slide-nav");
    if (nav) {
      const slides = nav.parentElement.querySelector(".slides");
      const step = nav.classList.contains("next") ? 1 : -1;
      slides.scrollBy({ left: step * slides.clientWidth, behavior: "smooth" });
      return;
    }
    const save = event.target.closest("button.save");
    if (save) toggleSaved(card(save), save);
  });
  document.addEventListener("submit", (event) => {
    const form = event.target.closest("form.comment-form");
    if (!form) return;
    event.preventDefault();
    comment(form);
  });
  enhance(document);
}
