// The reviewers' description counter: characters typed against the limit (256, as in Entra).
(function () {
  function update(field) {
    var out = document.getElementById(field.id + "-counter");
    var limit = parseInt(field.dataset.counter, 10);
    out.textContent = field.value.length + " / " + limit + " characters";
    out.classList.toggle("text-danger", field.value.length > limit);
  }
  document.querySelectorAll("textarea[data-counter]").forEach(function (field) {
    var out = document.createElement("div");
    out.id = field.id + "-counter";
    out.className = "form-text counter";
    out.setAttribute("aria-live", "polite");
    field.insertAdjacentElement("afterend", out);
    field.addEventListener("input", function () { update(field); });
    update(field);
  });
})();

// Choosers: a match ticked in the search results moves to the chosen list at once, so the next
// search (which replaces the results) cannot drop it. Without JavaScript, the ticked boxes are
// simply submitted with the form.
(function () {
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!box.matches(".chooser-results input[type=checkbox]") || !box.checked) return;
    var chooser = box.closest(".chooser");
    var chosen = chooser.querySelector(".chooser-chosen");
    var already = chosen.querySelector('input[value="' + CSS.escape(box.value) + '"]');
    var row = box.closest("label");
    if (!already) {
      var placeholder = chosen.querySelector("p");
      if (placeholder) placeholder.remove();
      var entry = document.createElement("div");
      entry.className = "form-check";
      var input = document.createElement("input");
      input.className = "form-check-input";
      input.type = "checkbox";
      input.name = box.name;
      input.value = box.value;
      input.checked = true;
      input.id = chooser.id + "_picked" + box.value;
      var label = document.createElement("label");
      label.className = "form-check-label";
      label.htmlFor = input.id;
      label.textContent = row.textContent.trim().replace(/\s+/g, " ");
      entry.append(input, label);
      chosen.append(entry);
    }
    row.remove();
  });
})();
