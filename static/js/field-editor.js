// The studio's field editor: add, remove and reorder input fields of a Django formset.
// Without JavaScript the formset still works: the hidden positions keep the saved order.
(function () {
  "use strict";
  var list = document.querySelector("[data-field-list]");
  var template = document.querySelector("template[data-empty-field]");
  var total = document.querySelector('input[name="fields-TOTAL_FORMS"]');
  if (!list || !template || !total) return;

  function renumber() {
    list.querySelectorAll("[data-field-row]").forEach(function (row, index) {
      var position = row.querySelector("input[data-position]");
      if (position) position.value = index;
    });
  }

  document.querySelector("[data-add-field]").addEventListener("click", function () {
    var index = parseInt(total.value, 10);
    var html = template.innerHTML.replace(/__prefix__/g, String(index));
    list.insertAdjacentHTML("beforeend", html);
    total.value = index + 1;
    renumber();
    var rows = list.querySelectorAll("[data-field-row]");
    showChoices(rows[rows.length - 1]);
    rows[rows.length - 1].querySelector("input[type=text]").focus();
  });

  list.addEventListener("click", function (event) {
    var button = event.target.closest("[data-move]");
    if (!button) return;
    var row = button.closest("[data-field-row]");
    if (button.dataset.move === "up" && row.previousElementSibling) {
      list.insertBefore(row, row.previousElementSibling);
    } else if (button.dataset.move === "down" && row.nextElementSibling) {
      list.insertBefore(row.nextElementSibling, row);
    }
    renumber();
  });

  // Options only matter for a choice, bounds for a number, a length for text: show each
  // for its kind alone. Without JavaScript all show, and a note says which kind uses which.
  function showChoices(row) {
    var kind = row.querySelector("select[name$='-kind']");
    if (!kind) return;
    var text = kind.value === "short_text" || kind.value === "long_text";
    var parts = [["[data-choices]", kind.value === "choice"], ["[data-number-bounds]", kind.value === "number"],
      ["[data-text-only]", text], ["[data-kind-note]", false]];
    parts.forEach(function (part) {
      var element = row.querySelector(part[0]);
      if (element) element.hidden = !part[1];
    });
  }

  list.addEventListener("change", function (event) {
    if (event.target.name && /-kind$/.test(event.target.name)) {
      showChoices(event.target.closest("[data-field-row]"));
    }
    if (event.target.name && /-DELETE$/.test(event.target.name)) {
      event.target.closest("[data-field-row]").classList.toggle("removed", event.target.checked);
    }
  });

  // A field's key follows its label ("Your topic" → your_topic) until the key is edited by
  // hand; a saved field's key never changes by itself (the template uses it). The server
  // makes the same key from the label when the key is left empty (pickaxes/forms.py).
  function keyFrom(label) {
    var key = label.normalize("NFKD").replace(/[\u0300-\u036f]/g, "").toLowerCase()
      .replace(/[^a-z0-9]+/g, "_").replace(/^_+|_+$/g, "");
    if (key && !/^[a-z]/.test(key)) key = "field_" + key;
    return key.slice(0, 40).replace(/_+$/, "");
  }

  list.addEventListener("input", function (event) {
    var name = event.target.name || "";
    var row = event.target.closest("[data-field-row]");
    if (!row) return;
    var key = row.querySelector("input[name$='-key']");
    if (/-label$/.test(name) && key && !key.dataset.edited) {
      key.value = keyFrom(event.target.value);
    } else if (/-key$/.test(name)) {
      key.dataset.edited = key.value ? "yes" : "";
    }
  });

  list.querySelectorAll("input[name$='-key']").forEach(function (key) {
    if (key.value) key.dataset.edited = "yes";
  });
  list.querySelectorAll("[data-field-row]").forEach(showChoices);
  renumber();
})();
