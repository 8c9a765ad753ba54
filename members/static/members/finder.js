// The station finder: filter the cities as the member types (Chinese characters, pinyin, its
// initials or the English name), and "stations near me" from the browser's geolocation, which
// asks the member first. A static file: the Content-Security-Policy allows no inline script.
(function () {
  "use strict";
  var search = document.getElementById("city-search");
  if (search) {
    var provinces = document.querySelectorAll("[data-province]");
    var none = document.getElementById("no-city");
    var filter = function () {
      var query = search.value.trim().toLowerCase().replace(/\s+/g, "");
      var shown = 0;
      provinces.forEach(function (province) {
        var inProvince = 0;
        province.querySelectorAll("[data-search]").forEach(function (city) {
          var match = !query || city.getAttribute("data-search").indexOf(query) !== -1;
          city.hidden = !match;
          if (match) inProvince += 1;
        });
        province.hidden = inProvince === 0;
        shown += inProvince;
      });
      none.hidden = shown !== 0;
    };
    search.addEventListener("input", filter);
    filter();
  }

  var near = document.getElementById("near-me");
  if (near && "geolocation" in navigator) {
    var status = document.getElementById("near-status");
    near.hidden = false;
    near.addEventListener("click", function () {
      near.disabled = true;
      navigator.geolocation.getCurrentPosition(
        function (position) {
          var where = position.coords.latitude.toFixed(5) + "," + position.coords.longitude.toFixed(5);
          window.location.href = near.getAttribute("data-url") + "?near=" + encodeURIComponent(where);
        },
        function () {
          near.disabled = false;
          status.textContent = near.getAttribute("data-denied");
        },
        { enableHighAccuracy: false, timeout: 10000, maximumAge: 300000 }
      );
    });
  }
})();
