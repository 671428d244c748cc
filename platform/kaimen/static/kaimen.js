// Progressive enhancement only: every page works without it.
// Move focus to a form's error summary, so a screen reader reads it first.
document.addEventListener("DOMContentLoaded", function () {
  var summary = document.querySelector("[data-autofocus]");
  if (summary) { summary.focus(); }
});
