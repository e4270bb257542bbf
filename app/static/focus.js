// After a form is sent, move focus to what the page has to say about it (issue 15 item 9): the
// error summary when something was refused, else the success banner. Screen readers then read it
// out and keyboard users continue from there instead of the top of the page. Without JavaScript
// the same elements carry `autofocus` and `tabindex="-1"`. No inline scripts: the CSP forbids them.
const TARGETS = [".govuk-error-summary", ".govuk-notification-banner--success"];

function focusFirst(root) {
  for (const selector of TARGETS) {
    const element = root.querySelector(selector);
    if (element) {
      if (!element.hasAttribute("tabindex")) element.setAttribute("tabindex", "-1");
      element.focus();
      element.scrollIntoView({ block: "start" });
      return true;
    }
  }
  return false;
}

focusFirst(document);

// htmx swaps a form's section in place (outerHTML, same id): focus what the new section says.
document.body.addEventListener("htmx:afterSwap", (event) => {
  const id = event.detail && event.detail.target ? event.detail.target.id : "";
  const fresh = id && id !== "toasts" ? document.getElementById(id) : null;
  if (fresh) focusFirst(fresh);
});
