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
