// Progressive enhancement only: the form works without this file.
// Post is not offered to residents of Cambodia (the server refuses it anyway).
(function () {
  var country = document.getElementById("country");
  var postRow = document.getElementById("channel-post-row");
  var post = document.getElementById("channel-post");
  var address = document.getElementById("postal_address");
  function channel(name) { var el = document.getElementById("channel-" + name); return el && el.checked; }
  function update() {
    var inCambodia = country.value === "KH";
    if (postRow) { postRow.hidden = inCambodia; }
    if (inCambodia && post) { post.checked = false; }
    if (address) { address.hidden = !channel("post"); }
  }
  country.addEventListener("change", update);
  document.getElementById("channels").addEventListener("change", update);
  update();
  var summary = document.getElementById("error-summary");
  if (summary) { summary.focus(); }
})();
