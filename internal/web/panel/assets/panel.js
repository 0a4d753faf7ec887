// tsunagi control panel: the little behaviour the pages need beyond HTML
// forms and htmx. Served from /assets (the Content-Security-Policy allows
// no inline script).
//
// A form or button with data-confirm asks before it submits; the text is
// the page's own, already in the reader's language.
(function () {
  "use strict";
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    var btn = ev.submitter;
    var text = (btn && btn.getAttribute("data-confirm")) || form.getAttribute("data-confirm");
    if (text && !window.confirm(text)) {
      ev.preventDefault();
    }
  }, true);
})();
