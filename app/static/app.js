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

// Evidence drop zone: drag and drop or choose several files; each is sent on its own with a
// progress bar. Without JavaScript the form posts normally (one file).
function csrfToken() {
  const raw = document.body.getAttribute("hx-headers") || "{}";
  try { return JSON.parse(raw)["X-CSRF-Token"] || ""; } catch { return ""; }
}

function sendFile(form, file) {
  return new Promise((resolve, reject) => {
    const data = new FormData(form);
    data.delete("file");
    data.append("file", file, file.name);
    if (!data.get("title")) data.set("title", file.name);
    const request = new XMLHttpRequest();
    request.open("POST", form.dataset.uploadUrl);
    request.setRequestHeader("X-CSRF-Token", csrfToken());
    request.setRequestHeader("Accept", "application/json");
    const progress = form.querySelector("#upload-progress");
    progress.hidden = false;
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) progress.value = Math.round((100 * event.loaded) / event.total);
    });
    request.addEventListener("load", () => {
      if (request.status === 201) resolve(file.name);
      else {
        let message = `${file.name}: upload failed (${request.status})`;
        try { message = `${file.name}: ${JSON.parse(request.responseText).error.message}`; } catch { /* keep */ }
        reject(new Error(message));
      }
    });
    request.addEventListener("error", () => reject(new Error(`${file.name}: the connection failed`)));
    request.send(data);
  });
}

async function uploadAll(form, files) {
  const status = form.querySelector("#upload-status");
  const problems = [];
  for (const file of files) {
    status.textContent = `Uploading ${file.name}…`;
    try { await sendFile(form, file); } catch (error) { problems.push(error.message); }
  }
  if (problems.length) { status.textContent = problems.join(" "); return; }
  window.location.reload();
}

const dropzone = document.getElementById("upload-form");
if (dropzone) {
  const input = dropzone.querySelector("input[type=file]");
  dropzone.addEventListener("submit", (event) => {
    event.preventDefault();
    if (input.files.length) uploadAll(dropzone, Array.from(input.files));
  });
  ["dragenter", "dragover"].forEach((name) => dropzone.addEventListener(name, (event) => {
    event.preventDefault();
    dropzone.classList.add("attest-dropzone--over");
  }));
  ["dragleave", "drop"].forEach((name) => dropzone.addEventListener(name, () => {
    dropzone.classList.remove("attest-dropzone--over");
  }));
  dropzone.addEventListener("drop", (event) => {
    event.preventDefault();
    uploadAll(dropzone, Array.from(event.dataTransfer.files));
  });
}
