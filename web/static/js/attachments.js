/* Fengqiao attachments: the upload form ([data-fq-upload]) sends each chosen file in its own request
 * with a progress bar, then reloads the page to show the new files. Without this script the form
 * posts all files at once and the server redirects back. No inline script: it runs under the CSP. */
(function () {
  "use strict";

  function sendOne(form, file, row) {
    return new Promise(function (resolve) {
      var data = new FormData();
      form.querySelectorAll("input[type=hidden]").forEach(function (input) {
        data.append(input.name, input.value);
      });
      var keep = form.querySelector("input[name=keep_location]");
      if (keep && keep.checked) {
        data.append("keep_location", "true");
      }
      data.append("file", file, file.name);
      var bar = row.querySelector("progress");
      var note = row.querySelector(".upload-note");
      var request = new XMLHttpRequest();
      request.open("POST", form.action);
      request.setRequestHeader("X-Requested-With", "fengqiao-upload");
      request.upload.addEventListener("progress", function (event) {
        if (event.lengthComputable) {
          bar.value = Math.round((event.loaded / event.total) * 100);
        }
      });
      request.addEventListener("load", function () {
        var ok = request.status === 201;
        bar.value = 100;
        if (ok) {
          note.textContent = form.getAttribute("data-fq-done");
        } else {
          var message = form.getAttribute("data-fq-failed");
          try {
            message = JSON.parse(request.responseText).error.message || message;
          } catch (ignored) {
            /* an HTML error page: keep the generic words */
          }
          note.textContent = message;
          row.classList.add("upload-failed");
        }
        resolve(ok);
      });
      request.addEventListener("error", function () {
        note.textContent = form.getAttribute("data-fq-failed");
        row.classList.add("upload-failed");
        resolve(false);
      });
      request.send(data);
    });
  }

  function upload(event) {
    var form = event.target;
    var files = [];
    form.querySelectorAll("input[type=file]").forEach(function (input) {
      Array.prototype.forEach.call(input.files, function (file) {
        files.push(file);
      });
    });
    if (!files.length) {
      return; /* the server answers the empty form */
    }
    event.preventDefault();
    var list = form.querySelector(".upload-progress");
    list.textContent = "";
    var button = form.querySelector("button[type=submit]");
    button.disabled = true;
    var sends = files.map(function (file) {
      var row = document.createElement("li");
      var name = document.createElement("span");
      name.textContent = file.name;
      var bar = document.createElement("progress");
      bar.max = 100;
      bar.value = 0;
      bar.setAttribute("aria-label", file.name);
      var note = document.createElement("span");
      note.className = "upload-note";
      row.appendChild(name);
      row.appendChild(bar);
      row.appendChild(note);
      list.appendChild(row);
      return sendOne(form, file, row);
    });
    Promise.all(sends).then(function (results) {
      button.disabled = false;
      if (results.every(Boolean)) {
        window.location.reload();
      }
    });
  }

  document.querySelectorAll("form[data-fq-upload]").forEach(function (form) {
    form.addEventListener("submit", upload);
  });
})();
