// Sessions pages (progressive enhancement: every page works without this file).
// A session just published is handed over to the event-scheduler, which keeps it within
// moments: the "being scheduled" page looks again every two seconds, for at most a minute,
// and shows the session once it is there.
(function () {
  "use strict";
  var pending = document.getElementById("pending");
  if (!pending || pending.dataset.reload !== "true") {
    return;
  }
  var tries = 0;
  function look() {
    tries += 1;
    fetch(window.location.pathname, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) { return response.text(); })
      .then(function (html) {
        if (html.indexOf('id="pending"') === -1) {
          window.location.reload();
        } else if (tries < 30) {
          window.setTimeout(look, 2000);
        }
      })
      .catch(function () {
        if (tries < 30) {
          window.setTimeout(look, 2000);
        }
      });
  }
  window.setTimeout(look, 2000);
})();

// The session's page: its registration counts (and the seats left) follow new registrations and
// cancellations without a reload. The page shows them without this; this asks the small JSON
// of /sessions/<id>/counts every five seconds while the page is in view, and stops after
// repeated failures (a sign-in that ended, a console that is away).
(function () {
  "use strict";
  var counts = document.getElementById("counts");
  if (!counts || !counts.dataset.counts || !window.fetch) {
    return;
  }
  var failures = 0;
  function show(shown) {
    Object.keys(shown).forEach(function (name) {
      var cell = counts.querySelector('[data-count="' + name + '"]');
      if (cell && cell.textContent !== shown[name]) {
        cell.textContent = shown[name];
      }
    });
  }
  function look() {
    if (document.hidden) {
      window.setTimeout(look, 5000);
      return;
    }
    fetch(counts.dataset.counts, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok || (response.headers.get("content-type") || "").indexOf("application/json") !== 0) {
          throw new Error("no counts");
        }
        return response.json();
      })
      .then(function (shown) {
        failures = 0;
        show(shown);
        window.setTimeout(look, 5000);
      })
      .catch(function () {
        failures += 1;
        if (failures < 5) {
          window.setTimeout(look, 5000);
        }
      });
  }
  window.setTimeout(look, 5000);
})();
