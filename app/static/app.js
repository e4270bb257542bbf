// Attest front-end start-up: no inline scripts (the Content-Security-Policy forbids them).
import { initAll } from "./govuk-frontend-5.14.0/govuk-frontend.min.js";

document.body.classList.add("js-enabled", "govuk-frontend-supported");
initAll();

// Toasts added by error responses disappear after a while.
document.body.addEventListener("htmx:afterSwap", (event) => {
  if (event.detail.target && event.detail.target.id === "toasts") {
    const toast = event.detail.target.lastElementChild;
    if (toast) setTimeout(() => toast.remove(), 8000);
  }
});

// The evidence drop zone lives in upload.js.

// The work view's row saves, errors and focus live in workview.js.
import "./workview.js";
