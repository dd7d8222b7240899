// Progressive enhancement only: every page works without this file.
// After a failed submission, move focus to the message that says what went wrong, so that
// screen reader and keyboard users start from it (the summary's links lead on to each field).
document.addEventListener("DOMContentLoaded", function () {
  var message = document.querySelector(".error-summary, .stale, .refusal");
  if (message) {
    message.focus();
  }
});
