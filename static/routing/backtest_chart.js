/* The back-test's chart: leads per agent with today's rules and with the changes, drawn by the
   vendored Chart.js from the table's own figures (json_script "backtest-chart-data"). */
(function () {
  "use strict";
  var source = document.getElementById("backtest-chart-data");
  var canvas = document.getElementById("backtest-chart");
  if (!source || !canvas || !window.Chart) { return; }
  var data = JSON.parse(source.textContent);
  // Horizontal bars: names stay readable on a phone; each agent gets a row of its own.
  canvas.parentElement.style.height = Math.max(180, 70 + data.labels.length * 46) + "px";
  new window.Chart(canvas, {
    type: "bar",
    data: {
      labels: data.labels,
      datasets: [
        {label: "Today's rules", data: data.actual, backgroundColor: "#9bb3cf"},
        {label: "With the changes", data: data.proposed, backgroundColor: "#2f6f4f"}
      ]
    },
    options: {
      indexAxis: "y",
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      scales: {x: {beginAtZero: true, ticks: {precision: 0}}},
      plugins: {legend: {position: "top"}}
    }
  });
  canvas.dataset.drawn = "true";
})();
