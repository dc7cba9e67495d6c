// The Copy button under a run's output (the site's run page, the studio's Test, an embed,
// a past run's page): puts the output's text, as shown, on the clipboard, with its HTML
// beside it so that pasting into a rich editor keeps headings and lists.
(function () {
  "use strict";

  function fallback(text) {
    // Where the Clipboard API is refused (an iframe without clipboard-write, plain http).
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (error) { ok = false; }
    document.body.removeChild(area);
    return ok ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }

  function write(text, html) {
    if (!navigator.clipboard) return fallback(text);
    var attempt;
    if (window.ClipboardItem && navigator.clipboard.write) {
      attempt = navigator.clipboard.write([new ClipboardItem({
        "text/plain": new Blob([text], { type: "text/plain" }),
        "text/html": new Blob([html], { type: "text/html" }),
      })]);
    } else {
      attempt = navigator.clipboard.writeText(text);
    }
    return attempt.catch(function () { return fallback(text); });
  }

  function say(button, message) {
    var note = button.parentElement.querySelector("[data-copied]");
    if (!note) return;
    note.textContent = message;
    note.hidden = false;
    clearTimeout(note._timer);
    note._timer = setTimeout(function () { note.hidden = true; }, 2500);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-output]");
    if (!button) return;
    var box = button.closest("[data-run-result]");
    var output = box && box.querySelector("[data-output-body]");
    if (!output) return;
    write(output.innerText.trim(), output.innerHTML).then(
      function () { say(button, "Copied."); },
      function () { say(button, "Your browser refused: select the text and copy it."); }
    );
  });
})();
