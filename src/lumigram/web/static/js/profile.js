// The follow button: Follow → Following (or Requested for a private account), and back.
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
