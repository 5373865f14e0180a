// The rule form: the claim settings show only when the delivery is a claim.
"use strict";
(function () {
  function toggleClaimSettings() {
    var delivery = document.getElementById("id_delivery");
    if (!delivery) {
      return;
    }
    // The claim deliveries come from the form (data-claim-deliveries), not written here again.
    var claimDeliveries = (delivery.dataset.claimDeliveries || "").split(" ");
    var isClaim = claimDeliveries.indexOf(delivery.value) !== -1;
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
