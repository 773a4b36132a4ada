// The admin's modeler (/admin/modeler, /admin/definitions/<key>/<version>/edit): bpmn-js's modeler with
// the properties panel and the Camunda 7 moddle extension; validate as you draw (the deploy checks of
// POST /admin/validate, on demand and 800 ms after the last edit), each problem marked at its element
// and listed beside the diagram; the forms deployed with the model, edited as JSON with a live preview
// rendered by the server's form renderer; the .dmn files deployed with it, attached and shown
// read-only (no DMN editor); deploy with a comment. No inline scripts (CSP): the page's
// data-* attributes carry the URLs, the CSRF token and the translated words.
(function () {
  "use strict";
  var root = document.getElementById("modeler-root");
  if (!root || !window.BpmnJS || !window.BpmnJSPropertiesPanel) { return; }
  var data = function (name) { return root.getAttribute("data-" + name) || ""; };
  var t = function (name) { return data("t-" + name); };
  var EDIT_DELAY = 800;
  var NEW_DIAGRAM = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI"',
    ' xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" xmlns:camunda="http://camunda.org/schema/1.0/bpmn"',
    ' id="definitions" targetNamespace="http://bpmn.io/schema/bpmn">',
    '<bpmn:process id="new_process" name="New process" isExecutable="true"><bpmn:startEvent id="start"/></bpmn:process>',
    '<bpmndi:BPMNDiagram id="diagram"><bpmndi:BPMNPlane id="plane" bpmnElement="new_process">',
    '<bpmndi:BPMNShape id="start_di" bpmnElement="start"><dc:Bounds x="180" y="160" width="36" height="36"/></bpmndi:BPMNShape>',
    "</bpmndi:BPMNPlane></bpmndi:BPMNDiagram></bpmn:definitions>"
  ].join("");

  // The properties panel's and palette's own words in Chinese (bpmn-js's `translate` service, replaced
  // by a module: no bundler needed); words not listed stay English.
  var ZH = {
    "General": "常规", "Name": "名称", "ID": "标识 (ID)", "Documentation": "说明", "Element documentation": "元素说明",
    "Process documentation": "流程说明", "Executable": "可执行", "Version tag": "版本标签",
    "User assignment": "任务分配", "Assignee": "办理人", "Candidate groups": "候选组", "Candidate users": "候选用户",
    "Due date": "期限", "Follow up date": "跟进时间", "Priority": "优先级", "Form": "表单", "Form key": "表单标识",
    "Type": "类型", "Condition": "条件", "Expression": "表达式", "Timer": "定时器", "Message": "消息",
    "Extension properties": "扩展属性", "Execution listeners": "执行监听器", "Task listeners": "任务监听器",
    "Asynchronous continuations": "异步继续", "Inputs": "输入", "Outputs": "输出",
    "Create start event": "创建开始事件", "Create end event": "创建结束事件", "Create gateway": "创建网关",
    "Create task": "创建任务", "Create pool/participant": "创建泳池", "Activate hand tool": "抓手工具",
    "Activate lasso tool": "套索工具", "Activate create/remove space tool": "空间工具",
    "Activate global connect tool": "连线工具", "Append task": "追加任务", "Append gateway": "追加网关",
    "Append end event": "追加结束事件", "Delete": "删除", "Change element": "更换元素类型", "Connect to other element": "连线",
    // help texts under the fields an admin edits most (the panel's other help texts stay English)
    "Specify more than one group as a comma separated list.": "多个组请用英文逗号分隔。",
    "Specify more than one user as a comma separated list.": "多个用户请用英文逗号分隔。",
    "The due date as an EL expression (e.g. ${someDate}) or an ISO date (e.g. 2015-06-26T09:54:00).":
      "期限：EL 表达式（如 ${someDate}）或 ISO 日期（如 2015-06-26T09:54:00）；本系统也接受 ISO 时长，如 PT24H。",
    "The follow up date as an EL expression (e.g. ${someDate}) or an ISO date (e.g. 2015-06-26T09:54:00).":
      "跟进时间：EL 表达式（如 ${someDate}）或 ISO 日期（如 2015-06-26T09:54:00）。",
    "A time duration defined as ISO 8601 durations format.": "ISO 8601 时长格式，如 PT2H（2 小时）、P3D（3 天）。",
    "A specific point in time defined as ISO 8601 combined date and time representation.": "ISO 8601 日期时间，如 2026-12-31T09:00:00。",
    "A cycle defined as ISO 8601 repeating intervals format.": "ISO 8601 重复间隔格式，如 R3/PT10H。",
    "Custom form key": "自定义表单标识", "Candidate starter groups": "可发起的组", "Candidate starter users": "可发起的用户"
  };
  var translateModule = {
    translate: ["value", function (template, replacements) {
      var text = (document.documentElement.lang === "zh-CN" && ZH[template]) || template;
      return text.replace(/{([^}]+)}/g, function (_, key) { return replacements && key in replacements ? replacements[key] : "{" + key + "}"; });
    }]
  };

  var modeler = null;
  var forms = {};  // form key -> {box, text, preview, error}
  var editTimer = null;
  var checkSeq = 0;
  var status = document.getElementById("m-status");
  var list = document.getElementById("m-problems");

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": data("csrf"), Accept: "application/json, text/html" },
      body: JSON.stringify(body)
    });
  }

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (_, name) { return values[name] === undefined ? "" : String(values[name]); });
  }

  // --- DMN documents deployed with the model: attached as files, shown read-only ---------------------
  var dmnFiles = {};  // file name -> {xml, box, body}

  function collectDmn() {
    return Object.keys(dmnFiles).sort().map(function (name) { return { name: name, xml: dmnFiles[name].xml }; });
  }

  function cell(row, text, tag) {
    var element = document.createElement(tag || "td");
    element.textContent = text;
    row.appendChild(element);
    return element;
  }

  function decisionTable(decisions) {
    var table = document.createElement("table");
    table.className = "decisions";
    var head = document.createElement("tr");
    ["decision", "hit-policy", "inputs", "outputs", "rules"].forEach(function (name) {
      cell(head, t(name), "th").setAttribute("scope", "col");
    });
    table.appendChild(document.createElement("thead")).appendChild(head);
    var body = table.appendChild(document.createElement("tbody"));
    decisions.forEach(function (d) {
      var row = body.appendChild(document.createElement("tr"));
      row.setAttribute("data-decision", d.id);
      cell(row, d.id + (d.name ? " · " + d.name : ""));
      cell(row, d.hit_policy + (d.aggregation ? " (" + d.aggregation + ")" : ""));
      cell(row, d.inputs.map(function (i) { return i.label || i.expression || ""; }).join(", "));
      cell(row, d.outputs.join(", "));
      cell(row, String(d.rules)).className = "num";
    });
    var wrap = document.createElement("div");
    wrap.className = "table-wrap";
    wrap.appendChild(table);
    return wrap;
  }

  function showDecisions(byDocument) {
    Object.keys(dmnFiles).forEach(function (name) {
      var entry = dmnFiles[name];
      var decisions = byDocument[name];
      entry.body.textContent = "";
      if (decisions && decisions.length) {
        entry.body.appendChild(decisionTable(decisions));
      } else {
        cell(entry.body, t("no-decisions"), "p").className = "muted";
      }
    });
  }

  function attachDmn(name, xml, opening) {  // opening a version: its diagram's check reads them
    if (dmnFiles[name]) { dmnFiles[name].xml = xml; scheduleCheck(); return; }
    var box = document.createElement("div");
    box.className = "dmn-file card";
    box.setAttribute("data-dmn", name);
    var head = document.createElement("div");
    head.className = "form-editor-head";
    cell(head, name, "h3");
    var remove = document.createElement("button");
    remove.type = "button";
    remove.className = "button";
    remove.textContent = t("remove");
    head.appendChild(remove);
    var body = document.createElement("div");
    box.appendChild(head);
    box.appendChild(body);
    document.getElementById("m-dmn").appendChild(box);
    dmnFiles[name] = { xml: xml, box: box, body: body };
    remove.addEventListener("click", function () { box.remove(); delete dmnFiles[name]; scheduleCheck(); });
    if (!opening) { scheduleCheck(); }
  }

  document.getElementById("m-dmn-upload").addEventListener("change", function (event) {
    Array.prototype.forEach.call(event.target.files || [], function (file) {
      file.text().then(function (xml) { attachDmn(file.name, xml); }).catch(function (e) { status.textContent = e.message; });
    });
    event.target.value = "";
  });

  // --- forms deployed with the model -------------------------------------------------------------
  function collectForms() {
    var result = {};
    var broken = null;
    Object.keys(forms).forEach(function (key) {
      try { result[key] = JSON.parse(forms[key].text.value); } catch (e) { broken = broken || { key: key, message: e.message }; }
    });
    return { forms: result, broken: broken };
  }

  function previewForm(key) {
    var entry = forms[key];
    if (!entry) { return; }
    var schema;
    try { schema = JSON.parse(entry.text.value); } catch (e) {
      entry.error.textContent = "JSON: " + e.message;
      return;
    }
    post(data("preview"), { key: key, schema: schema }).then(function (response) {
      var type = response.headers.get("Content-Type") || "";
      if (response.ok && type.indexOf("text/html") === 0) {
        return response.text().then(function (html) { entry.error.textContent = ""; entry.preview.innerHTML = html; });
      }
      return response.json().then(function (body) { entry.error.textContent = body.error.message; });
    }).catch(function () { entry.error.textContent = fill(t("failed"), { status: "—" }); });
  }

  function addForm(key, schema) {
    if (forms[key]) { forms[key].text.focus(); return; }
    var box = document.createElement("div");
    box.className = "form-editor card";
    box.setAttribute("data-form", key);
    var head = document.createElement("div");
    head.className = "form-editor-head";
    var title = document.createElement("h3");
    title.textContent = key;
    var remove = document.createElement("button");
    remove.type = "button";
    remove.className = "button";
    remove.textContent = t("remove");
    head.appendChild(title);
    head.appendChild(remove);
    var label = document.createElement("label");
    label.className = "visually-hidden";
    label.setAttribute("for", "form-json-" + key);
    label.textContent = key + " JSON Schema";
    var text = document.createElement("textarea");
    text.id = "form-json-" + key;
    text.className = "form-json mono";
    text.rows = 14;
    text.spellcheck = false;
    text.value = JSON.stringify(schema, null, 2);
    var error = document.createElement("p");
    error.className = "field-error form-error";
    error.setAttribute("role", "alert");
    var preview = document.createElement("div");
    preview.className = "form-preview";
    preview.setAttribute("aria-label", t("preview") + " " + key);
    var columns = document.createElement("div");
    columns.className = "form-editor-columns";
    var left = document.createElement("div");
    left.appendChild(label);
    left.appendChild(text);
    left.appendChild(error);
    columns.appendChild(left);
    columns.appendChild(preview);
    box.appendChild(head);
    box.appendChild(columns);
    document.getElementById("m-forms").appendChild(box);
    var timer = null;
    forms[key] = { box: box, text: text, preview: preview, error: error };
    text.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { previewForm(key); scheduleCheck(); }, EDIT_DELAY);
    });
    remove.addEventListener("click", function () { box.remove(); delete forms[key]; scheduleCheck(); });
    previewForm(key);
  }

  document.getElementById("m-add-form").addEventListener("click", function () {
    var input = document.getElementById("m-form-key");
    var key = input.value.trim();
    if (!/^[a-z][a-z0-9_]{0,63}$/.test(key)) { input.setCustomValidity(t("form-key")); input.reportValidity(); return; }
    input.setCustomValidity("");
    addForm(key, {
      title: key, type: "object", additionalProperties: false, required: ["note"],
      properties: { note: { type: "string", title: "Note", maxLength: 500 } }
    });
    input.value = "";
    scheduleCheck();
  });

  // --- problems at their elements ------------------------------------------------------------------
  function clearProblems() {
    var overlays = modeler.get("overlays");
    var canvas = modeler.get("canvas");
    overlays.remove({ type: "problem" });
    modeler.get("elementRegistry").forEach(function (element) {
      canvas.removeMarker(element.id, "problem-error");
      canvas.removeMarker(element.id, "problem-warning");
    });
    list.textContent = "";
  }

  function showProblems(problems) {
    clearProblems();
    var registry = modeler.get("elementRegistry");
    var canvas = modeler.get("canvas");
    var overlays = modeler.get("overlays");
    var top = canvas.getRootElement();
    problems.forEach(function (problem) {
      var element = problem.element_id ? registry.get(problem.element_id) : null;
      var onCanvas = element && element !== top && element.type !== "label";
      if (onCanvas) {
        canvas.addMarker(element.id, "problem-" + problem.level);
        var badge = document.createElement("div");
        badge.className = "problem-badge problem-badge-" + problem.level;
        badge.textContent = problem.message;
        badge.title = problem.message;
        overlays.add(element.id, "problem", { position: { bottom: -6, left: 0 }, html: badge });
      }
      var item = document.createElement("li");
      item.className = "problem problem-" + problem.level;
      var button = document.createElement("button");
      button.type = "button";
      button.className = "link problem-link";
      var level = document.createElement("strong");
      level.textContent = t(problem.level) + " ";
      var where = document.createElement("code");
      where.textContent = problem.element_id || problem.form || t("whole");
      button.appendChild(level);
      button.appendChild(where);
      button.appendChild(document.createTextNode(" " + problem.message));
      button.setAttribute("data-element", problem.element_id || "");
      button.addEventListener("click", function () {
        if (!onCanvas) { return; }
        modeler.get("selection").select(element);
        canvas.scrollToElement(element);
      });
      item.appendChild(button);
      list.appendChild(item);
    });
    status.textContent = problems.length ? "" : t("no-problems");
  }

  function check() {
    var seq = ++checkSeq;
    var collected = collectForms();
    status.textContent = t("checking");
    return modeler.saveXML({ format: false }).then(function (saved) {
      return post(data("validate"), { bpmn: saved.xml, forms: collected.forms, dmn: collectDmn() });
    }).then(function (response) {
      return response.json().then(function (body) {
        if (seq !== checkSeq) { return; }  // a later check is under way
        var problems = [];
        var level = function (name) {
          return function (d) { return { element_id: d.element_id, form: d.form, message: d.message, level: name }; };
        };
        if (response.ok) {
          problems = body.errors.map(level("error")).concat(body.warnings.map(level("warning")));
        } else if (body.error) {
          problems = [{ element_id: null, message: body.error.message, level: "error" }];
        }
        if (collected.broken) {
          problems.unshift({ element_id: null, form: collected.broken.key, message: "JSON: " + collected.broken.message, level: "error" });
        }
        showProblems(problems);
        showDecisions(body.decisions || {});
        root.setAttribute("data-checked", String(seq));
      });
    }).catch(function () { status.textContent = fill(t("failed"), { status: "—" }); });
  }

  function scheduleCheck() {
    clearTimeout(editTimer);
    editTimer = setTimeout(check, EDIT_DELAY);
  }

  // --- open, upload, download, deploy ---------------------------------------------------------------
  function open(xml) {
    return modeler.importXML(xml).then(function () {
      modeler.get("canvas").zoom("fit-viewport", "auto");
      return check();
    });
  }

  document.getElementById("m-new").addEventListener("click", function () { open(NEW_DIAGRAM); });
  document.getElementById("m-validate").addEventListener("click", function () { clearTimeout(editTimer); check(); });
  document.getElementById("m-upload").addEventListener("change", function (event) {
    var file = event.target.files && event.target.files[0];
    if (!file) { return; }
    file.text().then(open).catch(function (e) { status.textContent = e.message; });
    event.target.value = "";
  });
  document.getElementById("m-download").addEventListener("click", function () {
    modeler.saveXML({ format: true }).then(function (saved) {
      var link = document.createElement("a");
      link.href = URL.createObjectURL(new Blob([saved.xml], { type: "application/xml" }));
      link.download = data("filename");
      document.body.appendChild(link);
      link.click();
      setTimeout(function () { URL.revokeObjectURL(link.href); link.remove(); }, 0);
    });
  });
  document.getElementById("m-deploy").addEventListener("click", function () {
    var result = document.getElementById("m-deploy-result");
    var collected = collectForms();
    if (collected.broken) { result.textContent = t("refused") + " " + collected.broken.key + ": " + collected.broken.message; return; }
    result.className = "";
    result.textContent = t("checking");
    modeler.saveXML({ format: true }).then(function (saved) {
      return post(data("deploy"), {
        bpmn: saved.xml, forms: collected.forms, dmn: collectDmn(), comment: document.getElementById("m-comment").value
      });
    }).then(function (response) {
      var type = response.headers.get("Content-Type") || "";
      if (type.indexOf("application/json") !== 0) { throw new Error(String(response.status)); }
      return response.json().then(function (body) {
        result.textContent = "";
        if (!response.ok) {
          result.className = "alert";
          result.textContent = t("refused") + " " + body.error.message;
          check();
          return;
        }
        var created = body.definitions.filter(function (d) { return d.created; });
        var first = body.definitions[0];
        result.className = "flash";
        result.textContent = created.length
          ? fill(t("deployed"), { what: created.map(function (d) { return d.key + " v" + d.version; }).join(", ") })
          : fill(t("unchanged"), { n: first.version });
        var link = document.createElement("a");
        link.href = data("versions") + "/" + encodeURIComponent(first.key);
        link.textContent = t("versions");
        result.appendChild(document.createTextNode(" "));
        result.appendChild(link);
      });
    }).catch(function (e) { result.className = "alert"; result.textContent = fill(t("failed"), { status: e.message }); });
  });

  // --- start ------------------------------------------------------------------------------------------
  fetch(data("moddle"), { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (camunda) {
    var canvasBox = document.getElementById("m-canvas");
    canvasBox.textContent = "";
    var panel = window.BpmnJSPropertiesPanel;
    modeler = new window.BpmnJS({
      container: canvasBox,
      propertiesPanel: { parent: "#m-panel" },
      additionalModules: [
        panel.BpmnPropertiesPanelModule, panel.BpmnPropertiesProviderModule, panel.CamundaPlatformPropertiesProviderModule,
        translateModule
      ],
      moddleExtensions: { camunda: camunda }
    });
    modeler.on("commandStack.changed", scheduleCheck);
    var source = data("source");
    if (!source) { return open(NEW_DIAGRAM); }
    return fetch(source, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.json(); })
      .then(function (body) {
        Object.keys(body.forms).sort().forEach(function (key) { addForm(key, body.forms[key]); });
        (body.dmn || []).forEach(function (d) { attachDmn(d.name, d.xml, true); });  // a redeploy keeps them
        return open(body.xml);
      });
  }).catch(function (e) { status.textContent = fill(t("failed"), { status: e.message }); });
})();
