// Flag Event Gateway admin UI: conveniences only. Every page works without this file.
(function () {
  "use strict";

  // Copy buttons next to read-only URL fields.
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var input = document.getElementById(button.getAttribute("data-copy"));
    if (!input) return;
    button.hidden = false;
    var label = button.innerHTML;
    button.addEventListener("click", function () {
      var done = function () {
        button.textContent = "Copied";
        setTimeout(function () { button.innerHTML = label; }, 1500);
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(input.value).then(done, function () { input.select(); });
      } else {
        input.select();
        try { document.execCommand("copy"); done(); } catch (e) { /* the text stays selected */ }
      }
    });
  });

  // Rows of a list of objects: add and remove in place (without JS the buttons submit the form).
  function renumber(list) {
    list.querySelectorAll("[data-row]").forEach(function (row, i) {
      var legend = row.querySelector("[data-row-legend]");
      if (legend) legend.textContent = legend.textContent.replace(/row \S+$/, "row " + (i + 1));
      var remove = row.querySelector("[data-remove-row]");
      if (remove) remove.textContent = "Remove row " + (i + 1);
    });
  }
  document.querySelectorAll("[data-rows]").forEach(function (group) {
    var list = group.querySelector("[data-row-list]");
    var template = group.querySelector("template[data-row-template]");
    var add = group.querySelector("[data-add-row]");
    if (!list || !template || !add) return;
    var next = list.querySelectorAll("[data-row]").length;
    list.querySelectorAll("input[type=hidden][name$='.__row']").forEach(function (mark) {
      next = Math.max(next, parseInt(mark.value, 10) + 1);
    });
    add.addEventListener("click", function (event) {
      event.preventDefault();
      var index = String(next++);
      var html = template.innerHTML.split("__INDEX__").join(index).split("__NUMBER__").join(index);
      var holder = document.createElement("div");
      holder.innerHTML = html;
      var row = holder.firstElementChild;
      list.appendChild(row);
      renumber(list);
      var first = row.querySelector("input:not([type=hidden]), select, textarea");
      if (first) first.focus();
    });
    list.addEventListener("click", function (event) {
      var button = event.target.closest("[data-remove-row]");
      if (!button) return;
      event.preventDefault();
      var row = button.closest("[data-row]");
      row.parentNode.removeChild(row);
      renumber(list);
      add.focus();
    });
  });

  // Long menus (the Dynatrace entity types): a filter box above the menu.
  document.querySelectorAll("input[data-filter-for]").forEach(function (box) {
    var select = document.getElementById(box.getAttribute("data-filter-for"));
    if (!select) return;
    box.hidden = false;
    var label = document.querySelector("label[for='" + box.id + "']");
    if (label) label.hidden = false;
    box.addEventListener("input", function () {
      var needle = box.value.trim().toLowerCase().replace(/\s+/g, "_");
      var firstShown = null;
      select.querySelectorAll("optgroup").forEach(function (group) {
        var any = false;
        group.querySelectorAll("option").forEach(function (option) {
          var show = !needle || option.value.toLowerCase().indexOf(needle) !== -1;
          option.hidden = !show;
          option.disabled = !show && !option.selected;
          if (show) { any = true; if (!firstShown) firstShown = option; }
        });
        group.hidden = !any;
      });
      if (needle && firstShown && select.selectedOptions.length && select.selectedOptions[0].hidden) {
        select.value = firstShown.value;
      }
    });
    box.addEventListener("keydown", function (event) {
      if (event.key === "Enter") { event.preventDefault(); select.focus(); }
    });
  });

  // Focus the error summary after a failed save, so keyboard and screen-reader users hear it.
  var summary = document.getElementById("error-summary");
  if (summary) summary.focus();
})();
