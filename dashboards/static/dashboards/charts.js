/* Draws the ops pages' charts with plotly.js's basic bundle (vendor/, served by the app) from the
   JSON beside each: #chart, cartons a day as bars with the cumulative cartons, the compared
   campaign's and the target as lines; #map, each city a bubble at its coordinates, linking to its
   page. The same numbers are in the tables next to them.

   Language: on a Chinese page, plotly-locale.js and vendor/plotly.js-locales/zh-cn.js ran first
   and left the zh-CN locale in module.exports; it is registered here, so plotly's own texts (the
   mode bar) are Chinese, and dates are written 11月1日. Daily data gets a tick on whole days only
   (every day, or every 2nd, 3rd ... day when the chart is too narrow for a label a day). */
(function () {
  "use strict";
  if (!window.Plotly) { return; }
  var locale = "en";
  if (window.module && window.module.exports && window.module.exports.moduleType === "locale") {
    Plotly.register(window.module.exports);
    locale = window.module.exports.name;
    delete window.module;
  }
  var chinese = locale.indexOf("zh") === 0;
  var DAY_MS = 86400000;
  var LABEL_PX = 56; // room for one date label such as 11月20日
  var config = { responsive: true, displaylogo: false, locale: locale };

  function read(id) {
    var source = document.getElementById(id);
    return source ? JSON.parse(source.textContent) : null;
  }

  function dayAxis(days, element, title) {
    var room = Math.max(2, Math.floor((element.clientWidth - 140) / LABEL_PX));
    return {
      title: { text: title },
      type: "date",
      tick0: days[0],
      dtick: Math.max(1, Math.ceil(days.length / room)) * DAY_MS,
      tickformat: chinese ? "%-m月%-d日" : "%b %-d",
      hoverformat: chinese ? "%Y年%-m月%-d日" : "%Y-%m-%d",
      showgrid: false
    };
  }

  function drawDaily(element, data) {
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
    if (data.target) {
      traces.push({ type: "scatter", mode: "lines", name: labels.target,
        x: [data.days[0], data.days[data.days.length - 1]], y: [data.target, data.target],
        yaxis: "y2", line: { color: "#b3261e", dash: "dash" } });
    }
    return Plotly.newPlot(element, traces, {
      title: { text: data.title },
      margin: { t: 48, r: 64, b: 48, l: 64 },
      legend: { orientation: "h", y: -0.25 },
      xaxis: dayAxis(data.days, element, labels.day),
      yaxis: { title: { text: labels.axis_daily }, rangemode: "tozero" },
      yaxis2: { title: { text: labels.axis_cumulative }, overlaying: "y", side: "right", rangemode: "tozero" }
    }, config);
  }

  function drawMap(element, data) {
    var largest = Math.max.apply(null, data.cartons.concat([1]));
    var trace = {
      type: "scatter",
      mode: "markers",
      x: data.lon,
      y: data.lat,
      text: data.names,
      customdata: data.hrefs.map(function (href, n) { return [href, data.cartons[n]]; }),
      hovertemplate: "%{text}<br>" + data.labels.cartons + ": %{customdata[1]:,}<extra></extra>",
      marker: {
        size: data.cartons,
        sizemode: "area",
        sizeref: 2 * largest / (44 * 44), // the largest city 44 px across
        sizemin: 3,
        color: "#1f7a4d",
        opacity: 0.55,
        line: { color: "#ffffff", width: 1 }
      }
    };
    return Plotly.newPlot(element, [trace], {
      title: { text: data.title },
      margin: { t: 48, r: 16, b: 48, l: 56 },
      showlegend: false,
      hovermode: "closest",
      // Degrees of longitude are shorter than degrees of latitude: about cos(35°) of them at
      // China's middle latitude, so one degree north is drawn 1.22 times as long as one east.
      xaxis: { title: { text: data.labels.lon }, range: [73, 136], zeroline: false, showgrid: false },
      yaxis: { title: { text: data.labels.lat }, range: [17, 54], scaleanchor: "x", scaleratio: 1.22,
        zeroline: false, showgrid: false }
    }, config).then(function () {
      element.on("plotly_click", function (event) {
        var point = event.points && event.points[0];
        if (point && point.customdata) { window.location.href = point.customdata[0]; }
      });
    });
  }

  function mark() { if (window.performance && performance.mark) { performance.mark("greenbox-chart-drawn"); } }

  var drawn = [];
  var chart = document.getElementById("chart");
  var daily = read("chart-data");
  if (chart && daily) { drawn.push(drawDaily(chart, daily)); }
  var map = document.getElementById("map");
  var cities = read("map-data");
  if (map && cities) { drawn.push(drawMap(map, cities)); }
  if (drawn.length) { drawn[0].then(mark); } // the first chart drawn: bench/bench_pages.py reads this mark
})();
