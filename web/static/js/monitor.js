// The console's monitoring diagrams (docs/admin.md), in bpmn-js's navigated viewer:
// - a definition version with, on each element, how many running cases wait there and how many of
//   those are past their deadline (data-counts: {xml, elements: {id: {waiting, breached}}});
// - a case with its active, completed and failed elements (data-source: {xml, active, completed, failed}).
// CSP: no inline scripts; the data comes from the page's data-* URL.
(function () {
  "use strict";
  var box = document.getElementById("diagram");
  if (!box || !window.BpmnJS) { return; }
  var url = box.getAttribute("data-counts") || box.getAttribute("data-source");
  var counting = box.hasAttribute("data-counts");
  var zh = (document.documentElement.lang || "").indexOf("zh") === 0;

  function say(attribute) { window.fengqiaoDiagramNote(box, attribute); }

  function badge(counts) {
    var node = document.createElement("div");
    node.className = "element-count";
    var waiting = document.createElement("span");
    waiting.className = "waiting";
    waiting.textContent = String(counts.waiting);
    waiting.title = zh ? "等待中的案件" : "cases waiting here";
    node.appendChild(waiting);
    if (counts.breached) {
      var late = document.createElement("span");
      late.className = "breached";
      late.textContent = String(counts.breached);
      late.title = zh ? "已超期" : "past their deadline";
      node.appendChild(late);
    }
    return node;
  }

  fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
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
        if (counting) {
          var overlays = viewer.get("overlays");
          Object.keys(data.elements).forEach(function (id) {
            if (!registry.get(id)) { return; }
            overlays.add(id, "element-count", { position: { bottom: 10, left: -8 }, html: badge(data.elements[id]) });
            canvas.addMarker(id, "active-task");
          });
          box.setAttribute("data-counted", Object.keys(data.elements).join(","));
        } else {
          data.completed.forEach(function (id) { if (registry.get(id)) { canvas.addMarker(id, "done-task"); } });
          data.active.forEach(function (id) { if (registry.get(id)) { canvas.addMarker(id, "active-task"); } });
          data.failed.forEach(function (id) { if (registry.get(id)) { canvas.addMarker(id, "failed-task"); } });
        }
        canvas.zoom("fit-viewport");
        box.setAttribute("data-ready", "1");
      });
    })
    .catch(function (error) {
      // bpmn-js refuses a document without a BPMNDiagram: "no diagram to display"
      var bare = /no diagram to display/.test(String(error && error.message));
      say(bare ? "data-no-layout" : "data-failed");
      if (!bare) { box.classList.add("diagram-failed"); }
    });
})();
