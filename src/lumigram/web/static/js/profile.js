// Follow buttons: a profile's (Follow → Following, or Requested for a private account,
// and back) and a hashtag's (its posts then come into the home feed).
import { api } from "./api.js";

const LABELS = { following: "Following", requested: "Requested", none: "Follow" };

export function install() {
  const button = document.querySelector("button.follow");
  const profile = document.querySelector("[data-account-id]");
  if (!button || !profile) return;
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const action = button.dataset.state === "none" ? "follow" : "unfollow";
      const rel = await api("POST", `/api/v1/accounts/${profile.dataset.accountId}/${action}`);
      const state = rel.following ? "following" : rel.requested ? "requested" : "none";
      const followers = document.querySelector(".followers-count");
      const change = (state === "following") - (button.dataset.state === "following");
      if (followers && change) followers.textContent = String(Number(followers.textContent) + change);
      button.dataset.state = state;
      button.textContent = LABELS[state];
      button.classList.toggle("primary", state === "none");
    } finally {
      button.disabled = false;
    }
  });
}

export function installTagFollow() {
  const button = document.querySelector("button.tag-follow");
  if (!button) return;
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const action = button.getAttribute("aria-pressed") === "true" ? "unfollow" : "follow";
      const tag = await api("POST", `/api/v1/tags/${encodeURIComponent(button.dataset.name)}/${action}`);
      button.setAttribute("aria-pressed", String(tag.following));
      button.textContent = tag.following ? "Following" : "Follow";
      button.classList.toggle("primary", !tag.following);
    } finally {
      button.disabled = false;
    }
  });
}
