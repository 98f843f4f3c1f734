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
      var parts = Array.prototype.map.call(row.querySelectorAll("span.d-block"), function (part) {
        return part.textContent.trim();
      });
      label.textContent = parts.length ? parts.join(" · ") : row.textContent.trim();
      entry.append(input, label);
      chosen.append(entry);
    }
    row.remove();
  });
})();

// After a refused submit, a long page shows its problems at the top, each a link to its field,
// and focus moves to that summary (so nobody hunts for an error 3,000 pixels down).
(function () {
  var form = document.querySelector(".wizard-form");
  if (!form) return;
  var problems = form.querySelectorAll(".invalid-feedback, .errorlist li");
  if (!problems.length) return;
  var summary = document.createElement("div");
  summary.className = "alert alert-danger error-summary";
  summary.setAttribute("role", "alert");
  summary.tabIndex = -1;
  var heading = document.createElement("p");
  heading.className = "fw-semibold mb-1";
  heading.textContent = problems.length === 1 ? "One thing to fix:" : problems.length + " things to fix:";
  var list = document.createElement("ul");
  list.className = "mb-0";
  problems.forEach(function (problem, index) {
    var anchor = problem.id || "problem-" + index;
    problem.id = anchor;
    var item = document.createElement("li");
    var link = document.createElement("a");
    link.href = "#" + anchor;
    link.textContent = problem.textContent.trim();
    item.append(link);
    list.append(item);
  });
  summary.append(heading, list);
  form.prepend(summary);
  summary.focus();
})();
