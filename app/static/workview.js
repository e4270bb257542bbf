// The work view (templates/assessment/work.html): a row's status is saved only by its Save
// button, never while the person moves through the options (WCAG 3.2.2). The server answers a
// save with the row, both scores and the live region's words (htmx partials); this module
// keeps focus in the row, shows the "why" field for not applicable, and puts every failure in
// the row as a GOV.UK error message with a "Try again" button, so nothing fails silently.

const ROW_FORM = "form.attest-quick";

function showWhy(form) {
  const select = form.querySelector("select[name=status]");
  const why = form.querySelector("[data-why]");
  if (!select || !why) return;
  const input = why.querySelector("input");
  why.hidden = !(select.value === "not_applicable" || (input && input.value.trim() !== ""));
}

// A light row (see templates/assessment/_work_row.html) gets its tick box and its form here: the
// form is the page's one <template id="quick-template">, with this row's control id, stored
// status, version and reason filled in. The markup is the server's, sent once for every row.
const PLACEHOLDER = "__ID__";

function fill(node, id) {
  for (const name of ["id", "for", "action", "hx-post", "aria-describedby"]) {
    const value = node.getAttribute(name);
    if (value && value.includes(PLACEHOLDER)) {
      const real = name === "action" || name === "hx-post" ? encodeURIComponent(id) : id;
      node.setAttribute(name, value.split(PLACEHOLDER).join(real));
    }
  }
}

function upgrade(row, template, back) {
  const cell = row.querySelector("td[data-v]");
  if (!cell || !row.id.startsWith("row-")) return;
  const id = row.id.slice(4);
  if (!row.querySelector("input[name=selected]") && document.getElementById("bulk-form")) {
    const pick = document.createElement("td");
    pick.className = "attest-row__pick";
    const box = document.createElement("input");
    box.type = "checkbox";
    box.name = "selected";
    box.value = id;
    box.id = `pick-${id}`;
    box.setAttribute("form", "bulk-form");
    box.setAttribute("aria-label", `Select ${id}`);
    pick.append(box);
    row.prepend(pick);
  }
  const form = template.content.firstElementChild.cloneNode(true);
  [form, ...form.querySelectorAll("*")].forEach((node) => fill(node, id));
  const walker = document.createTreeWalker(form, NodeFilter.SHOW_TEXT);
  for (let text = walker.nextNode(); text; text = walker.nextNode()) {
    if (text.data.includes(PLACEHOLDER)) text.data = text.data.split(PLACEHOLDER).join(id);
  }
  form.querySelector("input[name=version]").value = cell.dataset.v || "0";
  form.querySelector("input[name=back]").value = back;
  form.querySelector("select[name=status]").value = cell.dataset.s || "";
  form.querySelector("input[name=justification]").value = cell.dataset.j || "";
  cell.removeAttribute("data-v");
  cell.replaceChildren(form);
  if (window.htmx) window.htmx.process(form);
}

function upgradeRows(root) {
  const template = document.getElementById("quick-template");
  const table = root.id === "work-rows" ? root : root.querySelector && root.querySelector("#work-rows");
  const rows = root.matches && root.matches("#work-rows tr") ? [root] : table ? table.querySelectorAll("tbody tr") : [];
  if (!template || !rows.length) return;
  const head = table && table.querySelector("thead tr");
  if (head && !head.querySelector("th[data-pick]") && document.getElementById("bulk-form")) {
    // The tick box column, as the page without JavaScript (?forms=1) draws it.
    const th = document.createElement("th");
    th.scope = "col";
    th.className = "govuk-table__header";
    th.dataset.pick = "";
    const hidden = document.createElement("span");
    hidden.className = "govuk-visually-hidden";
    hidden.textContent = "Select";
    th.append(hidden);
    head.prepend(th);
  }
  const kept = document.querySelector("#work-rows caption input[name=back]");
  const back = kept ? kept.value : "";
  rows.forEach((row) => upgrade(row, template, back));
}

function prepare(root) {
  upgradeRows(root);
  root.querySelectorAll(ROW_FORM).forEach(showWhy);
}

function announce(text) {
  const live = document.getElementById("work-live");
  if (live) live.textContent = text;
}

function controlOf(form) {
  const select = form.querySelector("select[name=status]");
  return select ? select.id.replace(/^quick-/, "") : "";
}

function rowError(form, message) {
  const slot = form.querySelector(".attest-row__error");
  const group = form.querySelector(".govuk-form-group");
  const select = form.querySelector("select[name=status]");
  const button = form.querySelector("button");
  const id = controlOf(form);
  if (slot) {
    slot.hidden = false;
    slot.textContent = "";
    const prefix = document.createElement("span");
    prefix.className = "govuk-visually-hidden";
    prefix.textContent = "Error:";
    slot.append(prefix, " " + message);
  }
  if (group) group.classList.add("govuk-form-group--error");
  if (select && slot) select.setAttribute("aria-describedby", slot.id);
  if (button) {
    button.disabled = false;
    button.firstChild.textContent = "Try again";
  }
  announce(`Could not save ${id}: ${message}`);
}

function messageFrom(xhr) {
  const fallback = `Attest answered ${xhr.status}. Nothing was saved.`;
  try {
    const doc = new DOMParser().parseFromString(xhr.responseText || "", "text/html");
    const text = doc.querySelector(".govuk-notification-banner__content, .govuk-body");
    return text && text.textContent.trim() ? text.textContent.trim() : fallback;
  } catch (_) {
    return fallback;
  }
}

let lastRow = "";

document.addEventListener("change", (event) => {
  const form = event.target.closest && event.target.closest(ROW_FORM);
  if (form) showWhy(form);
});

document.body.addEventListener("htmx:beforeRequest", (event) => {
  const form = event.detail.elt;
  if (form && form.matches && form.matches(ROW_FORM)) lastRow = controlOf(form);
});

document.body.addEventListener("htmx:beforeSwap", (event) => {
  const form = event.detail.requestConfig && event.detail.requestConfig.elt;
  if (!form || !form.matches || !form.matches(ROW_FORM)) return;
  const xhr = event.detail.xhr;
  if (xhr.status < 400) return;
  if (xhr.getResponseHeader("X-Attest-Row")) {
    // A refused save (409, 422, 503): the row comes back with its error and what was chosen.
    event.detail.shouldSwap = true;
    event.detail.isError = false;
    return;
  }
  // Any other refusal (a busy database, a lost session, a server fault): said in the row, which
  // is where the person is looking; htmx need not report it again as an unhandled error.
  event.detail.shouldSwap = false;
  event.detail.isError = false;
  rowError(form, messageFrom(xhr));
});

document.body.addEventListener("htmx:sendError", (event) => {
  const form = event.detail.elt;
  if (form && form.matches && form.matches(ROW_FORM)) {
    rowError(form, "Attest could not be reached, so nothing was saved. Check your connection.");
  }
});

document.body.addEventListener("htmx:afterSettle", () => {
  if (!lastRow) return;
  const select = document.getElementById(`quick-${lastRow}`);
  lastRow = "";
  if (select) {
    const form = select.closest(ROW_FORM);
    if (form) showWhy(form);
    // The row was replaced: keep the keyboard where it was rather than at the top of the page.
    if (!document.activeElement || document.activeElement === document.body) select.focus();
  }
});

document.body.addEventListener("htmx:load", (event) => prepare(event.detail.elt));
prepare(document);
