// An alert's page (templates/alerts/alert.html): the progress tables update themselves from the
// operator API (`data-source`, read with the page's own session) every few seconds, and the
// actions over time are drawn with the vendored uPlot from `data-chart` (the same numbers as the
// table under it). Without JavaScript the page shows the same numbers; a reload refreshes them.
"use strict";

(function () {
  const EVERY_MS = 3000;

  function cell(tag, text, className, stage) {
    const element = document.createElement(tag);
    element.textContent = String(text);
    if (className) {
      element.className = className;
    }
    if (stage) {
      element.dataset.stage = stage;
    }
    return element;
  }

  function row(name, label, counts, stages) {
    const tr = document.createElement("tr");
    tr.dataset.channel = name;
    const head = cell("th", label);
    head.scope = "row";
    tr.appendChild(head);
    stages.forEach((stage) => tr.appendChild(cell("td", counts[stage] || 0, "number", stage)));
    return tr;
  }

  function table(sequence, version, stages, words, caption) {
    const element = document.createElement("table");
    element.className = "progress";
    element.dataset.sequence = sequence;
    element.appendChild(cell("caption", caption));
    const head = document.createElement("thead");
    const titles = document.createElement("tr");
    titles.appendChild(cell("th", words.alerts_channel));
    stages.forEach((stage) => titles.appendChild(cell("th", words["alerts_stage_" + stage], "number")));
    head.appendChild(titles);
    element.appendChild(head);
    element.appendChild(document.createElement("tbody"));
    element.appendChild(document.createElement("tfoot"));
    return element;
  }

  function update(holder, progress, stages, words) {
    Object.keys(progress).forEach((sequence) => {
      const version = progress[sequence];
      let element = holder.querySelector('table[data-sequence="' + sequence + '"]');
      if (!element) {
        const caption = sequence === "0" ? words.alerts_version_0 : "#" + sequence;
        element = table(sequence, version, stages, words, caption);
        const empty = holder.querySelector("#no-deliveries");
        if (empty) {
          empty.remove();
        }
        holder.appendChild(element);
      }
      const body = element.querySelector("tbody");
      body.replaceChildren(
        ...Object.keys(version.channels).map((name) => row(name, name, version.channels[name], stages)),
      );
      element.querySelector("tfoot").replaceChildren(row("all", words.alerts_total, version.total, stages));
    });
  }

  function poll(holder) {
    const words = JSON.parse(holder.dataset.words);
    const stages = ["requested", "waiting", "sending", "sent", "delivered", "failed", "skipped"];
    const tick = () => {
      fetch(holder.dataset.source, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then((answer) => (answer.ok ? answer.json() : null))
        .then((shown) => {
          if (shown && shown.progress) {
            update(holder, shown.progress, stages, words);
            holder.dataset.updated = new Date().toISOString();
          }
        })
        .catch(() => undefined)
        .finally(() => window.setTimeout(tick, EVERY_MS));
    };
    window.setTimeout(tick, EVERY_MS);
  }

  function chart(target) {
    if (typeof uPlot === "undefined") {
      return;
    }
    const data = JSON.parse(target.dataset.chart);
    if (!data.days.length) {
      return;
    }
    target.hidden = false;
    const indices = data.days.map((_, i) => i);
    new uPlot(
      {
        width: Math.max(280, target.clientWidth || 480),
        height: 200,
        legend: { show: false },
        cursor: { show: false },
        scales: {
          x: { time: false, range: [-0.5, Math.max(0.5, data.days.length - 0.5)] },
          y: { range: (u, min, max) => [0, Math.max(1, Math.ceil(max * 1.1))] },
        },
        axes: [
          { splits: () => indices, values: (u, splits) => splits.map((i) => data.days[i] || "") },
          { incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000, 10000] },
        ],
        series: [
          {},
          {
            stroke: "#0b3d91",
            fill: "#0b3d91",
            points: { show: false },
            paths: uPlot.paths.bars({ size: [0.6, 64] }),
          },
        ],
      },
      [indices, data.counts],
      target,
    );
  }

  document.addEventListener("DOMContentLoaded", () => {
    const holder = document.getElementById("progress");
    if (holder) {
      poll(holder);
    }
    const target = document.getElementById("actions-chart");
    if (target) {
      chart(target);
    }
  });
})();
