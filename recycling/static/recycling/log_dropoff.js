// The station desk's log form (templates/admin/recycling/dropoff/log_dropoff.html): the scanner
// types the member code and Enter; move on to the carton count instead of submitting early.
// A file served by the app, not an inline script: the Content-Security-Policy allows only those.
(function () {
  var script = document.currentScript;
  var code = document.getElementById(script.dataset.code);
  var cartons = document.getElementById(script.dataset.cartons);
  if (!code || !cartons) { return; }
  code.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && code.value.trim() !== "" && cartons.value === "") {
      event.preventDefault();
      cartons.focus();
    }
  });
})();
