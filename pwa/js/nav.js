// The signed-in navigation (#16 item 9): a bar of four destinations and a "More" button that
// discloses the rest (the disclosure pattern: a button with aria-expanded, not an ARIA menu).
// Escape closes it and gives focus back to the button; choosing a link closes it.

const nav = document.getElementById("sections-nav");
const more = document.getElementById("more-button");
const panel = document.getElementById("more-menu");

function setOpen(open, { focusButton = false } = {}) {
  more.setAttribute("aria-expanded", String(open));
  panel.hidden = !open;
  if (open) panel.querySelector("a")?.focus();
  else if (focusButton) more.focus();
}

/** Wire the "More" button once, at start. */
export function startNav() {
  more.addEventListener("click", () => setOpen(panel.hidden));
  panel.addEventListener("click", (event) => {
    if (event.target.closest("a")) setOpen(false);
  });
  nav.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !panel.hidden) {
      event.preventDefault();
      setOpen(false, { focusButton: true });
    }
  });
  // A tap or focus elsewhere closes it, as a person expects of a pop-up list.
  document.addEventListener("click", (event) => {
    if (!panel.hidden && !nav.contains(event.target)) setOpen(false);
  });
  nav.addEventListener("focusout", (event) => {
    if (!panel.hidden && event.relatedTarget && !nav.contains(event.relatedTarget)) setOpen(false);
  });
}

/** Mark the current view's link (and "More" when the current page is in it). */
export function markCurrent(view, shown) {
  nav.hidden = !shown;
  if (!shown) setOpen(false);
  for (const link of nav.querySelectorAll("a[data-view]")) {
    if (link.dataset.view === view) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  more.classList.toggle("current", Boolean(panel.querySelector(`a[data-view="${view}"]`)));
}
