// The settings pages: the profile form (with a square crop of the new profile picture),
// the private-account switch, unblocking and unmuting, and push notifications. Each
// change goes through the JSON API with the web app's token.
import { api } from "./api.js";
import { installCropper } from "./avatar_crop.js";
import * as push from "./push.js";

function say(message, isError = false) {
  const error = document.getElementById("settings-error");
  const status = document.getElementById("settings-status");
  if (isError) {
    error.textContent = message;
    error.hidden = false;
    status.textContent = "";
  } else {
    error.hidden = true;
    status.textContent = message;
  }
}

function installProfile() {
  const form = document.getElementById("profile-form");
  if (!form) return;
  const cropper = installCropper(form.querySelector("#avatar"), document.getElementById("cropper"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("#save-profile");
    button.disabled = true;
    try {
      const body = new FormData();
      body.append("display_name", form.querySelector("#display_name").value);
      body.append("note", form.querySelector("#note").value);
      const avatar = await cropper.croppedFile();
      if (avatar) body.append("avatar", avatar);
      const header = form.querySelector("#header").files[0];
      if (header) body.append("header", header);
      const account = await api("PATCH", "/api/v1/accounts/update_credentials", body);
      document.getElementById("avatar-current").src = account.avatar;
      form.querySelector(".header-preview").src = account.header;
      cropper.reset();
      form.querySelector("#header").value = "";
      say("Your profile was saved.");
    } catch (error) {
      say(error.message, true);
    } finally {
      button.disabled = false;
    }
  });
}

function installPrivacy() {
  const box = document.getElementById("locked");
  if (!box) return;
  box.addEventListener("change", async () => {
    box.disabled = true;
    const body = new FormData();
    body.append("locked", box.checked ? "true" : "false");
    try {
      const account = await api("PATCH", "/api/v1/accounts/update_credentials", body);
      box.checked = account.locked;
      say(account.locked ? "Your account is private." : "Your account is public.");
    } catch (error) {
      box.checked = !box.checked;
      say(error.message, true);
    } finally {
      box.disabled = false;
    }
  });
}

function installUndo() {
  document.addEventListener("click", async (event) => {
    const button = event.target.closest("button.undo[data-action]");
    if (!button) return;
    const person = button.closest("[data-account-id]");
    button.disabled = true;
    try {
      await api("POST", `/api/v1/accounts/${person.dataset.accountId}/${button.dataset.action}`);
      const done = document.createElement("span");
      done.className = "small done";
      done.textContent = button.dataset.done;
      button.replaceWith(done);
    } catch (error) {
      button.disabled = false;
      say(error.message, true);
    }
  });
}

installProfile();
installPrivacy();
installUndo();
push.install(say);
