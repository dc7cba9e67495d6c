// API keys: the copy button of a key just made (shown once).
(function () {
  "use strict";
  var button = document.querySelector("[data-copy-secret]");
  var secret = document.querySelector("[data-secret]");
  if (!button || !secret) return;
  button.addEventListener("click", function () {
    var done = function () { document.querySelector("[data-copied]").hidden = false; };
    if (navigator.clipboard) navigator.clipboard.writeText(secret.textContent.trim()).then(done);
  });
})();
