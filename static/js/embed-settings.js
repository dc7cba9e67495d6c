// Embed settings: the slider's number, the copy button, and the preview's height.
(function () {
  "use strict";
  var slider = document.querySelector("[data-slider]");
  var output = document.querySelector("[data-slider-output]");
  if (slider && output) {
    slider.addEventListener("input", function () { output.textContent = slider.value === "0" ? "0 (no limit)" : slider.value; });
  }
  var copy = document.querySelector("[data-copy]");
  var snippet = document.querySelector("[data-snippet]");
  if (copy && snippet) {
    copy.addEventListener("click", function () {
      snippet.select();
      var done = function () { document.querySelector("[data-copied]").hidden = false; };
      if (navigator.clipboard) navigator.clipboard.writeText(snippet.value).then(done, function () { document.execCommand("copy"); done(); });
      else { document.execCommand("copy"); done(); }
    });
  }
  window.addEventListener("message", function (event) {
    if (event.origin !== window.location.origin || !event.data || event.data.type !== "pickaxe:height") return;
    document.querySelectorAll("iframe[data-pickaxe-embed]").forEach(function (frame) {
      if (frame.contentWindow === event.source) frame.style.height = event.data.height + "px";
    });
  });
})();
