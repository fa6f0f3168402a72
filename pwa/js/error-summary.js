// The GOV.UK error summary (#16 items 11, 15): at the top of a form, a list of what is wrong,
// each a link that moves focus to its field. https://design-system.service.gov.uk/components/error-summary/

import { h } from "./dom.js";
import { t } from "./i18n.js";

/**
 * items: [{ target: the field's element id, text }]; `level`: the heading level that fits
 * under the page's headings (never skip one). Null when nothing is wrong.
 */
export function errorSummary(items, { id = "error-summary", level = 2 } = {}) {
  if (items.length === 0) return null;
  return h(
    "div",
    { id, class: "error-summary", role: "alert", tabindex: "-1", "aria-labelledby": `${id}-title` },
    h(`h${level}`, { id: `${id}-title`, class: "error-summary-title" }, t("form.errorSummary")),
    h(
      "ul",
      { class: "error-summary-list" },
      items.map(({ target, text }) =>
        h(
          "li",
          {},
          h(
            "a",
            {
              href: `#${target}`,
              // Not a route: the app's router owns the fragment, so focus the field directly.
              on: {
                click: (event) => {
                  event.preventDefault();
                  focusField(target);
                },
              },
            },
            text,
          ),
        ),
      ),
    ),
  );
}

/** Focus a field by id (a fieldset: its first control), its label scrolled into view. */
export function focusField(id) {
  const element = document.getElementById(id);
  if (!element) return false;
  const control = element.matches("fieldset")
    ? (element.querySelector("input:checked, input, select, textarea") ?? element)
    : element;
  const label = document.querySelector(`label[for="${CSS.escape(id)}"]`) ?? element.querySelector("legend");
  control.focus({ preventScroll: true });
  (label ?? control).scrollIntoView?.({ block: "center" });
  return true;
}
