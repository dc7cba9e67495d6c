// Streams a run's output into the page as it is written (server-sent events over fetch).
// Without JavaScript the form posts normally and the page arrives whole when the run ends.
(function () {
  "use strict";

  function text(node, value) { node.textContent = value; }

  function updateBalance(balance) {
    if (balance === null || balance === undefined) return;
    document.querySelectorAll('[data-testid="credit-balance"]').forEach(function (el) { text(el, String(balance)); });
  }

  function showEnd(box, end) {
    box.innerHTML = "";
    if (end.message) {
      var error = document.createElement("p");
      error.className = "run-error";
      error.setAttribute("data-testid", "run-error");
      text(error, end.message + " ");
      var href = end.login_url || end.billing_url;
      if (href) {
        var link = document.createElement("a");
        link.href = href;
        text(link, end.login_url ? "Log in" : "Get more credits");
        error.appendChild(link);
      }
      box.appendChild(error);
    }
    if (end.html) {
      var output = document.createElement("div");
      output.className = "run-output";
      output.setAttribute("data-testid", "run-output");
      // Rendered and sanitised on the server (nh3): no script, no handlers, safe links.
      output.innerHTML = (end.demo ? '<span class="badge" title="Answered by the offline demo model">demo</span>' : "") +
        '<div class="output-body" data-output-body>' + end.html + "</div>";
      box.appendChild(output);
      box.appendChild(copyButton());
    }
    if (end.notice) {
      var notice = document.createElement("p");
      notice.className = "run-notice muted small";
      notice.setAttribute("data-testid", "run-notice");
      text(notice, end.notice);
      box.appendChild(notice);
    }
    updateBalance(end.balance);
    if (end.login_url) window.location.assign(end.login_url);
  }

  // After a run that spent the last credit, Submit stays off (as the page has it at 0
  // credits) and says why, instead of offering a run the server would refuse.
  function holdAtZero(form, button, balance) {
    if (!button.hasAttribute("data-spends-credits") || balance === null || balance === undefined || balance > 0) {
      return false;
    }
    button.disabled = true;
    var shown = form.querySelector("[data-testid=before-submit]");
    if (!shown || !shown.classList.contains("empty-balance")) {
      if (shown) shown.remove();  // "N credits left" no longer holds
      var note = document.createElement("p");
      note.className = "before-submit empty-balance";
      note.id = "before-submit";
      note.setAttribute("data-testid", "before-submit");
      text(note, "You have no credits left. ");
      var link = document.createElement("a");
      link.href = "/account/#timeline";
      text(link, "When credits come back");
      note.appendChild(link);
      button.setAttribute("aria-describedby", "before-submit");
      form.appendChild(note);  // where the page puts it: after the button and its cost
    }
    return true;
  }

  function copyButton() {  // as in templates/pickaxes/_copy_output.html (static/js/copy.js handles it)
    var actions = document.createElement("p");
    actions.className = "output-actions";
    var button = document.createElement("button");
    button.type = "button";
    button.className = "secondary small";
    button.setAttribute("data-copy-output", "");
    text(button, "Copy");
    var note = document.createElement("span");
    note.className = "muted small";
    note.setAttribute("data-copied", "");
    note.setAttribute("role", "status");
    note.hidden = true;
    actions.append(button, " ", note);
    return actions;
  }

  async function submit(form, event) {
    event.preventDefault();
    var button = form.querySelector("[data-run-button]");
    var box = form.parentElement.querySelector("[data-run-result]");
    button.disabled = true;
    box.innerHTML = "";
    var live = document.createElement("div");
    live.className = "run-output streaming";
    live.setAttribute("data-testid", "run-output");
    box.appendChild(live);
    try {
      var response = await fetch(form.action, {
        method: "POST",
        body: new FormData(form),
        headers: { "Accept": "text/event-stream" },
        credentials: "same-origin",
      });
      if (response.status === 403) {
        showEnd(box, { message: "Your session has expired. Reload the page and submit again." });
        return;
      }
      if (!response.ok || !response.body) throw new Error("HTTP " + response.status);
      var reader = response.body.getReader();
      var decoder = new TextDecoder();
      var buffer = "", done = "";
      var balance = null;
      for (;;) {
        var chunk = await reader.read();
        if (chunk.done) break;
        buffer = parseEvents(buffer + decoder.decode(chunk.value, { stream: true }), function (name, data) {
          // The output so far, rendered and sanitised on the server exactly as the end's:
          // finished blocks to keep (`add`), then the block being written (`tail`).
          if (name === "output") { done += data.add; live.innerHTML = done + data.tail; }
          else if (name === "end") { showEnd(box, data); balance = data.balance; }
        });
      }
    } catch (error) {
      showEnd(box, { message: "The connection was interrupted. Check your account page before trying again: a run that started is listed there." });
    } finally {
      button.disabled = false;
      holdAtZero(form, button, balance);
      // A new submission key, so the next press is a new run (the server checks keys).
      var key = form.querySelector('input[name="submission_key"]');
      if (key && window.crypto && window.crypto.getRandomValues) {
        var bytes = new Uint8Array(24);
        window.crypto.getRandomValues(bytes);
        key.value = Array.from(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
      }
    }
  }

  document.querySelectorAll("form[data-run-form]").forEach(function (form) {
    form.addEventListener("submit", function (event) { submit(form, event); });
  });
})();
