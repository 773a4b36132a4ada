// Two versions side by side (/admin/definitions/<key>/diff): each in bpmn-js's navigated viewer, the
// elements the server's comparison found added (new version), removed (old version) or changed (both)
// marked. The comparison comes in the page's data-diff attribute; the XML from each viewer's data-source.
(function () {
  "use strict";
  var pair = document.getElementById("diff");
  if (!pair || !window.BpmnJS) { return; }
  var diff = JSON.parse(pair.getAttribute("data-diff"));
  var changed = diff.changed.map(function (c) { return c.element_id; });

  function show(box, marks) {
    return fetch(box.getAttribute("data-source"), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { if (!response.ok) { throw new Error("source " + response.status); } return response.json(); })
      .then(function (data) {
        var viewer = new window.BpmnJS({ container: box });
        return viewer.importXML(data.xml).then(function () {
          var canvas = viewer.get("canvas");
          var registry = viewer.get("elementRegistry");
          Object.keys(marks).forEach(function (marker) {
            marks[marker].forEach(function (id) { if (registry.get(id)) { canvas.addMarker(id, marker); } });
          });
          canvas.zoom("fit-viewport");
          box.setAttribute("data-ready", "true");
        });
      })
      .catch(function () { box.classList.add("diagram-failed"); });
  }

  show(document.getElementById("diff-old"), { "diff-removed": diff.removed, "diff-changed": changed });
  show(document.getElementById("diff-new"), { "diff-added": diff.added, "diff-changed": changed });
})();
