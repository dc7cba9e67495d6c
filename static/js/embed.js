// Inside the embed iframe: tell the host page our height, so the snippet can resize us.
(function () {
  "use strict";
  if (window.parent === window) return;
  var last = 0;
  function report() {
    // The content's own height (scrollHeight never drops below the frame's, so it could not shrink).
    var height = Math.ceil(document.body.getBoundingClientRect().height);
    if (height !== last) {
      last = height;
      window.parent.postMessage({ type: "pickaxe:height", height: height }, "*");
    }
  }
  new ResizeObserver(report).observe(document.body);
  window.addEventListener("load", report);
})();
