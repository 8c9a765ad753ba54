/* Draws the page's chart with plotly.js (served by the app) from the JSON beside it: cartons a day
   as bars, the cumulative cartons and the compared campaign's as lines, and the target. The same
   numbers are in the table next to the chart. */
(function () {
  "use strict";
  var source = document.getElementById("chart-data");
  var target = document.getElementById("chart");
  if (!source || !target || !window.Plotly) { return; }
  var data = JSON.parse(source.textContent);
  var labels = data.labels;
  var traces = [
    { type: "bar", name: labels.cartons, x: data.days, y: data.cartons, marker: { color: "#8fd1a9" } },
    { type: "scatter", mode: "lines+markers", name: labels.cumulative, x: data.days, y: data.cumulative,
      yaxis: "y2", line: { color: "#1f7a4d", width: 3 } }
  ];
  if (data.compared.some(function (v) { return v !== null; })) {
    traces.push({ type: "scatter", mode: "lines", name: labels.compared, x: data.days, y: data.compared,
      yaxis: "y2", line: { color: "#5d6b64", dash: "dot" } });
  }
  var shapes = [];
  if (data.target) {
    traces.push({ type: "scatter", mode: "lines", name: labels.target, x: [data.days[0], data.days[data.days.length - 1]],
      y: [data.target, data.target], yaxis: "y2", line: { color: "#b3261e", dash: "dash" } });
  }
  Plotly.newPlot(target, traces, {
    title: { text: data.title },
    margin: { t: 48, r: 64, b: 48, l: 64 },
    legend: { orientation: "h", y: -0.2 },
    xaxis: { title: { text: labels.day }, type: "date" },
    yaxis: { title: { text: labels.axis_daily }, rangemode: "tozero" },
    yaxis2: { title: { text: labels.axis_cumulative }, overlaying: "y", side: "right", rangemode: "tozero" },
    shapes: shapes
  }, { responsive: true, displaylogo: false });
})();
