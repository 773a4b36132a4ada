// The case page's diagram: bpmn-js's navigated viewer with current tasks and the path taken marked.
// Loaded only on case pages (CSP: no inline scripts; the data comes from the page's data-source URL).
(function () {
  "use strict";
  var box = document.getElementById("diagram");
  if (!box || !window.BpmnJS) { return; }
  function say(attribute) { window.fengqiaoDiagramNote(box, attribute); }

  fetch(box.getAttribute("data-source"), { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then(function (response) { if (!response.ok) { throw new Error("diagram " + response.status); } return response.json(); })
    .then(function (data) {
      box.textContent = "";
      var viewer = new window.BpmnJS({ container: box });
      return viewer.importXML(data.xml).then(function () {
        var canvas = viewer.get("canvas");
        var registry = viewer.get("elementRegistry");
        if (!registry.filter(function (e) { return e.di && e.type !== "bpmn:Process" && e.type !== "bpmn:Collaboration"; }).length) {
          say("data-no-layout");
          box.setAttribute("data-ready", "1");
          return;
        }
        data.completed.forEach(function (id) { if (registry.get(id)) { canvas.addMarker(id, "done-task"); } });
        data.active.forEach(function (id) { if (registry.get(id)) { canvas.addMarker(id, "active-task"); } });
        // a flow is on the path taken when both its ends have run
        var ran = {};
        data.completed.concat(data.active).forEach(function (id) { ran[id] = true; });
        registry.filter(function (e) { return e.type === "bpmn:SequenceFlow"; }).forEach(function (flow) {
          if (flow.source && flow.target && ran[flow.source.id] && ran[flow.target.id]) { canvas.addMarker(flow.id, "done-flow"); }
        });
        canvas.zoom("fit-viewport");
      });
    })
    .catch(function (error) {
      // bpmn-js refuses a document without a BPMNDiagram: "no diagram to display"
      var bare = /no diagram to display/.test(String(error && error.message));
      say(bare ? "data-no-layout" : "data-failed");
      if (!bare) { box.classList.add("diagram-failed"); }
    });
})();
