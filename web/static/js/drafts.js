/* Drafts: the task form is saved as its holder types (debounced) and when the page is left
 * (pagehide, with navigator.sendBeacon or fetch keepalive), as an ordinary form post carrying the
 * page's CSRF token; the server renders the saved draft into the form next time, on any device.
 * Without JavaScript nothing is saved and the form submits normally. */
(function () {
  "use strict";

  var DELAY = 1500; // ms of quiet typing before a save
  var form = document.querySelector("form[data-draft-url]");
  if (!form) {
    return;
  }
  var script = document.getElementById("drafts-script");
  var status = document.getElementById("draft-status");
  var url = form.getAttribute("data-draft-url");
  var timer = null;
  var dirty = false;
  var submitting = false;

  function say(key) {
    if (status && script) {
      status.textContent = script.getAttribute(key) || "";
    }
  }

  function save(leaving) {
    if (!dirty || submitting) {
      return;
    }
    dirty = false;
    var body = new FormData(form);
    if (leaving && navigator.sendBeacon && navigator.sendBeacon(url, body)) {
      return;
    }
    fetch(url, { method: "POST", body: body, credentials: "same-origin", keepalive: !!leaving })
      .then(function (response) {
        say(response.ok ? "data-saved" : "data-failed");
      })
      .catch(function () {
        say("data-failed");
      });
  }

  function changed() {
    dirty = true;
    clearTimeout(timer);
    timer = setTimeout(function () {
      save(false);
    }, DELAY);
  }

  form.addEventListener("input", changed);
  form.addEventListener("change", changed);
  form.addEventListener("submit", function () {
    submitting = true; // the completion removes the draft: do not write it back
    clearTimeout(timer);
  });
  window.addEventListener("pagehide", function () {
    clearTimeout(timer);
    save(true);
  });
})();
