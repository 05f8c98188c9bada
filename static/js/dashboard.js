// Progressive enhancement for the dashboard. Every control still works as a plain link or form.
(function () {
  "use strict";

  function announce(text, kind) {
    var region = document.getElementById("messages");
    if (!region) return;
    var p = document.createElement("p");
    p.className = "message message-" + (kind || "info");
    p.textContent = text;
    region.replaceChildren(p);
  }

  // Copy buttons: <button data-copy="text">.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    event.preventDefault();
    var text = button.getAttribute("data-copy");
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(
        function () { announce("Copied " + text + " to the clipboard.", "success"); },
        function () { announce("Could not copy; select the id and copy it by hand.", "warning"); }
      );
    } else {
      announce("Copying needs a secure (https) page; select the id and copy it by hand.", "warning");
    }
  });

  // Confirmation dialogs: <a href="confirm-page" data-dialog-open="dialog-id">. Without JavaScript the
  // link opens the confirmation page instead.
  document.addEventListener("click", function (event) {
    var opener = event.target.closest("[data-dialog-open]");
    if (opener) {
      var dialog = document.getElementById(opener.getAttribute("data-dialog-open"));
      if (!dialog || typeof dialog.showModal !== "function") return;
      event.preventDefault();
      dialog.showModal();
      var safe = dialog.querySelector("[data-dialog-cancel]");
      if (safe) safe.focus();
      return;
    }
    var cancel = event.target.closest("[data-dialog-cancel]");
    if (cancel) {
      var parent = cancel.closest("dialog");
      if (parent) { event.preventDefault(); parent.close(); }
    }
  });

  // A dialog whose form was submitted with htmx closes once the answer is in, unless the answer (422)
  // puts what to correct on the dialog's own fields.
  document.addEventListener("htmx:afterRequest", function (event) {
    var dialog = event.target.closest && event.target.closest("dialog[open]");
    var correct = event.detail.xhr && event.detail.xhr.status === 422;
    if (dialog && event.target.tagName === "FORM" && !correct) dialog.close();
  });

  // A 503 with X-Dashboard-Outage comes from customers/pages.py: the database is not answering.
  var OUTAGE_MESSAGES = {
    "database": "The dashboard's database is not answering; nothing was changed. Wait a minute, then reload the page.",
    "database-after-change": "The dashboard's database stopped answering after a change was sent to Tatum, so it may have been made. Wait a minute, then reload the page to see what Tatum holds before trying again."
  };
  // htmx drops error responses; the server answers user-facing errors with 200 partials, so these
  // only fire for transport failures, unexpected errors and a database that is not answering.
  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    var status = xhr ? xhr.status : "";
    var rid = xhr ? xhr.getResponseHeader("X-Request-ID") : "";
    var outage = xhr ? OUTAGE_MESSAGES[xhr.getResponseHeader("X-Dashboard-Outage")] : "";
    var text = outage || "Something went wrong (" + status + "). Reload the page and try again.";
    announce(text + (rid ? " Request " + rid + "." : ""), "error");
  });
  document.addEventListener("htmx:sendError", function () {
    announce("The dashboard could not be reached. Check your connection and try again.", "error");
  });

  // A form that comes back with 422 holds what to correct on its fields: htmx swaps it in like a 200.
  document.addEventListener("htmx:beforeSwap", function (event) {
    if (event.detail.xhr && event.detail.xhr.status === 422) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    if (!event.detail.xhr || event.detail.xhr.status !== 422) return;
    var field = event.detail.elt.querySelector('[aria-invalid="true"]');
    if (field) field.focus();
  });

  // Keyboard: "/" focuses the page's search box (the one marked aria-keyshortcuts="/"), unless the user
  // is typing in a field or holds a modifier key.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
    var target = event.target;
    if (target.isContentEditable || (target.closest && target.closest("input, textarea, select, [contenteditable]"))) return;
    if (document.querySelector("dialog[open]")) return;
    var box = document.querySelector('[aria-keyshortcuts="/"]');
    if (!box) return;
    event.preventDefault();
    box.focus();
    if (typeof box.select === "function") box.select();
  });
})();

// Export form: choosing a filter switches the scope to "Only customers matching"; setting every filter
// back to Any switches it to "All customers". Without JavaScript the server asks the user to choose.
(function () {
  "use strict";
  document.addEventListener("change", function (event) {
    var group = event.target.closest && event.target.closest("[data-export-filters]");
    if (!group || !event.target.form) return;
    var chosen = Array.prototype.some.call(group.querySelectorAll("select"), function (select) {
      return select.value !== "";
    });
    var radio = event.target.form.querySelector('input[name="scope"][value="' + (chosen ? "filtered" : "all") + '"]');
    if (radio) radio.checked = true;
  });
})();
