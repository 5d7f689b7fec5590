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
