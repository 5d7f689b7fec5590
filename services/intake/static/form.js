// Progressive enhancement only: the form works without this file.
// Each channel's row says what its declaration says (services/intake/app.py `form_channels`): the
// countries it cannot serve (data-unavailable), whether it can carry discreet messages
// (data-discreet) and the fields it asks for (data-fields). A channel that cannot serve the person
// is hidden and unticked (the server refuses it anyway); the postal address shows only when a
// ticked channel needs it.
(function () {
  var country = document.getElementById("country");
  var address = document.getElementById("postal_address");
  var rows = Array.prototype.slice.call(document.querySelectorAll("#channels [data-fields]"));
  function discreetOn() {
    var on = document.getElementById("discreet-on"), off = document.getElementById("discreet-off");
    return (on && on.checked) || (country.value === "KH" && !(off && off.checked));
  }
  function update() {
    var discreet = discreetOn(), postal = false;
    rows.forEach(function (row) {
      var box = row.querySelector("input[type=checkbox]");
      var unavailable = row.dataset.unavailable ? row.dataset.unavailable.split(" ") : [];
      var refused = (country.value && unavailable.indexOf(country.value) >= 0) ||
        (discreet && row.dataset.discreet === "no");
      row.hidden = refused;
      if (refused) { box.checked = false; }
      if (box.checked && (row.dataset.fields || "").split(" ").indexOf("postal_address") >= 0) { postal = true; }
    });
    if (address) { address.hidden = !postal; }
  }
  country.addEventListener("change", update);
  document.getElementById("channels").addEventListener("change", update);
  var discreet = document.getElementById("discreet");
  if (discreet) { discreet.addEventListener("change", update); }
  update();
  var summary = document.getElementById("error-summary");
  if (summary) { summary.focus(); }
})();
