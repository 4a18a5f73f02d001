// Follow requests: approve or reject each through the API; the row then says which.
import { api } from "./api.js";

const DONE = { authorize: "Approved", reject: "Rejected" };

document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-answer]");
  if (!button) return;
  const person = button.closest("[data-account-id]");
  const answer = person.querySelector(".answer");
  for (const each of answer.querySelectorAll("button")) each.disabled = true;
  try {
    await api("POST", `/api/v1/follow_requests/${person.dataset.accountId}/${button.dataset.answer}`);
    const done = document.createElement("span");
    done.className = "small done";
    done.textContent = DONE[button.dataset.answer];
    answer.replaceWith(done);
  } catch (error) {
    for (const each of answer.querySelectorAll("button")) each.disabled = false;
    const box = document.getElementById("people-error");
    box.textContent = error.message;
    box.hidden = false;
  }
});
