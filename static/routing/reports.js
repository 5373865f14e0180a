/* Draws each report table's chart (Chart.js, vendored) from the json_script beside it.
   Durations come in minutes; charts follow their box's size (phones too). */
(function () {
  "use strict";
  var COLORS = ["#417690", "#e69500", "#2e7d32", "#ba2121", "#7b4fa0", "#5a8f29"];

  function draw(canvas) {
    var source = document.getElementById(canvas.dataset.chart);
    if (!source || typeof Chart === "undefined") { return; }
    var spec = JSON.parse(source.textContent);
    var datasets = spec.datasets.map(function (set, i) {
      return {label: set.label, data: set.data, backgroundColor: COLORS[i % COLORS.length],
              borderColor: COLORS[i % COLORS.length], borderWidth: spec.type === "line" ? 2 : 0,
              spanGaps: true, tension: 0.2};
    });
    var whole = spec.datasets.every(function (set) {
      return set.data.every(function (v) { return v === null || Number.isInteger(v); });
    });
    var values = {beginAtZero: true, stacked: spec.stacked, ticks: whole ? {precision: 0} : {}};
    var names = {stacked: spec.stacked, ticks: {autoSkip: !spec.horizontal}};
    new Chart(canvas, {
      type: spec.type,
      data: {labels: spec.labels, datasets: datasets},
      options: {
        indexAxis: spec.horizontal ? "y" : "x",
        responsive: true, maintainAspectRatio: false, animation: false,
        plugins: {legend: {position: "bottom"}},
        scales: spec.horizontal ? {x: values, y: names} : {x: names, y: values}
      }
    });
    canvas.dataset.drawn = "yes";
  }

  // "From" and "to" matter only for a custom period: hide them otherwise.
  function customDays(form) {
    var period = form.querySelector("select[name=period]");
    if (!period) { return; }
    var show = function () {
      form.querySelectorAll(".report-field-start, .report-field-end").forEach(function (f) {
        f.hidden = period.value !== "custom";
      });
    };
    period.addEventListener("change", show);
    show();
  }

  function start() {
    document.querySelectorAll("canvas[data-chart]").forEach(draw);
    document.querySelectorAll("form.report-form").forEach(customDays);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
