// Reflow at 320 CSS pixels (WCAG 1.4.10): a wide table scrolls inside a region of its own,
// named after its caption and reachable by keyboard when it does scroll; the page never does.
// Without JavaScript the stylesheet makes the table itself the scrolling box.
const WRAPPER = "attest-table-region";

function wrap(table) {
  if (table.parentElement && table.parentElement.classList.contains(WRAPPER)) return;
  const region = document.createElement("div");
  region.className = WRAPPER;
  region.setAttribute("role", "region");
  const caption = table.querySelector("caption");
  region.setAttribute("aria-label", caption ? caption.textContent.trim() : "Table");
  table.parentNode.insertBefore(region, table);
  region.appendChild(table);
}

function focusableWhenScrolling() {
  for (const region of document.querySelectorAll("." + WRAPPER)) {
    if (region.scrollWidth > region.clientWidth) region.tabIndex = 0;
    else region.removeAttribute("tabindex");
  }
}

function wrapAll(root) {
  for (const table of root.querySelectorAll("table.govuk-table")) wrap(table);
  focusableWhenScrolling();
}

wrapAll(document);
document.body.addEventListener("htmx:afterSettle", (event) => wrapAll(event.detail.elt || document));
window.addEventListener("resize", focusableWhenScrolling);
