// The station desk (desk/templates/desk/): a file served by the app, not an inline script, since
// the Content-Security-Policy allows only those.
// - The keyboard-wedge scanner types the member code and Enter: move on to the carton count
//   instead of submitting early (then the count and Enter save).
// - A field with an error is focused, so the clerk can correct it at once.
// - Once the member is known (desk.views.member_preview), a count beyond the cartons that still
//   earn points shows the cap warning before saving.
(function () {
  "use strict";

  function onReady(fn) {
    if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", fn); } else { fn(); }
  }

  onReady(function () {
    var invalid = document.querySelector("main [aria-invalid=true]");
    if (invalid) { invalid.focus(); invalid.select && invalid.select(); }

    var code = document.getElementById("id_member");
    var cartons = document.getElementById("id_cartons");
    if (!code || !cartons) { return; }
    code.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && code.value.trim() !== "" && cartons.value === "") {
        event.preventDefault();
        cartons.focus();
      }
    });

    var warning = document.getElementById("cap-warning");
    function checkCap() {
      var found = document.querySelector("[data-testid=member-found][data-left]");
      var count = parseInt(cartons.value, 10);
      if (!warning) { return; }
      if (!found || isNaN(count)) { warning.hidden = true; return; }
      var beyond = count - parseInt(found.dataset.left, 10);
      if (beyond > 0) {
        warning.textContent = beyond === 1 ? found.dataset.cappedOne : found.dataset.cappedMany.replace("{count}", String(beyond));
        warning.hidden = false;
      } else {
        warning.hidden = true;
      }
    }
    cartons.addEventListener("input", checkCap);
    document.body.addEventListener("htmx:afterSettle", checkCap);
  });
})();
