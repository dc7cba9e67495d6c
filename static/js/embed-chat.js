// A chat pickaxe in its embed: Send (or a starter, or Retry) posts the message and streams
// the answer into the conversation (server-sent events over fetch). Without JavaScript each
// form posts normally and the page comes back with the whole conversation once answered.
(function () {
  "use strict";

  var chat = document.querySelector("[data-chat]");
  if (!chat) return;
  var list = chat.querySelector("[data-chat-messages]");
  var mainForm = chat.querySelector("[data-chat-form]");
  var input = chat.querySelector("[data-chat-input]");
  var busy = false;

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function newKey() {
    var bytes = new Uint8Array(24);
    window.crypto.getRandomValues(bytes);
    return Array.from(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function setAll(selector, value) {
    chat.querySelectorAll(selector).forEach(function (field) { field.value = value; });
  }

  function setBusy(on) {
    busy = on;
    chat.querySelectorAll("button[type=submit]").forEach(function (button) { button.disabled = on; });
  }

  function sentBubble(text) {
    var bubble = element("li", "chat-bubble user");
    bubble.setAttribute("data-testid", "chat-sent");
    bubble.appendChild(element("span", "chat-text", text));
    list.appendChild(bubble);
    return bubble;
  }

  function markNotAnswered(bubble, text) {
    bubble.classList.add("not-answered");
    var note = element("span", "chat-failed small", "Not answered — not charged. ");
    note.setAttribute("data-testid", "chat-not-answered");
    var retry = element("button", "link", "Retry");
    retry.type = "button";
    retry.setAttribute("data-chat-retry", "");
    retry.addEventListener("click", function () { if (!busy) send(text, null); });
    note.appendChild(retry);
    bubble.appendChild(note);
  }

  function showError(message) {
    var old = chat.querySelector(":scope > [data-testid=run-error]");
    if (old) old.remove();
    if (!message) return;
    var error = element("p", "run-error", message);
    error.setAttribute("role", "status");
    error.setAttribute("data-testid", "run-error");
    list.insertAdjacentElement("afterend", error);
  }

  async function send(text, form) {
    if (busy || !text.trim()) return;
    setBusy(true);
    showError("");
    var starters = chat.querySelector("[data-chat-starters]");
    if (starters) starters.remove();
    // Retry is offered on the last message only: once another is sent, earlier ones stay marked.
    chat.querySelectorAll(".chat-retry, [data-chat-retry]").forEach(function (retry) { retry.remove(); });
    var body = new FormData(mainForm);
    body.set("message", text);
    if (form === mainForm) input.value = "";
    var bubble = sentBubble(text);
    var answer = element("li", "chat-bubble assistant");
    var live = element("div", "run-output streaming");
    live.setAttribute("data-testid", "run-output");
    answer.appendChild(live);
    list.appendChild(answer);
    var end = null;
    try {
      var response = await fetch(mainForm.action, {
        method: "POST",
        body: body,
        headers: { "Accept": "text/event-stream" },
        credentials: "same-origin",
      });
      var conversation = response.headers.get("Pickaxe-Conversation");
      if (conversation) {
        setAll("[data-chat-conversation]", conversation);
        // "New conversation" (?new) has one now: a reload shows it, as any latest conversation.
        if (/[?&]new\b/.test(window.location.search)) window.history.replaceState(null, "", window.location.pathname);
      }
      if (response.status === 404) throw new Error("This conversation is not available. Start a new conversation.");
      if (!response.ok || !response.body) throw new Error("HTTP " + response.status);
      var reader = response.body.getReader();
      var decoder = new TextDecoder();
      var buffer = "", done = "";
      for (;;) {
        var chunk = await reader.read();
        if (chunk.done) break;
        buffer = parseEvents(buffer + decoder.decode(chunk.value, { stream: true }), function (name, data) {
          // Rendered and sanitised on the server (nh3), as the end's HTML.
          if (name === "output") { done += data.add; live.innerHTML = done + data.tail; }
          else if (name === "end") end = data;
        });
      }
    } catch (error) {
      end = { ok: false, html: "", message: error.message.indexOf("HTTP") === 0 || error.name === "TypeError"
        ? "The connection was interrupted. Please try again." : error.message };
    }
    if (!end) end = { ok: false, html: "", message: "The connection was interrupted. Please try again." };
    if (end.conversation) setAll("[data-chat-conversation]", end.conversation);
    live.classList.remove("streaming");
    if (end.html) {
      live.innerHTML = (end.demo ? '<span class="badge" title="Answered by the offline demo model">demo</span>' : "") +
        '<div class="output-body" data-output-body>' + end.html + "</div>";
    } else {
      answer.remove();
    }
    if (!end.ok && !end.html) markNotAnswered(bubble, text);
    showError(end.ok ? "" : end.message);
    setAll("input[name=submission_key]", newKey());
    setBusy(false);
    if (form === mainForm) input.focus();
  }

  chat.querySelectorAll("form[data-chat-send]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var field = form.querySelector("[name=message]");
      send(field.value, form);
    });
  });

  // Enter sends; Shift+Enter starts a new line.
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      mainForm.requestSubmit();
    }
  });
})();
