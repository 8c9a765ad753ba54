// The desk's camera scan button (recycling/templates/recycling/_scan_button.html, which documents
// its data- attributes). One tap asks for the back camera, shows it in a panel and decodes a
// frame every DECODE_EVERY_MS with jsQR (vendor/jsqr/, loaded on the first tap so pages that are
// never scanned from do not fetch its 250 kB). The first text that matches the pattern (a member
// code) fills the field, fires input and change as typing would, stops the camera and focuses the
// next field. The camera always stops: on a scan, on Cancel or Escape, when the page is hidden.
// Refused, absent or unusable cameras get a message under the button; the field stays as it was.
(function () {
  "use strict";

  var DECODE_EVERY_MS = 120; // ~8 decodes a second: quick to the eye, light on a tablet's CPU
  var MAX_SIDE = 720; // frames are scaled down to this before decoding: a member code's QR is coarse
  var decoder = null; // the promise of window.jsQR, shared by every button on the page

  function loadDecoder(url) {
    if (window.jsQR) { return Promise.resolve(window.jsQR); }
    if (!decoder) {
      decoder = new Promise(function (resolve, reject) {
        var script = document.createElement("script");
        script.src = url;
        script.onload = function () { if (window.jsQR) { resolve(window.jsQR); } else { reject(new Error("jsQR")); } };
        script.onerror = function () { decoder = null; reject(new Error("jsQR")); };
        document.head.appendChild(script);
      });
    }
    return decoder;
  }

  // Which message (data-message-*) a failed getUserMedia() deserves, by the DOMException's name.
  function problem(error) {
    var name = error && error.name;
    if (name === "NotAllowedError" || name === "PermissionDeniedError" || name === "SecurityError") { return "messageRefused"; }
    if (name === "NotFoundError" || name === "DevicesNotFoundError" || name === "OverconstrainedError") { return "messageAbsent"; }
    return "messageFailed";
  }

  function setUp(widget) {
    if (widget.dataset.scanReady) { return; }
    widget.dataset.scanReady = "1";
    var fill = document.getElementById(widget.dataset.scanFill);
    if (!fill) { return; }
    var next = widget.dataset.scanThen ? document.getElementById(widget.dataset.scanThen) : null;
    var pattern = new RegExp(widget.dataset.scanPattern);
    var policy = document.permissionsPolicy || document.featurePolicy; // Chromium's names for it
    if (policy && !policy.allowsFeature("camera")) {
      // A developer's slip, not the clerk's: the button would only ever be refused.
      console.error("The Permissions-Policy forbids the camera on this page: add its view to GREENBOX_CAMERA_VIEWS.");
    }
    var messages = widget.dataset;
    var start = widget.querySelector(".scan-start");
    var message = widget.querySelector(".scan-message");
    var panel = widget.querySelector(".scan-panel");
    var video = widget.querySelector(".scan-video");
    var hint = widget.querySelector(".scan-hint");
    var cancel = widget.querySelector(".scan-cancel");
    var canvas = document.createElement("canvas");
    var context = canvas.getContext("2d", { willReadFrequently: true });
    var session = 0; // bumped by every start and stop, so a late camera or timer of an old one is dropped
    var stream = null;
    var timer = null;
    var rejected = null; // the last QR text that was not a member code, to say so once

    function say(text, kind) {
      message.textContent = text || "";
      message.hidden = !text;
      message.className = "scan-message" + (kind ? " scan-" + kind : "");
    }

    function hintSays(text, warning) {
      hint.textContent = text;
      hint.classList.toggle("scan-warning", Boolean(warning));
    }

    function stop() {
      session += 1;
      clearTimeout(timer);
      timer = null;
      if (stream) { stream.getTracks().forEach(function (track) { track.stop(); }); }
      stream = null;
      video.srcObject = null;
      panel.hidden = true;
      start.disabled = false;
    }

    function refused(error, current) {
      if (current !== session) { return; }
      stop();
      say(messages[problem(error)], "error");
      fill.focus();
    }

    function scanned(text) {
      stop();
      fill.value = text;
      fill.dispatchEvent(new Event("input", { bubbles: true }));
      fill.dispatchEvent(new Event("change", { bubbles: true }));
      say(messages.messageScanned, "success");
      (next || fill).focus();
    }

    function decode(jsQR, current) {
      if (current !== session) { return; }
      var width = video.videoWidth;
      var height = video.videoHeight;
      if (video.readyState >= video.HAVE_CURRENT_DATA && width && height) {
        var scale = Math.min(1, MAX_SIDE / Math.max(width, height));
        if (canvas.width !== Math.round(width * scale)) { canvas.width = Math.round(width * scale); }
        if (canvas.height !== Math.round(height * scale)) { canvas.height = Math.round(height * scale); }
        context.drawImage(video, 0, 0, canvas.width, canvas.height);
        var frame = context.getImageData(0, 0, canvas.width, canvas.height);
        var found = jsQR(frame.data, frame.width, frame.height, { inversionAttempts: "dontInvert" });
        if (found && found.data) {
          var text = found.data.trim();
          if (pattern.test(text)) { scanned(text); return; }
          if (text !== rejected) { rejected = text; hintSays(messages.messageWrong, true); }
        }
      }
      timer = setTimeout(function () { decode(jsQR, current); }, DECODE_EVERY_MS);
    }

    function begin() {
      say("");
      if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
        // Browsers offer the camera only to secure pages: HTTPS, or http://localhost.
        say(messages.messageUnsupported, "error");
        fill.focus();
        return;
      }
      stop();
      var current = session;
      rejected = null;
      start.disabled = true;
      hintSays(messages.messageStarting, false);
      panel.hidden = false;
      cancel.focus();
      var jsQR = loadDecoder(widget.dataset.scanDecoder);
      navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false })
        .then(function (camera) {
          if (current !== session) { camera.getTracks().forEach(function (track) { track.stop(); }); return null; }
          stream = camera;
          video.srcObject = camera;
          return video.play().then(function () { return jsQR; });
        })
        .then(function (decodeFrame) {
          if (!decodeFrame || current !== session) { return; }
          hintSays(messages.messageLooking, false);
          decode(decodeFrame, current);
        })
        .catch(function (error) { refused(error, current); });
    }

    function cancelled() {
      stop();
      fill.focus();
    }

    fill.addEventListener("input", function (event) {
      // Typing over a scanned code: "scanned" is no longer true (the events scanned() fires are untrusted).
      if (event.isTrusted && message.classList.contains("scan-success")) { say(""); }
    });
    start.addEventListener("click", begin);
    cancel.addEventListener("click", cancelled);
    panel.addEventListener("keydown", function (event) {
      if (event.key === "Escape") { event.preventDefault(); cancelled(); }
    });
    document.addEventListener("visibilitychange", function () {
      if (document.hidden && !panel.hidden) { stop(); }
    });
    window.addEventListener("pagehide", stop);
  }

  function setUpAll() {
    Array.prototype.forEach.call(document.querySelectorAll(".scan[data-scan-fill]"), setUp);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUpAll);
  } else {
    setUpAll();
  }
})();
