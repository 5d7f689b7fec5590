// The dashboard's charts (templates/dashboard/dashboard.html), drawn with the vendored uPlot
// (static/vendor/uplot/) from the numbers the page hands over in `data-chart` (the same numbers
// as its tables, which are the page without JavaScript). Colours match dashboard.css's swatches.
"use strict";

(function () {
  const SERIES = {
    sent: "#0b3d91",
    failed: "#b10e1e",
    pledges: "#00703c",
    certificates: "#7a4b00",
  };

  function bars(labels, series, target) {
    const indices = labels.map((_, i) => i);
    const every = Math.max(1, Math.ceil(labels.length / 8)); // at most 8 labels under the bars
    const width = Math.max(280, target.clientWidth);
    const options = {
      width: width,
      height: 220,
      legend: { show: false },
      cursor: { show: false },
      scales: {
        x: { time: false, range: [-0.5, Math.max(0.5, labels.length - 0.5)] },
        y: { range: (u, min, max) => [0, Math.max(1, Math.ceil(max * 1.1))] },
      },
      axes: [
        {
          splits: () => indices,
          values: (u, splits) => splits.map((i) => (i % every === 0 && labels[i] !== undefined ? labels[i] : "")),
          gap: 4,
        },
        { incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 50000, 100000] },
      ],
      series: [{}].concat(
        series.map((one, n) => ({
          label: one.label,
          stroke: SERIES[one.key],
          fill: SERIES[one.key],
          width: 1,
          points: { show: false },
          paths: uPlot.paths.bars({ size: [0.35, 48], align: n === 0 ? -1 : 1 }),
        })),
      ),
    };
    return new uPlot(options, [indices].concat(series.map((one) => one.values)), target);
  }

  function draw() {
    const holder = document.getElementById("dashboard-charts");
    if (!holder || typeof uPlot === "undefined") {
      return;
    }
    const chart = JSON.parse(holder.dataset.chart);
    const words = chart.words;
    holder.hidden = false;
    bars(
      chart.channels.names,
      [
        { key: "sent", label: words.dashboard_sent, values: chart.channels.sent },
        { key: "failed", label: words.dashboard_failed, values: chart.channels.failed },
      ],
      document.getElementById("chart-channels"),
    );
    bars(
      chart.daily.dates.map((date) => date.slice(5)),
      [
        { key: "pledges", label: words.dashboard_pledges, values: chart.daily.pledges },
        { key: "certificates", label: words.dashboard_certificates, values: chart.daily.certificates },
      ],
      document.getElementById("chart-daily"),
    );
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
