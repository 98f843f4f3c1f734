// The access panel's keyboard: j / k move between people, a / d / u decide the focused one,
// x selects it, / jumps to the search. Keys typed into a field are left alone. Everything here
// also works without JavaScript: the buttons are plain form posts.
(function () {
  var list = document.querySelector(".panel-list");
  if (!list) return;

  // Phones: the filter and the bulk form start folded, so the people come first.
  if (window.matchMedia("(max-width: 767.98px)").matches) {
    document.querySelectorAll("details[data-phone-closed]").forEach(function (d) {
      d.open = false;
    });
  }

  function rows() { return Array.prototype.slice.call(list.querySelectorAll("[data-row]")); }

  function current() {
    var active = document.activeElement;
    return active && active.closest ? active.closest("[data-row]") : null;
  }

  function focusRow(row) {
    if (!row) return;
    row.focus();
    row.scrollIntoView({ block: "nearest" });
  }

  function move(step) {
    var all = rows(), row = current(), index = all.indexOf(row);
    if (index < 0) { focusRow(step > 0 ? all[0] : all[all.length - 1]); return; }
    focusRow(all[Math.min(all.length - 1, Math.max(0, index + step))]);
  }

  function typing(target) {
    if (!target || !target.matches) return false;
    if (target.isContentEditable) return true;
    return target.matches("input:not([type=checkbox]):not([type=radio]), textarea, select");
  }

  function press(key) {
    var row = current();
    var button = row && row.querySelector('button[data-key="' + key + '"]');
    if (button) button.click();
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    var key = event.key;
    if (key === "j" || key === "k") { move(key === "j" ? 1 : -1); event.preventDefault(); }
    else if (key === "a" || key === "d" || key === "u") { press(key); event.preventDefault(); }
    else if (key === "x") {
      var box = current() && current().querySelector(".panel-select");
      if (box) { box.checked = !box.checked; event.preventDefault(); }
    } else if (key === "/") {
      var search = document.getElementById("f-q");
      if (search) { search.focus(); search.select(); event.preventDefault(); }
    }
  });

  // htmx replaces the row it decided; give the focus back to the new copy of that row.
  var refocus = null;
  document.body.addEventListener("htmx:beforeRequest", function (event) {
    var row = event.detail.elt.closest && event.detail.elt.closest("[data-row]");
    refocus = row ? row.id : null;
  });
  document.body.addEventListener("htmx:afterSettle", function () {
    var active = document.activeElement;
    if (refocus && (!active || active === document.body)) {
      focusRow(document.getElementById(refocus));
    }
    refocus = null;
  });

  // "Select all on this page" only makes sense with a script: add it here.
  var bulk = document.getElementById("bulk");
  var legend = bulk && bulk.querySelector("fieldset");
  if (legend) {
    var all = document.createElement("button");
    all.type = "button";
    all.className = "btn btn-link btn-sm p-0 mt-1";
    all.textContent = "Select everyone on this page";
    all.addEventListener("click", function () {
      var boxes = list.querySelectorAll(".panel-select");
      var tick = Array.prototype.some.call(boxes, function (b) { return !b.checked; });
      boxes.forEach(function (b) { b.checked = tick; });
      all.textContent = tick ? "Clear the selection" : "Select everyone on this page";
      document.getElementById("scope-selected").checked = true;
    });
    legend.appendChild(all);
  }
})();
