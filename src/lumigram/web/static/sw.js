// The web app's service worker, served from /sw.js so that its scope is the whole site.
// It shows the pushes the server sends (Mastodon's push payload: notification_id,
// notification_type, title, body, icon) and, when one is clicked, opens the page the
// notification is about: /notifications/<id> answers with a redirect to the post, the
// profile or the follow requests. It caches nothing: every page comes from the server.
"use strict";

const FALLBACK_TITLE = "New notification";

function pushData(event) {
  if (!event.data) return {};
  try {
    return event.data.json();
  } catch (error) {
    return { body: event.data.text() };
  }
}

// Where a click on the notification goes.
function targetOf(data) {
  const id = String(data.notification_id || "");
  return /^[0-9]{1,19}$/.test(id) ? `/notifications/${id}` : "/notifications";
}

// The notification shown for a push's data.
function describe(data) {
  return {
    title: data.title || FALLBACK_TITLE,
    options: {
      body: data.body || "",
      icon: data.icon || "/static/avatar.png",
      // One notification per notification id: a push delivered twice shows once.
      tag: data.notification_id ? `notification-${data.notification_id}` : undefined,
      lang: data.preferred_locale || undefined,
      data: { url: targetOf(data), type: data.notification_type || null },
    },
  };
}

// Show ``url`` in a window of the app already open (the first one), or in a new one.
async function openTarget(url) {
  const target = new URL(url, self.location.origin).href;
  const windows = await self.clients.matchAll({ type: "window" });
  for (const client of windows) {
    if (new URL(client.url).origin !== self.location.origin) continue;
    try {
      const shown = await client.navigate(target);
      // Focusing needs the click's permission; without it the page still changed.
      await (shown || client).focus().catch(() => undefined);
      return shown || client;
    } catch (error) {
      // That window cannot be navigated from here (not yet controlled): open a new one.
    }
  }
  return self.clients.openWindow(target);
}

self.addEventListener("install", () => self.skipWaiting());

self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("push", (event) => {
  const { title, options } = describe(pushData(event));
  event.waitUntil(self.registration.showNotification(title, options));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = (event.notification.data && event.notification.data.url) || "/notifications";
  event.waitUntil(openTarget(url));
});
