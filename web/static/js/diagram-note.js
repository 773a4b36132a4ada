// A sentence in a diagram's box instead of a blank canvas, shared by diagram.js and monitor.js: the
// model has no layout (BPMN DI, often so in models from engines' test suites) or it could not be drawn.
// The sentences come from the box's data-no-layout and data-failed attributes (translated server-side).
window.fengqiaoDiagramNote = function (box, attribute) {
  "use strict";
  var note = document.createElement("p");
  note.className = "muted diagram-note";
  note.textContent = box.getAttribute(attribute) || "";
  box.textContent = "";
  box.appendChild(note);
  box.classList.add("diagram-empty");
};
