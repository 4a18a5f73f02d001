// Push notifications in this browser: the service worker (/sw.js) is registered for the
// whole site, the browser subscribes with the server's VAPID key, and the subscription
// is handed to the server with the alerts chosen here (Mastodon's push subscription API,
// one subscription per token, so per browser).
import { api, ApiError } from "./api.js";

const PATH = "/api/v1/push/subscription";

function keyBytes(text) {
  const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const raw = atob(base64 + "=".repeat((4 - (base64.length % 4)) % 4));
  return Uint8Array.from(raw, (char) => char.charCodeAt(0));
}

function sameKey(subscription, key) {
  const used = subscription.options && subscription.options.applicationServerKey;
  if (!used) return true;
  const bytes = new Uint8Array(used);
  return bytes.length === key.length && bytes.every((value, index) => value === key[index]);
}

export function install(say) {
  const root = document.getElementById("push");
  if (!root) return;
  const state = document.getElementById("push-state");
  const alerts = document.getElementById("push-alerts");
  const on = document.getElementById("push-on");
  const save = document.getElementById("push-save");
  const off = document.getElementById("push-off");
  const key = keyBytes(root.dataset.serverKey);

  function chosen() {
    const picked = {};
    for (const box of alerts.querySelectorAll("input[type=checkbox]")) picked[box.name] = box.checked;
    return picked;
  }

  function show(subscribed, alertsOn) {
    root.dataset.subscribed = String(subscribed);
    alerts.disabled = false;
    on.hidden = subscribed;
    on.disabled = false;
    save.hidden = !subscribed;
    off.hidden = !subscribed;
    if (alertsOn) {
      for (const box of alerts.querySelectorAll("input[type=checkbox]")) box.checked = Boolean(alertsOn[box.name]);
    }
    state.textContent = subscribed
      ? "Notifications are on in this browser."
      : "Notifications are off in this browser.";
  }

  async function send(subscription) {
    const json = subscription.toJSON();
    const body = {
      subscription: { endpoint: json.endpoint, keys: { p256dh: json.keys.p256dh, auth: json.keys.auth } },
      data: { alerts: chosen(), policy: "all" },
    };
    return api("POST", PATH, body);
  }

  if (!("serviceWorker" in navigator) || !("PushManager" in window) || !("Notification" in window)) {
    state.textContent = "This browser cannot show push notifications.";
    return;
  }

  let registration = null;
  const ready = navigator.serviceWorker
    .register("/sw.js", { scope: "/" })
    .then(() => navigator.serviceWorker.ready)
    .then(async (found) => {
      registration = found;
      const existing = await registration.pushManager.getSubscription();
      if (!existing) {
        show(false);
        return;
      }
      try {
        show(true, (await api("GET", PATH)).alerts);
      } catch (error) {
        // The browser still holds a subscription the server no longer has for this
        // session (signed in again since): hand it over again.
        if (!(error instanceof ApiError) || error.status !== 404) throw error;
        show(true, (await send(existing)).alerts);
      }
    })
    .catch((error) => {
      state.textContent = `Notifications are unavailable: ${error.message}`;
    });

  on.addEventListener("click", async () => {
    on.disabled = true;
    try {
      await ready;
      if ((await Notification.requestPermission()) !== "granted") {
        say("This browser was not allowed to show notifications. Allow them in its site settings, then try again.", true);
        on.disabled = false;
        return;
      }
      let subscription = await registration.pushManager.getSubscription();
      if (subscription && !sameKey(subscription, key)) {
        await subscription.unsubscribe();
        subscription = null;
      }
      if (!subscription) {
        subscription = await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
      }
      show(true, (await send(subscription)).alerts);
      say("Notifications are on.");
    } catch (error) {
      on.disabled = false;
      say(`Notifications could not be turned on: ${error.message}`, true);
    }
  });

  save.addEventListener("click", async () => {
    try {
      show(true, (await api("PUT", PATH, { data: { alerts: chosen() } })).alerts);
      say("Saved.");
    } catch (error) {
      say(error.message, true);
    }
  });

  off.addEventListener("click", async () => {
    try {
      const subscription = await registration.pushManager.getSubscription();
      if (subscription) await subscription.unsubscribe();
      await api("DELETE", PATH);
      show(false);
      say("Notifications are off.");
    } catch (error) {
      say(error.message, true);
    }
  });
}
