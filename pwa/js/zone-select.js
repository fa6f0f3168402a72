// The reminder time zone (#16 item 5): a select of the IANA zones this browser knows, grouped
// by region, with a filter box above it (type a city: the list narrows), the profile's zone
// preselected and this device's zone offered as a one-tap suggestion.

import { h } from "./dom.js";
import { t } from "./i18n.js";

const labels = new Map(); // "<lang>|<zone>" -> "Asia/Jakarta (GMT+7)": ~400 zones, built once

function allZones() {
  try {
    return Intl.supportedValuesOf("timeZone");
  } catch {
    return []; // an old browser: the profile's and the device's zone still make a list
  }
}

function label(zone, lang) {
  const key = `${lang}|${zone}`;
  if (!labels.has(key)) {
    let offset = "";
    try {
      offset = new Intl.DateTimeFormat(lang === "nl" ? "nl-NL" : "en-GB", { timeZone: zone, timeZoneName: "shortOffset" })
        .formatToParts(new Date())
        .find((p) => p.type === "timeZoneName")?.value;
    } catch {
      /* unknown here: the name alone */
    }
    labels.set(key, `${zone.replaceAll("_", " ")}${offset ? ` (${offset})` : ""}`);
  }
  return labels.get(key);
}

/**
 * { id, value: the chosen zone or null (follows the profile), profileZone (when following),
 * deviceZone, lang, error } -> the field's nodes. The select's name is "timeZone"; its empty
 * value means "same as my profile".
 */
export function zoneField({ id, value, profileZone, deviceZone, lang, error }) {
  const zones = new Set(allZones());
  for (const extra of [value, profileZone, deviceZone]) if (extra) zones.add(extra);
  const byRegion = new Map();
  for (const zone of [...zones].sort()) {
    const region = zone.includes("/") ? zone.split("/")[0] : "Other";
    if (!byRegion.has(region)) byRegion.set(region, []);
    byRegion.get(region).push(zone);
  }
  const described = [`${id}-hint`, error && `${id}-error`].filter(Boolean).join(" ");
  const select = h(
    "select",
    { id, name: "timeZone", class: "input", "aria-describedby": described, "aria-invalid": error ? "true" : null },
    h("option", { value: "" }, profileZone ? t("push.zoneProfileIs", { zone: profileZone }) : t("push.zoneProfile")),
    [...byRegion].map(([region, list]) =>
      h("optgroup", { label: region }, list.map((zone) => h("option", { value: zone }, label(zone, lang)))),
    ),
  );
  select.value = value ?? "";
  const filter = h("input", {
    type: "search",
    id: `${id}-filter`,
    class: "input",
    autocomplete: "off",
    "aria-controls": id,
    on: {
      input: () => {
        // Options that do not match are hidden; the chosen one always stays.
        const words = filter.value.trim().toLowerCase().replaceAll(" ", "_");
        for (const option of select.querySelectorAll("optgroup option")) {
          const match = !words || option.value.toLowerCase().includes(words);
          option.hidden = !match && option.value !== select.value;
        }
        for (const group of select.querySelectorAll("optgroup")) {
          group.hidden = !group.querySelector("option:not([hidden])");
        }
      },
    },
  });
  const useDevice =
    deviceZone && deviceZone !== (value ?? profileZone)
      ? h(
          "button",
          {
            type: "button",
            id: `${id}-device`,
            class: "button button-secondary button-small",
            on: {
              click: () => {
                select.value = deviceZone;
                select.focus();
              },
            },
          },
          t("push.zoneUseDevice", { zone: deviceZone }),
        )
      : null;
  return h(
    "div",
    { class: error ? "field field-invalid" : "field" },
    h("label", { for: id }, t("push.zone")),
    h("p", { id: `${id}-hint`, class: "hint" }, t("push.zoneHint", { zone: deviceZone })),
    error ? h("p", { id: `${id}-error`, class: "field-error" }, t(error.key, error.params)) : null,
    h("label", { for: `${id}-filter`, class: "hint" }, t("push.zoneFilter")),
    filter,
    select,
    useDevice,
  );
}
