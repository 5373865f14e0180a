/* leadrouter: live claim countdowns, and what follows htmx's swaps.
 *
 * htmx (static/js/htmx.min.js, declared in the templates) refreshes the offers list and marks
 * notifications read. The offers list is asked for every second with the ETag of the list on
 * screen (If-None-Match): the server answers an empty 304 while nothing changed, and that is
 * not swapped in; a new list also updates the page title ("(2) Offers") and the bell. Every page works without either file (plain form posts, a <noscript>
 * refresh on the offers page).
 *
 * A countdown runs only inside its segments ([[startMs, endMs], ...] from the server, the
 * actionable window up to the deadline), so it pauses at night exactly when the claim clock
 * does, and says until when.
 */
(function () {
  "use strict";

  var skew = 0; // server time minus this device's time, in ms

  function serverNow() {
    return Date.now() + skew;
  }

  function readSkew(root) {
    var holder = root.querySelector("[data-now]");
    if (holder) {
      var serverMs = parseInt(holder.getAttribute("data-now"), 10);
      if (!isNaN(serverMs)) skew = serverMs - Date.now();
    }
  }

  function pad(n) {
    return n < 10 ? "0" + n : String(n);
  }

  function formatLeft(ms) {
    var total = Math.max(0, Math.floor(ms / 1000));
    var h = Math.floor(total / 3600);
    var m = Math.floor((total % 3600) / 60);
    var s = total % 60;
    return h ? h + ":" + pad(m) + ":" + pad(s) : m + ":" + pad(s);
  }

  function partsIn(ms, tz) {
    var opts = { weekday: "short", year: "numeric", month: "2-digit", day: "2-digit",
                 hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
    if (tz) opts.timeZone = tz;
    var out = {};
    try {
      new Intl.DateTimeFormat("en-US", opts).formatToParts(new Date(ms)).forEach(function (p) {
        out[p.type] = p.value;
      });
    } catch (e) {
      var d = new Date(ms);
      out = { weekday: "", year: String(d.getFullYear()), month: pad(d.getMonth() + 1),
              day: pad(d.getDate()), hour: pad(d.getHours()), minute: pad(d.getMinutes()) };
    }
    return out;
  }

  /* "8:00" today, "Mon 8:00" another day, in the brokerage's time zone. */
  function clockTime(ms, now, tz) {
    var at = partsIn(ms, tz);
    var today = partsIn(now, tz);
    var text = (parseInt(at.hour, 10) % 24) + ":" + at.minute;
    var sameDay = at.year === today.year && at.month === today.month && at.day === today.day;
    return sameDay || !at.weekday ? text : at.weekday + " " + text;
  }

  function tick(el) {
    var segments;
    try {
      segments = JSON.parse(el.getAttribute("data-segments") || "[]");
    } catch (e) {
      return;
    }
    var now = serverNow();
    var left = 0;
    var running = false;
    var nextStart = null;
    segments.forEach(function (seg) {
      var start = seg[0], end = seg[1];
      if (end <= now) return;
      left += end - Math.max(start, now);
      if (start <= now) running = true;
      else if (nextStart === null || start < nextStart) nextStart = start;
    });
    var text;
    if (left <= 0) {
      text = "Time is up";
    } else {
      text = formatLeft(left) + " left";
      if (!running && nextStart !== null) {
        text += " · paused until " + clockTime(nextStart, now, el.getAttribute("data-tz"));
      }
    }
    if (el.textContent !== text) el.textContent = text;
    el.classList.toggle("over", left <= 0);
    el.classList.toggle("paused", left > 0 && !running);
  }

  function tickAll() {
    var timers = document.querySelectorAll(".countdown[data-segments]");
    for (var i = 0; i < timers.length; i++) tick(timers[i]);
  }

  function setBell(count) {
    var badge = document.getElementById("bell-count");
    if (!badge || isNaN(count)) return;
    badge.textContent = String(count);
    badge.classList.toggle("hidden", count === 0);
    var bell = badge.parentNode;
    if (bell && bell.setAttribute) {
      bell.setAttribute("aria-label", "Notifications, " + count + " unread");
    }
  }

  /* The page title counts the open offers: "(2) Offers · leadrouter". */
  function setTitle(count) {
    if (isNaN(count)) return;
    var base = document.title.replace(/^\(\d+\)\s*/, "");
    document.title = count > 0 ? "(" + count + ") " + base : base;
  }

  /* Polling the offers list: send the ETag of the list on screen. */
  function sendEtag(event) {
    var elt = event.detail.elt;
    if (!elt || elt.id !== "offer-list" || event.detail.verb !== "get") return;
    var list = elt.querySelector("[data-etag]");
    var etag = list && list.getAttribute("data-etag");
    if (etag) event.detail.headers["If-None-Match"] = etag;
  }

  /* htmx swapped something in (the offers list it refreshes, a notification marked read):
   * re-read the server's clock, move the bell to the list's unread count, tick at once. */
  function afterSwap(event) {
    var target = event.detail.target;
    readSkew(target);
    var list = target.querySelector && target.querySelector("[data-unread]");
    if (list) setBell(parseInt(list.getAttribute("data-unread"), 10));
    var offers = target.querySelector && target.querySelector("[data-offers]");
    if (offers) setTitle(parseInt(offers.getAttribute("data-offers"), 10));
    tickAll();
  }

  /* Logged out meanwhile: the refresh was redirected (to the login page); load it whole. */
  function reloadWhenRedirected(event) {
    if (event.detail.xhr && event.detail.xhr.status === 304) {
      event.detail.shouldSwap = false; // the list on screen is still current
      return;
    }
    var paths = event.detail.pathInfo || {};
    var asked = (paths.finalRequestPath || "").split("?")[0];
    var got = (paths.responsePath || "").split("?")[0];
    if (event.detail.requestConfig && event.detail.requestConfig.verb === "get" &&
        got && asked && got !== asked) {
      event.detail.shouldSwap = false;
      window.location.reload();
    }
  }

  /* One tap is enough: stop double submissions of claim/decline/log forms. */
  function guardSubmits() {
    document.addEventListener("submit", function (event) {
      var form = event.target;
      if (form.hasAttribute("hx-post")) return; // htmx disables them (hx-disabled-elt)
      if (form.method && form.method.toLowerCase() === "post") {
        var buttons = form.querySelectorAll("button[type=submit]");
        setTimeout(function () {
          for (var i = 0; i < buttons.length; i++) buttons[i].disabled = true;
        }, 0);
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    readSkew(document);
    tickAll();
    if (document.querySelector(".countdown[data-segments]") ||
        document.getElementById("offer-list")) {
      setInterval(tickAll, 1000);
    }
    guardSubmits();
  });
  document.addEventListener("htmx:configRequest", sendEtag);
  document.addEventListener("htmx:beforeSwap", reloadWhenRedirected);
  document.addEventListener("htmx:afterSwap", afterSwap);

  /* Coming back with the Back button: the page may be restored with its buttons disabled. */
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) return;
    var buttons = document.querySelectorAll("button[disabled]");
    for (var i = 0; i < buttons.length; i++) buttons[i].disabled = false;
    tickAll();
  });
})();
