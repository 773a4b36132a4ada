/* Fengqiao forms: progressive enhancement of the markup forms/renderer.py draws (docs/forms.md).
 * - Conditional fields ([data-fq-show-when]) are hidden, and their inputs disabled so nothing stale
 *   is submitted, unless the controlling field has one of [data-fq-show-values].
 * - Repeatable items ([data-fq-repeat]): "add" copies the <template> with the next item number,
 *   "remove" deletes an item; item numbers in the legends follow.
 * Without this script every field is shown and the server validates the same schema.
 * No inline script, no eval: it runs under the pages' Content-Security-Policy. */
(function () {
  "use strict";

  var INDEX = "__index__";

  function scopeOf(element) {
    return element.closest("form") || document;
  }

  function currentValues(scope, name) {
    var values = [];
    scope.querySelectorAll('[name="' + CSS.escape(name) + '"]').forEach(function (input) {
      if (input.disabled) {
        return;
      }
      if (input.type === "radio" || input.type === "checkbox") {
        if (input.checked) {
          values.push(input.value);
        }
      } else {
        values.push(input.value);
      }
    });
    return values;
  }

  function applyConditions(root) {
    root.querySelectorAll("[data-fq-show-when]").forEach(function (field) {
      var wanted = JSON.parse(field.getAttribute("data-fq-show-values") || "[]");
      var current = currentValues(scopeOf(field), field.getAttribute("data-fq-show-when"));
      var show = current.some(function (value) {
        return wanted.indexOf(value) !== -1;
      });
      field.hidden = !show;
      field.querySelectorAll("input, select, textarea, button").forEach(function (control) {
        if (show && control.hasAttribute("data-fq-disabled-by-condition")) {
          control.disabled = false;
          control.removeAttribute("data-fq-disabled-by-condition");
        } else if (!show && !control.disabled) {
          control.disabled = true;
          control.setAttribute("data-fq-disabled-by-condition", "");
        }
      });
    });
  }

  function items(repeat) {
    return repeat.querySelectorAll(":scope > .fq-items > [data-fq-item]");
  }

  function refreshRepeat(repeat) {
    var list = items(repeat);
    list.forEach(function (item, position) {
      var number = item.querySelector(".fq-item-number");
      if (number) {
        number.textContent = String(position + 1);
      }
    });
    var max = parseInt(repeat.getAttribute("data-fq-max") || "", 10);
    var add = repeat.querySelector(":scope > [data-fq-add]");
    if (add) {
      add.hidden = !isNaN(max) && list.length >= max;
    }
  }

  function addItem(repeat) {
    var template = repeat.querySelector(":scope > template.fq-template");
    var next = parseInt(repeat.getAttribute("data-fq-next") || "0", 10);
    repeat.setAttribute("data-fq-next", String(next + 1));
    var copy = template.content.cloneNode(true);
    copy.querySelectorAll("*").forEach(function (element) {
      Array.prototype.forEach.call(element.attributes, function (attribute) {
        if (attribute.value.indexOf(INDEX) !== -1) {
          element.setAttribute(attribute.name, attribute.value.split(INDEX).join(String(next)));
        }
      });
    });
    var item = copy.querySelector("[data-fq-item]");
    repeat.querySelector(":scope > .fq-items").appendChild(copy);
    enhance(item);
    refreshRepeat(repeat);
    var first = item.querySelector("input, select, textarea");
    if (first) {
      first.focus();
    }
  }

  function removeItem(item) {
    var repeat = item.closest("[data-fq-repeat]");
    item.remove();
    refreshRepeat(repeat);
    var add = repeat.querySelector(":scope > [data-fq-add]");
    if (add && !add.hidden) {
      add.focus();
    }
  }

  function enhance(root) {
    root.querySelectorAll("[data-fq-add], [data-fq-remove]").forEach(function (button) {
      button.hidden = false;
    });
    root.querySelectorAll("[data-fq-repeat]").forEach(refreshRepeat);
    applyConditions(root);
  }

  document.addEventListener("click", function (event) {
    var add = event.target.closest("[data-fq-add]");
    var remove = event.target.closest("[data-fq-remove]");
    if (add) {
      addItem(add.closest("[data-fq-repeat]"));
    } else if (remove) {
      removeItem(remove.closest("[data-fq-item]"));
    }
  });
  document.addEventListener("change", function (event) {
    if (event.target.name) {
      applyConditions(scopeOf(event.target));
    }
  });
  // Forms that htmx swaps into a page are enhanced like the page's own.
  document.addEventListener("htmx:load", function (event) {
    enhance(event.target);
  });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () {
      enhance(document);
    });
  } else {
    enhance(document);
  }
})();
