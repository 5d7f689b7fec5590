// Progressive enhancement only: the form works without this file.
// Post is not offered to residents of Cambodia, nor with discreet messages on (the server refuses both anyway).
(function () {
  var country = document.getElementById("country");
  var postRow = document.getElementById("channel-post-row");
  var post = document.getElementById("channel-post");
  var address = document.getElementById("postal_address");
  function channel(name) { var el = document.getElementById("channel-" + name); return el && el.checked; }
  var discreet = document.getElementById("discreet");
  function discreetOn() {
    var on = document.getElementById("discreet-on"), off = document.getElementById("discreet-off");
    return (on && on.checked) || (country.value === "KH" && !(off && off.checked));
  }
  function update() {
    var noPost = country.value === "KH" || discreetOn();
    if (postRow) { postRow.hidden = noPost; }
    if (noPost && post) { post.checked = false; }
    if (address) { address.hidden = !channel("post"); }
  }
  country.addEventListener("change", update);
  document.getElementById("channels").addEventListener("change", update);
  if (discreet) { discreet.addEventListener("change", update); }
  update();
  var summary = document.getElementById("error-summary");
  if (summary) { summary.focus(); }
})();
