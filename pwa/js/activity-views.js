// The security page's account activity as DOM: where one is signed in (with a way out) and
// the audit trail of security events.

import { h } from "./dom.js";
import { formError } from "./fields.js";
import { has, t, tParts } from "./i18n.js";
import { button, moment, section } from "./views.js";

const BROWSERS = [
  ["Edg/", "Edge"],
  ["Firefox/", "Firefox"],
  ["Chrome/", "Chrome"],
  ["Safari/", "Safari"],
];
const SYSTEMS = [
  ["Android", "Android"],
  ["iPhone", "iPhone"],
  ["iPad", "iPad"],
  ["Windows", "Windows"],
  ["Mac OS X", "Mac"],
  ["CrOS", "ChromeOS"],
  ["Linux", "Linux"],
];

/** "Chrome on Android" from a user agent string (as auth/names.py names new passkeys). */
export function deviceName(userAgent) {
  const ua = userAgent ?? "";
  const browser = BROWSERS.find(([token]) => ua.includes(token))?.[1];
  const system = SYSTEMS.find(([token]) => ua.includes(token))?.[1];
  if (browser && system) return t("security.device", { browser, system });
  return browser ?? system ?? t("security.unknownDevice");
}

export function sessionsSection(sessions, ui, handlers) {
  return section(
    "sessions",
    t("security.sessionsTitle"),
    formError("sessions-error", ui.errors.sessions),
    h(
      "ul",
      { class: "list" },
      sessions.map((session) => {
        const device = deviceName(session.userAgent);
        return h(
          "li",
          { id: `session-${session.id}`, class: "session" },
          h(
            "p",
            { class: "item-title" },
            device,
            session.current ? [" ", h("span", { class: "tag tag-new" }, t("security.thisDevice"))] : null,
          ),
          h(
            "p",
            { class: "note" },
            tParts("security.sessionSince", { date: moment(session.createdAt) }),
            " · ",
            tParts("security.sessionSeen", { date: moment(session.lastSeenAt) }),
            session.ipAddress ? ` · ${t("security.ip", { ip: session.ipAddress })}` : null,
          ),
          session.current
            ? null
            : button(t("security.endSession"), {
                id: `end-${session.id}`,
                label: t("security.endSessionLabel", { device }),
                onClick: () => handlers.onEndSession(session.id),
                busy: ui.busy === `end-${session.id}`,
              }),
        );
      }),
    ),
    ui.confirmEverywhere
      ? h(
          "div",
          { class: "confirm" },
          h("p", { id: "everywhere-text", tabindex: "-1" }, t("security.everywhereConfirm")),
          h(
            "div",
            { class: "actions" },
            button(t("security.everywhere"), {
              id: "everywhere-confirm",
              onClick: handlers.onSignOutEverywhere,
              busy: ui.busy === "everywhere",
              danger: true,
            }),
            button(t("security.cancel"), { onClick: () => handlers.onCancel("everywhere") }),
          ),
        )
      : h(
          "div",
          {},
          h("p", { class: "note" }, t("security.everywhereText")),
          button(t("security.everywhere"), { id: "everywhere", onClick: handlers.onStartEverywhere }),
        ),
  );
}

export function eventsSection(events) {
  return section(
    "security-events",
    t("security.eventsTitle"),
    events.length === 0
      ? h("p", {}, t("security.noEvents"))
      : h(
          "ol",
          { class: "list events" },
          events.map((event) =>
            h(
              "li",
              { class: "event" },
              h(
                "p",
                { class: "item-title" },
                eventTitle(event),
                event.outcome === "success"
                  ? null
                  : [" ", h("span", { class: "tag tag-failed" }, t("security.failed"))],
              ),
              h(
                "p",
                { class: "note" },
                moment(event.occurredAt),
                event.userAgent ? ` · ${deviceName(event.userAgent)}` : null,
                event.ipAddress ? ` · ${t("security.ip", { ip: event.ipAddress })}` : null,
                staffReason(event),
              ),
            ),
          ),
        ),
  );
}

/** "DUO staff (helpdesk) viewed your record": what was done, and in which DUO role (never who). */
function eventTitle(event) {
  const key = `event.${event.action}`;
  if (!has(key)) return event.action;
  if (!event.byStaff) return t(key);
  const role = event.staffRole && has(`staffRole.${event.staffRole}`) ? t(`staffRole.${event.staffRole}`) : null;
  return t(key, { role: role ?? t("staffRole.unknown") });
}

/** " — reason: …": the purpose DUO staff gave when they opened the record or acted on it. */
function staffReason(event) {
  if (!event.byStaff) return null;
  let reason = null;
  if (event.staffPurpose === "submission") {
    reason = t("event.purpose.submission", { ref: (event.staffReference ?? "").slice(0, 8) });
  } else if (event.staffPurpose === "activation_request") {
    reason = t("event.purpose.activation_request");
  } else if (event.staffReason) {
    reason = event.staffReason;
  }
  return reason ? ` — ${t("event.reason", { reason })}` : null;
}
