// A chat: each message is sent over fetch and its answer streams in (server-sent events).
// Without JavaScript every form here posts normally and the page comes back with the whole
// conversation once the answer has ended.
(function () {
  "use strict";

  var chatBox = document.querySelector("[data-chat]");
  if (!chatBox) return;
  var log = chatBox.querySelector("[data-chat-log]");
  var mainForm = chatBox.querySelector("[data-chat-form]");
  var input = mainForm.querySelector("textarea[name=message]");
  var sendButton = mainForm.querySelector("[data-run-button]");
  var busy = false;

  function text(node, value) { node.textContent = value; }

  function element(tag, className, attrs) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    Object.keys(attrs || {}).forEach(function (name) { node.setAttribute(name, attrs[name]); });
    return node;
  }

  function newKey() {
    var bytes = new Uint8Array(24);
    window.crypto.getRandomValues(bytes);
    return Array.from(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function updateBalance(balance) {
    if (balance === null || balance === undefined) return;
    document.querySelectorAll('[data-testid="credit-balance"]').forEach(function (el) { text(el, String(balance)); });
  }

  // The conversation's public id, once the server has named it: kept in every form and in
  // the address, so a reload shows the conversation and the next message continues it.
  function remember(conversation) {
    if (!conversation || chatBox.getAttribute("data-conversation") === conversation) return;
    chatBox.setAttribute("data-conversation", conversation);
    chatBox.querySelectorAll('input[name="conversation"]').forEach(function (field) { field.value = conversation; });
    var url = chatBox.getAttribute("data-chat-url") + "?c=" + encodeURIComponent(conversation);
    window.history.replaceState(null, "", url + (window.location.hash || ""));
    var starters = chatBox.querySelector("[data-starters]");
    if (starters) starters.remove();
    if (!chatBox.querySelector("[data-testid=new-chat-link]")) {
      var cost = mainForm.querySelector(".chat-cost");
      var link = element("a", "", { "href": chatBox.getAttribute("data-chat-url") + (window.location.hash || ""), "data-testid": "new-chat-link" });
      text(link, "New conversation");
      if (cost) cost.append(" · ", link);
    }
  }

  function showForgotten() {
    if (chatBox.querySelector("[data-chat-forgotten]")) return;
    var note = element("p", "chat-forgotten muted small", { "data-testid": "chat-forgotten", "data-chat-forgotten": "" });
    text(note, "This conversation is long: its earliest messages are no longer sent to the model, so it does not remember them.");
    chatBox.insertBefore(note, log);
  }

  // At 0 credits Send stays off and says why, as the page has it when it loads at 0.
  function holdAtZero(balance) {
    if (!sendButton.hasAttribute("data-spends-credits") || balance === null || balance === undefined || balance > 0) return;
    chatBox.querySelectorAll("[data-chat-send] button[type=submit]").forEach(function (button) { button.disabled = true; });
    var shown = mainForm.querySelector("[data-testid=before-submit]");
    if (shown && shown.classList.contains("empty-balance")) return;
    if (shown) shown.remove();
    var note = element("p", "before-submit empty-balance", { "id": "before-submit", "data-testid": "before-submit" });
    text(note, "You have no credits left. ");
    var link = element("a", "", { "href": "/account/#timeline" });
    text(link, "When credits come back");
    note.appendChild(link);
    sendButton.setAttribute("aria-describedby", "before-submit");
    mainForm.appendChild(note);
  }

  function showRefusal(message, end) {
    var old = chatBox.querySelector("[data-chat-refusal]");
    if (old) old.remove();
    var note = element("p", "run-error", { "data-testid": "run-error", "data-chat-refusal": "" });
    text(note, message + " ");
    var href = end && (end.login_url || end.billing_url);
    if (href) {
      var link = element("a", "", { "href": href });
      text(link, end.login_url ? "Log in" : "Get more credits");
      note.appendChild(link);
    }
    chatBox.insertBefore(note, mainForm);
  }

  function notAnswered(item, message, sent) {
    item.className = "msg msg-failed";
    item.innerHTML = "";
    var box = element("div", "run-error", { "data-testid": "run-error" });
    var strong = element("strong");
    text(strong, "Not answered — not charged.");
    box.append(strong, " " + (message || "").replace(/ You were not charged for this run\.$/, "") + " ");
    var retry = element("button", "secondary small", { "type": "button", "data-testid": "retry" });
    text(retry, "Retry");
    retry.addEventListener("click", function () { holder.remove(); send(sent); });
    var holder = element("div");
    holder.appendChild(retry);
    box.appendChild(holder);
    item.appendChild(box);
  }

  function answered(item, end) {
    item.innerHTML = "";
    var bubble = element("div", "bubble run-output", { "data-testid": "run-output" });
    // Rendered and sanitised on the server (nh3): no script, no handlers, safe links.
    bubble.innerHTML = (end.demo ? '<span class="badge" title="Answered by the offline demo model">demo</span>' : "") +
      '<div class="output-body" data-output-body>' + end.html + "</div>";
    item.appendChild(bubble);
    if (!end.ok && end.message) {
      var error = element("p", "run-error small", { "data-testid": "run-error" });
      text(error, end.message);
      item.appendChild(error);
    }
    if (end.notice) {
      var notice = element("p", "run-notice muted small");
      text(notice, end.notice);
      item.appendChild(notice);
    }
  }

  // Send one message: `fields` are the posted form's own (the message, its key).
  async function send(message, key) {
    if (busy || !message.trim()) return;
    busy = true;
    sendButton.disabled = true;
    var old = chatBox.querySelector("[data-chat-refusal]");
    if (old) old.remove();
    var mine = element("li", "msg msg-user", { "data-testid": "chat-message" });
    var bubble = element("div", "bubble");
    text(bubble, message);
    mine.appendChild(bubble);
    var reply = element("li", "msg msg-assistant");
    var live = element("div", "bubble run-output streaming", { "data-testid": "run-output" });
    reply.appendChild(live);
    log.append(mine, reply);
    reply.scrollIntoView({ block: "nearest" });

    var body = new FormData(mainForm);
    body.set("message", message);
    body.set("submission_key", key || newKey());
    var balance = null;
    try {
      var response = await fetch(mainForm.action, {
        method: "POST", body: body, headers: { "Accept": "text/event-stream" }, credentials: "same-origin",
      });
      if (response.status === 403) throw new Error("expired");
      if (!response.ok && response.status !== 400 || !response.body) throw new Error("HTTP " + response.status);
      var reader = response.body.getReader();
      var decoder = new TextDecoder();
      var buffer = "", done = "", ended = null;
      for (;;) {
        var chunk = await reader.read();
        if (chunk.done) break;
        buffer = parseEvents(buffer + decoder.decode(chunk.value, { stream: true }), function (name, data) {
          if (name === "output") { done += data.add; live.innerHTML = done + data.tail; }
          else if (name === "end") { ended = data; }
        });
      }
      if (!ended) throw new Error("no end");
      balance = ended.balance;
      updateBalance(balance);
      remember(ended.conversation);
      if (ended.forgotten) showForgotten();
      if (ended.html) {
        answered(reply, ended);
      } else if (ended.conversation) {
        notAnswered(reply, ended.message, message);  // a run that failed before any output
      } else {
        // Refused before anything was charged (no credits, log in, a message too long):
        // the message goes back into the box.
        mine.remove();
        reply.remove();
        input.value = message;
        showRefusal(ended.message, ended);
        if (ended.login_url) window.location.assign(ended.login_url);
      }
    } catch (error) {
      notAnswered(reply, error.message === "expired"
        ? "Your session has expired. Reload the page and send it again."
        : "The connection was interrupted. Reload the page to see whether it was answered.", message);
    } finally {
      busy = false;
      sendButton.disabled = false;
      mainForm.querySelector('input[name="submission_key"]').value = newKey();
      holdAtZero(balance);
    }
  }

  chatBox.addEventListener("submit", function (event) {
    var form = event.target.closest("[data-chat-send]");
    if (!form) return;
    event.preventDefault();
    if (busy) return;
    if (form !== mainForm && form.closest(".msg-failed")) form.remove();  // retried: offered once
    var field = form.querySelector("[name=message]");
    var message = field.value;
    if (form === mainForm) {
      if (!message.trim()) { input.focus(); return; }
      input.value = "";
    }
    var key = form === mainForm ? null : form.querySelector('input[name="submission_key"]').value;
    send(message, key);
  });

  // Enter sends, Shift+Enter starts a new line (as in every chat).
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      if (!sendButton.disabled) mainForm.requestSubmit();
    }
  });
})();
