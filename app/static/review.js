// The review page (templates/reviews/review.html): a comment saved with htmx that the server
// refuses (422, e.g. an empty comment) comes back as the comment box with its message and the
// text typed, so swap it in like a success instead of dropping it.
document.body.addEventListener("htmx:beforeSwap", (event) => {
  const form = event.detail.requestConfig && event.detail.requestConfig.elt;
  if (!form || !form.matches || !form.matches(".attest-comment-form")) return;
  if (event.detail.xhr.status === 422) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});
