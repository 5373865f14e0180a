// The rule form: the claim settings show only when the delivery is a claim.
"use strict";
(function () {
  function toggleClaimSettings() {
    var delivery = document.getElementById("id_delivery");
    if (!delivery) {
      return;
    }
    var isClaim = delivery.value === "claim" || delivery.value === "first_to_claim";
    document.querySelectorAll("fieldset.claim-settings").forEach(function (fieldset) {
      fieldset.hidden = !isClaim;
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var delivery = document.getElementById("id_delivery");
    if (!delivery) {
      return;
    }
    delivery.addEventListener("change", toggleClaimSettings);
    toggleClaimSettings();
  });
})();
