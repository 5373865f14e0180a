/* leadrouter: the installable app's service worker, and phone alerts (web push) per device.
 *
 * Every page registers /sw.js (static/sw.js): that makes "Add to home screen" an app. Where
 * the page has phone-alert controls ([data-push-toggle] buttons), one tap asks the browser for
 * permission, subscribes with the server's VAPID key (<meta name="webpush-key">) and sends the
 * subscription to the server; tapping again turns alerts off on this device. On every page
 * load a device with alerts on sends its subscription again (the browser may have renewed it,
 * or another agent may have logged in on it). iPhone and iPad receive pushes only in the app
 * added to the home screen (iOS 16.4 and later): the controls say so in Safari.
 */
(function () {
  "use strict";

  function meta(name) {
    var el = document.querySelector('meta[name="' + name + '"]');
    return el ? el.getAttribute("content") : "";
  }

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (e) {
      return "";
    }
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify(body)
    }).then(function (response) {
      if (!response.ok) {
        return response.json().catch(function () { return {}; }).then(function (data) {
          throw new Error(data.error || "The server said " + response.status);
        });
      }
      return response.json();
    });
  }

  function keyBytes(base64url) {
    var text = (base64url + "===".slice((base64url.length + 3) % 4)).replace(/-/g, "+")
      .replace(/_/g, "/");
    var raw = atob(text);
    var out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  }

  function sameKey(subscription, key) {
    var current = subscription.options && subscription.options.applicationServerKey;
    if (!current) return true; // not told: assume it is ours
    var a = new Uint8Array(current), b = keyBytes(key);
    if (a.length !== b.length) return false;
    for (var i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }

  var isIos = /iPad|iPhone|iPod/.test(navigator.userAgent) ||
    (navigator.platform === "MacIntel" && navigator.maxTouchPoints > 1);
  var standalone = window.matchMedia("(display-mode: standalone)").matches ||
    navigator.standalone === true;
  var supported = "serviceWorker" in navigator && "PushManager" in window &&
    "Notification" in window;

  var key = meta("webpush-key");
  var subscribeUrl = meta("webpush-subscribe");
  var unsubscribeUrl = meta("webpush-unsubscribe");
  var registration = null;

  function controls() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-push-toggle]"));
  }

  function show(state, message) {
    controls().forEach(function (button) {
      var box = button.closest("[data-push]") || button.parentNode;
      var status = box.querySelector("[data-push-status]");
      button.hidden = state === "unsupported" || state === "blocked";
      button.disabled = state === "busy";
      button.setAttribute("aria-pressed", state === "on" ? "true" : "false");
      button.textContent = state === "on" ? "Turn off phone alerts on this device"
                                          : "Turn on phone alerts";
      button.classList.toggle("primary", state !== "on");
      if (status) {
        status.textContent = message || {
          on: "Phone alerts are on for this device.",
          off: "New offers, reminders and assignments can reach this phone's lock screen.",
          blocked: "Notifications are blocked for this site: allow them in the browser's " +
                   "site settings, then reload.",
          unsupported: !window.isSecureContext
            ? "Phone alerts need the site on HTTPS."
            : isIos && !standalone
            ? "On iPhone: tap Share, then \u201cAdd to Home Screen\u201d, open leadrouter from " +
              "the home screen and turn phone alerts on there."
            : "This browser cannot receive phone alerts.",
          busy: "One moment\u2026"
        }[state] || "";
      }
      if (box.hasAttribute("data-push-banner")) {
        box.hidden = state !== "off" || localStorage.getItem("push-banner-dismissed") === "1";
      }
    });
  }

  function refresh() {
    if (!registration) return Promise.resolve();
    return registration.pushManager.getSubscription().then(function (subscription) {
      if (Notification.permission === "denied") return show("blocked");
      if (!subscription) return show("off");
      if (!sameKey(subscription, key)) { // the server's keys changed: subscribe afresh
        return subscription.unsubscribe().then(function () { show("off"); });
      }
      show("on");
      return post(subscribeUrl, subscription.toJSON()).catch(function () {});
    });
  }

  function turnOn() {
    show("busy");
    return Notification.requestPermission().then(function (permission) {
      if (permission !== "granted") return show(permission === "denied" ? "blocked" : "off");
      return registration.pushManager.subscribe({
        userVisibleOnly: true, applicationServerKey: keyBytes(key)
      }).then(function (subscription) {
        return post(subscribeUrl, subscription.toJSON()).then(function () { show("on"); },
          function (error) {
            return subscription.unsubscribe().then(function () { show("off", error.message); });
          });
      });
    }).catch(function (error) { show("off", "Could not turn phone alerts on: " + error.message); });
  }

  function turnOff() {
    show("busy");
    return registration.pushManager.getSubscription().then(function (subscription) {
      if (!subscription) return show("off");
      var endpoint = subscription.endpoint;
      return subscription.unsubscribe().then(function () {
        return post(unsubscribeUrl, { endpoint: endpoint });
      }).then(function () { show("off"); });
    }).catch(function (error) { show("on", "Could not turn phone alerts off: " + error.message); });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-push-toggle]");
    if (button) {
      event.preventDefault();
      if (button.getAttribute("aria-pressed") === "true") turnOff(); else turnOn();
      return;
    }
    var dismiss = event.target.closest("[data-push-dismiss]");
    if (dismiss) {
      localStorage.setItem("push-banner-dismissed", "1");
      var banner = dismiss.closest("[data-push-banner]");
      if (banner) banner.hidden = true;
    }
  });

  if (!("serviceWorker" in navigator)) {
    show("unsupported");
    return;
  }
  navigator.serviceWorker.register("/sw.js", { scope: "/" }).then(function (reg) {
    registration = reg;
    if (!key || !subscribeUrl) return;
    if (!supported) return show("unsupported");
    return navigator.serviceWorker.ready.then(function (ready) {
      registration = ready;
      return refresh();
    });
  }).catch(function () {
    if (key) show("unsupported");
  });
})();
