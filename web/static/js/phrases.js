/* Common phrases (常用语): a tap on a chip inserts its text into the opinion box at the cursor.
 * The chips are hidden until this script runs: without JavaScript the opinion is typed by hand.
 * No inline script, no eval (the pages' Content-Security-Policy). */
(function () {
  "use strict";

  function insert(box, text) {
    var start = box.selectionStart === undefined ? box.value.length : box.selectionStart;
    var end = box.selectionEnd === undefined ? box.value.length : box.selectionEnd;
    var before = box.value.slice(0, start);
    var gap = before && !/[\s，。；,.;]$/.test(before) ? "，" : "";
    box.value = before + gap + text + box.value.slice(end);
    var caret = (before + gap + text).length;
    box.focus();
    box.setSelectionRange(caret, caret);
    box.dispatchEvent(new Event("input", { bubbles: true }));
  }

  document.querySelectorAll(".phrases[hidden]").forEach(function (list) {
    list.hidden = false;
  });
  document.addEventListener("click", function (event) {
    var chip = event.target.closest("[data-phrase]");
    if (!chip) {
      return;
    }
    var box = document.getElementById(chip.getAttribute("data-target"));
    if (box) {
      insert(box, chip.getAttribute("data-phrase"));
    }
  });
})();
