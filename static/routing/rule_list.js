// The rule list: whatever is dropped below the catch-all, the catch-all goes back to the bottom
// (the server keeps it last too). sortable2 marks the table body while a drag is going on.
"use strict";
(function () {
  function pinCatchAll(tbody) {
    if (tbody.classList.contains("ignore-list-changes")) {
      return; // still dragging
    }
    var lock = tbody.querySelector(".catch-all-handle");
    if (!lock) {
      return;
    }
    var row = lock.closest("tr");
    if (row === tbody.lastElementChild) {
      return;
    }
    tbody.appendChild(row);
    var highest = null;
    tbody.querySelectorAll(".handle").forEach(function (handle) {
      if (handle !== lock) {
        var order = parseInt(handle.getAttribute("order"), 10);
        if (!isNaN(order) && (highest === null || order > highest)) {
          highest = order;
        }
      }
    });
    if (highest !== null) {
      lock.setAttribute("order", String(highest + 1));
    }
    var notice = document.getElementById("catch-all-notice");
    if (notice) {
      notice.hidden = false;
    }
  }
  document.addEventListener("DOMContentLoaded", function () {
    var tbody = document.querySelector("#result_list tbody");
    if (!tbody || !tbody.querySelector(".catch-all-handle")) {
      return;
    }
    new MutationObserver(function () {
      pinCatchAll(tbody);
    }).observe(tbody, { attributes: true, attributeFilter: ["class"], childList: true });
  });
})();
