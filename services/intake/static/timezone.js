// Progressive enhancement only: without it, times show in the zone chosen in the form.
// On a first visit (no ?tz= and no saved choice), show times in the browser's own time zone.
(function () {
  var params = new URLSearchParams(window.location.search);
  if (params.get("tz") || document.cookie.indexOf("samleng_tz_chosen=") !== -1) { return; }
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (!zone) { return; }
  document.cookie = "samleng_tz_chosen=1; path=/; max-age=31536000; samesite=lax";
  params.set("tz", zone);
  window.location.replace(window.location.pathname + "?" + params.toString());
})();
