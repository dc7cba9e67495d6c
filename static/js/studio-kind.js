// The studio's editor shows what the chosen kind uses: a form's template and fields, or a
// chat's opening message and suggestions. Without JavaScript both are shown, and the
// server ignores what the chosen kind does not use.
(function () {
  "use strict";
  var choices = document.querySelectorAll('input[name="kind"]');
  if (!choices.length) return;

  function show() {
    var chosen = document.querySelector('input[name="kind"]:checked');
    var kind = chosen ? chosen.value : "form";
    document.querySelectorAll("[data-kind-section]").forEach(function (section) {
      section.hidden = section.getAttribute("data-kind-section") !== kind;
    });
    var template = document.querySelector('label[for="id_system_instructions"]');
    if (template) template.textContent = kind === "chat" ? "Hidden instructions (the chat's system prompt):" : "System instructions:";
  }

  choices.forEach(function (choice) { choice.addEventListener("change", show); });
  show();
})();
