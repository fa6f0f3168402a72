// The notifications page as DOM. js/push.js owns the state and the requests.

import { h } from "./dom.js";
import { errorSummary } from "./error-summary.js";
import { field, submitButton } from "./fields.js";
import * as fmt from "./format.js";
import { getLanguage, t } from "./i18n.js";
import { section, title } from "./views.js";
import { zoneField } from "./zone-select.js";

const KINDS = ["PAYMENT", "INCOME_STATEMENT", "APPLICATION", "DOCUMENT"];
// The server's field names (notifications/preferences.py) -> the controls that hold them.
export const PREFERENCE_FIELDS = {
  kinds: "push-kinds",
  offsetsDays: "push-offsets",
  quietHours: "push-quiet-start",
  timeZone: "push-zone",
  language: "push-language",
};

function alertFor(ui, area) {
  if (ui.error?.area !== area || ui.error.field) return null;
  return h("p", { class: "alert", role: "alert" }, t(ui.error.key, ui.error.params));
}

export function notificationsView({ status, data, ui, support, endpoint, endpointHash }, handlers) {
  const head = [title(t("push.title")), h("p", { class: "lead" }, t("push.lead"))];
  if (status === "loading") return [...head, h("p", { class: "loading" }, t("loading.text"))];
  if (status !== "ready") return [...head, h("p", { class: "alert" }, t(status === "offline" ? "push.offline" : "error.text"))];
  return [...head, deviceSection(data, ui, support, endpoint, endpointHash, handlers), preferencesSection(data, ui, handlers)];
}

function deviceSection(data, ui, support, endpoint, endpointHash, handlers) {
  const lang = getLanguage();
  return section(
    "push-devices",
    t("push.devices"),
    support === "ios-home-screen" ? h("p", { class: "warning" }, t("push.ios")) : null,
    support === "none" ? h("p", { class: "warning" }, t("push.unsupported")) : null,
    support === "ok" && !endpoint
      ? h(
          "button",
          { type: "button", id: "push-enable", class: "button", disabled: ui.busy === "enable", on: { click: handlers.enable } },
          ui.busy === "enable" ? t("form.wait") : t("push.enable"),
        )
      : null,
    endpoint ? h("p", { class: "success" }, t("push.thisDeviceOn")) : null,
    alertFor(ui, "enable"),
    data.pushDevices.length === 0
      ? h("p", {}, t("push.noDevices"))
      : h(
          "ul",
          { class: "list" },
          data.pushDevices.map((device) =>
            h(
              "li",
              { class: "push-device" },
              h(
                "p",
                { class: "item-title" },
                device.name,
                device.endpointHash === endpointHash ? ` (${t("security.thisDevice")})` : "",
              ),
              h("p", { class: "note" }, t("push.since", { date: fmt.timestamp(Date.parse(device.createdAt), lang) })),
              h(
                "div",
                { class: "actions" },
                h("button", { type: "button", class: "button button-secondary", disabled: ui.busy === "test", on: { click: () => handlers.test(device) } }, t("push.test")),
                h("button", { type: "button", class: "button button-danger", on: { click: () => handlers.remove(device) } }, t("push.remove")),
              ),
            ),
          ),
        ),
    ui.test
      ? h(
          "p",
          { class: ui.test.delivered ? "success" : "alert", role: "status" },
          ui.test.outcome === "DEVICE_GONE"
            ? t("push.testGone")
            : t(ui.test.delivered ? "push.testDelivered" : "push.testFailed", { outcome: ui.test.outcome }),
        )
      : null,
    alertFor(ui, "test"),
  );
}

function preferencesSection(data, ui, handlers) {
  const prefs = data.reminderPreferences;
  // The field the server (or the check before it) named: marked, and listed in the summary.
  const invalid = ui.error?.area === "prefs" && PREFERENCE_FIELDS[ui.error.field] ? ui.error.field : null;
  const errorFor = (name) => (invalid === name ? { key: `push.invalid.${name}`, params: {} } : null);
  const deviceZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const language = h(
    "select",
    { class: "input input-short", name: "language" },
    h("option", { value: "en", lang: "en" }, "English"),
    h("option", { value: "nl", lang: "nl" }, "Nederlands"),
  );
  language.value = prefs.language ?? getLanguage();
  const offsets = h("input", { type: "text", class: "input input-short", name: "offsets", inputmode: "numeric", value: prefs.offsetsDays.join(", ") });
  const quietOn = h("input", { type: "checkbox", id: "quiet-on", name: "quietOn", checked: Boolean(prefs.quietHours) });
  const start = h("input", { type: "time", class: "input input-short", name: "quietStart", value: (prefs.quietHours?.start ?? "22:00").slice(0, 5) });
  const end = h("input", { type: "time", class: "input input-short", name: "quietEnd", value: (prefs.quietHours?.end ?? "08:00").slice(0, 5) });
  const form = h(
    "form",
    {
      class: "form",
      id: "push-preferences",
      on: {
        submit: (event) => {
          event.preventDefault();
          const el = event.currentTarget;
          handlers.save({
            kinds: KINDS.filter((k) => el.querySelector(`input[value="${k}"]`).checked),
            offsetsDays: offsets.value.split(/[\s,;]+/).filter(Boolean).map(Number),
            quietHours: quietOn.checked ? { start: start.value, end: end.value } : null,
            timeZone: el.elements.namedItem("timeZone").value || null,
            language: language.value,
          });
        },
      },
    },
    errorSummary(invalid ? [{ target: PREFERENCE_FIELDS[invalid], text: t(`push.invalid.${invalid}`) }] : [], {
      id: "push-prefs-errors",
      level: 3,
    }),
    h(
      "fieldset",
      {
        id: "push-kinds",
        tabindex: "-1",
        class: invalid === "kinds" ? "field-invalid" : null,
        "aria-invalid": invalid === "kinds" ? "true" : null,
      },
      h("legend", {}, t("push.kinds")),
      KINDS.map((kind) =>
        h("label", { class: "checkbox" }, h("input", { type: "checkbox", name: "kinds", value: kind, checked: prefs.kinds.includes(kind) }), ` ${t(`push.kind.${kind}`)}`),
      ),
    ),
    field({ id: "push-offsets", label: t("push.offsets"), hint: t("push.offsetsHint"), error: errorFor("offsetsDays") }, offsets),
    h("label", { class: "checkbox" }, quietOn, ` ${t("push.quiet")}`),
    field({ id: "push-quiet-start", label: t("push.quietStart"), error: errorFor("quietHours") }, start),
    field({ id: "push-quiet-end", label: t("push.quietEnd") }, end),
    zoneField({
      id: "push-zone",
      value: prefs.timeZoneFollowsProfile ? null : prefs.timeZone,
      profileZone: prefs.timeZoneFollowsProfile ? prefs.timeZone : null,
      deviceZone,
      lang: getLanguage(),
      error: errorFor("timeZone"),
    }),
    field({ id: "push-language", label: t("push.language"), error: errorFor("language") }, language),
    submitButton(t("push.save"), { busy: ui.busy === "prefs" }),
    alertFor(ui, "prefs"),
    ui.saved ? h("p", { class: "success", role: "status" }, t("push.saved")) : null,
  );
  return section("push-prefs", t("push.preferences"), form);
}
