/* leadrouter's service worker: shows phone alerts (web push) and opens what they are about.
 *
 * Served from the site's root (/sw.js, by notifications.views.service_worker) so it controls
 * every page; that also makes the agent pages installable ("Add to home screen").
 *
 * A push's payload is JSON from notifications.channels.push_payload:
 *   {title, body, url, tag, event, lead_id, notification_id, urgent}
 * One tag per lead: a newer notice about the same lead replaces the older one on the lock
 * screen. Tapping a notice opens its url (the offer list or the lead), in an open leadrouter
 * window when there is one.
 */
"use strict";

self.addEventListener("install", function () {
  self.skipWaiting();
});

self.addEventListener("activate", function (event) {
  event.waitUntil(self.clients.claim());
});

self.addEventListener("push", function (event) {
  var data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch (e) {
    data = { body: event.data ? event.data.text() : "" };
  }
  var title = data.title || "leadrouter";
  var options = {
    body: data.body || "",
    tag: data.tag || undefined,
    renotify: Boolean(data.tag),
    requireInteraction: Boolean(data.urgent),
    icon: "/static/icons/icon-192.png",
    badge: "/static/icons/badge-96.png",
    timestamp: Date.now(),
    data: { url: data.url || "/", notificationId: data.notification_id || null }
  };
  event.waitUntil(self.registration.showNotification(title, options));
});

self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  var target = new URL((event.notification.data && event.notification.data.url) || "/",
                       self.location.origin);
  // Only our own pages: the payload's path on this site, whatever host SITE_URL names.
  if (target.origin !== self.location.origin) {
    target = new URL(target.pathname + target.search + target.hash, self.location.origin);
  }
  event.waitUntil(
    self.clients.matchAll({ type: "window" }).then(function (list) {
      // An open leadrouter window (one this worker controls) shows it; else a new one opens.
      var client = list.find(function (c) { return "navigate" in c; });
      if (!client) return self.clients.openWindow(target.href);
      return client.navigate(target.href).then(function (moved) {
        return (moved || client).focus();
      }).catch(function () {
        return self.clients.openWindow(target.href);
      });
    })
  );
});
