// Evidence drop zone (templates/evidence/_dropzone.html). A dropped or chosen file is not sent at
// once: it gets a small form of its own (title from the file name, kind, marking, dates) and is
// sent when its "Upload" is pressed, with a progress bar that turns into an error state carrying
// the server's message for people. Identical bytes already in the library are offered instead of
// a second copy. Without JavaScript the form posts normally (one file). No inline scripts: the
// Content-Security-Policy forbids them; every text below is set with textContent.

const DATES = ["effective_on", "expires_on"];
const PARTS = ["day", "month", "year"];
const FIELDS = ["title", "kind", "marking", ...DATES.flatMap((name) => PARTS.map((part) => `${name}-${part}`))];
// The words in a file's name that say what kind of document it is ("ISMS_Policy_v3.pdf": policy).
const KIND_WORDS = [
  ["policy", /polic(y|ies)/],
  ["procedure", /procedure|process|runbook|playbook/],
  ["certificate", /certificate|cert\b|iso.?27001|cyber.?essentials/],
  ["report", /report|assessment|audit|pen.?test|ithc/],
  ["screenshot", /screen.?shot|screen.?capture/],
];
let counter = 0;

function csrfToken() {
  const raw = document.body.getAttribute("hx-headers") || "{}";
  try { return JSON.parse(raw)["X-CSRF-Token"] || ""; } catch { return ""; }
}

// "access_control_policy.pdf" -> "access control policy" (the server's default_title does the same).
export function defaultTitle(name) {
  const dot = name.lastIndexOf(".");
  const stem = dot > 0 ? name.slice(0, dot) : name;
  return stem.replace(/_/g, " ").replace(/\s+/g, " ").trim().slice(0, 200) || name;
}

// What the name of a file suggests for its form: a kind, OFFICIAL-SENSITIVE when it says so,
// and an effective date when it carries one (2025-04-01, 2025_04_01 or 20250401).
export function defaultsFromName(name) {
  const lower = name.toLowerCase().replace(/[_.]+/g, " ");
  const kind = (KIND_WORDS.find(([, words]) => words.test(lower)) || ["other"])[0];
  const marking = /official[ -]?sensitive/.test(lower) ? "OFFICIAL-SENSITIVE" : "OFFICIAL";
  const found = name.match(/(?:^|[^0-9])((?:19|20)[0-9]{2})[-_]?(0[1-9]|1[0-2])[-_]?(0[1-9]|[12][0-9]|3[01])(?![0-9])/);
  let effective = null;
  if (found) {
    const [year, month, day] = found.slice(1, 4).map(Number);
    const real = new Date(Date.UTC(year, month - 1, day)).getUTCDate() === day; // not 30 February
    if (real) effective = { year: String(year), month: String(month), day: String(day) };
  }
  return { kind, marking, effective };
}

function slot(item, name) { return item.querySelector(`[data-slot="${name}"]`); }
function field(item, name) { return item.querySelector(`[data-field="${name}"]`); }

function announce(zone, text) { zone.querySelector("#upload-status").textContent = text; }

// One file's small form, from the <template>, with ids of its own so every label works.
function addItem(zone, file) {
  const template = zone.querySelector("#upload-item-template");
  const item = template.content.firstElementChild.cloneNode(true);
  counter += 1;
  for (const name of FIELDS) {
    const input = field(item, name);
    input.id = `upload-${counter}-${name}`;
    item.querySelector(`[data-for="${name}"]`).htmlFor = input.id;
  }
  for (const name of DATES) {
    const hint = item.querySelector(`[data-hint="${name}"]`);
    hint.id = `upload-${counter}-${name}-hint`;
    item.querySelector(`[data-describe="${name}"]`).setAttribute("aria-describedby", hint.id);
  }
  slot(item, "name").textContent = `${file.name} (${formatSize(file.size)})`;
  field(item, "title").value = defaultTitle(file.name);
  const defaults = defaultsFromName(file.name);
  field(item, "kind").value = defaults.kind;
  field(item, "marking").value = defaults.marking;
  if (defaults.effective) {
    for (const part of PARTS) field(item, `effective_on-${part}`).value = defaults.effective[part];
  }
  item.uploadFile = file;
  item.querySelector('[data-action="upload"]').addEventListener("click", () => send(zone, item));
  item.querySelector('[data-action="remove"]').addEventListener("click", () => {
    item.remove();
    announce(zone, `${file.name} removed.`);
  });
  zone.querySelector("#upload-queue").append(item);
  return item;
}

function formatSize(bytes) {
  if (bytes >= 1024 * 1024) return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
  if (bytes >= 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${bytes} bytes`;
}

function addFiles(zone, files) {
  const items = files.map((file) => addItem(zone, file));
  if (items.length) {
    field(items[0], "title").focus();
    const names = files.length === 1 ? files[0].name : `${files.length} files`;
    announce(zone, `${names} ready: check the details, then press Upload.`);
  }
}

function setBusy(item, busy) {
  for (const control of item.querySelectorAll("input, select, button")) control.disabled = busy;
}

function clearState(item) {
  item.classList.remove("attest-upload-item--error", "attest-upload-item--done");
  const error = slot(item, "error");
  error.hidden = true;
  error.textContent = "";
  slot(item, "result").hidden = true;
  slot(item, "result").textContent = "";
  slot(item, "progress").classList.remove("attest-progress--error");
}

function showError(zone, item, message) {
  const progress = slot(item, "progress");
  progress.classList.add("attest-progress--error");
  progress.value = progress.max;
  item.classList.add("attest-upload-item--error");
  const error = slot(item, "error");
  const prefix = document.createElement("span");
  prefix.className = "govuk-visually-hidden";
  prefix.textContent = "Error: ";
  error.replaceChildren(prefix, document.createTextNode(message));
  error.hidden = false;
  setBusy(item, false);
  announce(zone, `${item.uploadFile.name}: ${message}`);
}

function button(text, className, onClick) {
  const element = document.createElement("button");
  element.type = "button";
  element.className = `govuk-button ${className}`;
  element.textContent = text;
  element.addEventListener("click", onClick);
  return element;
}

// A plain POST (Post/Redirect/Get back to the control) linking the library item to this control.
function linkExisting(zone, evidenceId) {
  const form = document.createElement("form");
  form.method = "post";
  form.action = zone.dataset.linkUrl;
  for (const [name, value] of [["csrf_token", csrfToken()], ["evidence_id", evidenceId]]) {
    const input = document.createElement("input");
    input.type = "hidden";
    input.name = name;
    input.value = value;
    form.append(input);
  }
  document.body.append(form);
  form.submit();
}

function showDuplicate(zone, item, details) {
  slot(item, "progress").hidden = true;
  const result = slot(item, "result");
  const text = document.createElement("p");
  text.className = "govuk-body govuk-!-font-weight-bold";
  text.append("You already have this file: ");
  const link = document.createElement("a");
  link.className = "govuk-link";
  link.href = details.url;
  link.textContent = details.title;
  text.append(link);
  const actions = document.createElement("div");
  actions.className = "govuk-button-group";
  if (zone.dataset.linkUrl) {
    actions.append(button("Link it to this control", "", () => linkExisting(zone, details.evidence_id)));
  }
  actions.append(button("Upload a separate copy", "govuk-button--secondary", () => send(zone, item, true)));
  result.replaceChildren(text, actions);
  result.hidden = false;
  setBusy(item, false);
  slot(item, "actions").hidden = true;
  announce(zone, `You already have this file: ${details.title}`);
}

function showDone(zone, item, body) {
  item.classList.add("attest-upload-item--done");
  slot(item, "actions").hidden = true;
  slot(item, "result").replaceChildren(document.createTextNode(`Uploaded: ${body.title}`));
  slot(item, "result").hidden = false;
  announce(zone, `Uploaded ${body.title}.`);
  const pending = zone.querySelectorAll(".attest-upload-item:not(.attest-upload-item--done)");
  if (!pending.length) window.location.reload(); // every file is in: show them on the control
}

function problemOf(request) {
  try {
    return JSON.parse(request.responseText).error;
  } catch {
    return { message: `The upload did not complete (status ${request.status}). Try again.` };
  }
}

function send(zone, item, allowDuplicate = false) {
  const file = item.uploadFile;
  const data = new FormData();
  for (const input of zone.querySelectorAll('input[name="control_ids"]')) data.append("control_ids", input.value);
  for (const name of FIELDS) data.append(name, field(item, name).value);
  if (allowDuplicate) data.append("allow_duplicate", "true");
  data.append("file", file, file.name);
  clearState(item);
  slot(item, "actions").hidden = false;
  setBusy(item, true);
  const progress = slot(item, "progress");
  progress.hidden = false;
  progress.value = 0;
  announce(zone, `Uploading ${file.name}…`);
  const request = new XMLHttpRequest();
  request.open("POST", zone.dataset.uploadUrl);
  request.setRequestHeader("X-CSRF-Token", csrfToken());
  request.setRequestHeader("Accept", "application/json");
  // A stalled upload: while the file is still going up, no progress for as long as the server
  // waits for the next chunk (ATTEST_UPLOAD_IDLE_SECONDS) ends it here with a message.
  const stallSeconds = Number.parseFloat(zone.dataset.stallSeconds || "30");
  let watchdog = null;
  const stalled = () => {
    request.abort();
    showError(zone, item, `The upload stalled: nothing was sent for ${stallSeconds} seconds. Nothing was stored. Check your connection, then press Upload to try again.`);
  };
  const watch = () => {
    window.clearTimeout(watchdog);
    watchdog = window.setTimeout(stalled, stallSeconds * 1000);
  };
  const unwatch = () => window.clearTimeout(watchdog);
  request.upload.addEventListener("loadstart", watch);
  request.upload.addEventListener("progress", (event) => {
    watch();
    if (event.lengthComputable) progress.value = Math.round((100 * event.loaded) / event.total);
  });
  request.upload.addEventListener("load", unwatch); // all sent: now the server answers
  request.addEventListener("loadend", unwatch);
  request.addEventListener("load", () => {
    if (request.status === 201) { showDone(zone, item, JSON.parse(request.responseText)); return; }
    const problem = problemOf(request);
    if (request.status === 409 && problem.details && problem.details.evidence_id) {
      showDuplicate(zone, item, problem.details);
      return;
    }
    showError(zone, item, problem.message);
  });
  request.addEventListener("error", () => showError(zone, item, "The connection failed before the upload finished. Try again."));
  request.send(data);
}

const zone = document.getElementById("upload-form");
if (zone) {
  // The plain form's own fields serve one file without JavaScript; here each file gets its own.
  zone.querySelector("#upload-fields").remove();
  const input = zone.querySelector("input[type=file]");
  input.addEventListener("change", () => {
    addFiles(zone, Array.from(input.files));
    input.value = ""; // the files live in their own forms now; choosing again adds more
  });
  zone.addEventListener("submit", (event) => {
    event.preventDefault(); // Enter in a field, or the plain button: send every queued file
    if (input.files.length) addFiles(zone, Array.from(input.files));
    const waiting = zone.querySelectorAll(".attest-upload-item:not(.attest-upload-item--done)");
    for (const item of waiting) send(zone, item);
  });
  ["dragenter", "dragover"].forEach((name) => zone.addEventListener(name, (event) => {
    event.preventDefault();
    zone.classList.add("attest-dropzone--over");
  }));
  ["dragleave", "drop"].forEach((name) => zone.addEventListener(name, () => {
    zone.classList.remove("attest-dropzone--over");
  }));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    addFiles(zone, Array.from(event.dataTransfer.files));
  });
}
