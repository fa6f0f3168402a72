// The views: functions from data to DOM nodes. No fetching, no state; app.js decides which.

import { h } from "./dom.js";
import * as fmt from "./format.js";
import { getLanguage, t, tp, tParts } from "./i18n.js";

// Every view has exactly one h1, focusable so app.js can move focus there on a view change.
export function title(text) {
  return h("h1", { id: "view-title", tabindex: "-1" }, text);
}

export function loadingView() {
  return [title(t("loading.title")), h("p", { class: "loading" }, t("loading.text"))];
}

export function offlineView({ onRetry }) {
  return [
    title(t("offline.title")),
    h("p", { class: "lead" }, t("offline.text")),
    h("button", { type: "button", class: "button", on: { click: onRetry } }, t("offline.retry")),
  ];
}

export function errorView({ outdated = false, onRetry, onReload }) {
  return [
    title(t("error.title")),
    h("p", { class: "lead" }, t(outdated ? "error.outdated" : "error.text")),
    outdated
      ? h("button", { type: "button", class: "button", on: { click: onReload } }, t("error.reload"))
      : h("button", { type: "button", class: "button", on: { click: onRetry } }, t("error.retry")),
  ];
}

/** The signed-in overview: everything the Dashboard operation returns. */
export function dashboardView(viewer, { onMarkRead }) {
  const { person } = viewer;
  const tz = person.timeZone;
  return [
    title(t("dashboard.title", { name: `${person.givenNames} ${person.familyName}` })),
    personSection(person),
    financeSection(viewer.studyFinance, tz),
    deadlinesSection(viewer.deadlines.nodes, tz),
    diplomasSection(viewer.diplomas),
    educationSection(viewer.enrolments),
    inboxSection(viewer.inbox.nodes, viewer.unreadMessages, tz, onMarkRead),
  ];
}

export function section(id, heading, ...content) {
  return h(
    "section",
    { id, class: "card", "aria-labelledby": `${id}-title` },
    // Focusable: after an action removes the button that had focus, focus lands here.
    h("h2", { id: `${id}-title`, tabindex: "-1" }, heading),
    ...content,
  );
}

export function facts(rows) {
  return h(
    "dl",
    { class: "facts" },
    rows.map(([term, value]) => h("div", {}, h("dt", {}, term), h("dd", {}, value))),
  );
}

export function time(iso, text) {
  return h("time", { datetime: iso }, text);
}

function personSection(person) {
  const lang = getLanguage();
  return section(
    "person",
    t("person.title"),
    facts([
      [t("person.name"), `${person.givenNames} ${person.familyName}`],
      [t("person.customerNumber"), h("span", { class: "mono" }, person.customerNumber)],
      [t("person.country"), fmt.country(person.countryOfResidence, lang)],
      [t("person.timeZone"), fmt.timeZoneLabel(person.timeZone, lang)],
    ]),
  );
}

function financeSection(finance, tz) {
  const lang = getLanguage();
  if (!finance) return section("finance", t("finance.title"), h("p", {}, t("finance.none")));
  const rows = [
    [t("finance.debt"), h("span", { class: "amount" }, fmt.money(finance.debt, lang))],
    [t("finance.monthly"), fmt.money(finance.monthlyAmount, lang)],
    [t("finance.scheme"), t(`scheme.${finance.repaymentScheme}`)],
    [t("finance.interest"), fmt.percent(finance.interestRatePercent, lang)],
  ];
  if (finance.nextDueDate) {
    rows.push([
      t("finance.nextDue"),
      [
        time(finance.nextDueDate, fmt.calendarDate(finance.nextDueDate, lang)),
        // Separated by text, not only by CSS: a screen reader would run the parts together.
        ", ",
        h("span", { class: "relative" }, fmt.relativeCalendarDays(finance.nextDueDate, lang, tz)),
      ],
    ]);
  }
  return section(
    "finance",
    t("finance.title"),
    facts(rows),
    h(
      "p",
      { class: "note" },
      t("finance.updated", { date: fmt.shortDate(finance.updatedAt, lang, tz) }),
    ),
  );
}

function deadlinesSection(deadlines, tz) {
  const lang = getLanguage();
  if (deadlines.length === 0) {
    return section("deadlines", t("deadlines.title"), h("p", {}, t("deadlines.none")));
  }
  return section(
    "deadlines",
    t("deadlines.title"),
    h(
      "ol",
      { class: "list" },
      deadlines.map((d) =>
        h(
          "li",
          { class: "deadline" },
          h(
            "p",
            { class: "deadline-head" },
            h("span", { class: "tag" }, t(`deadline.${d.kind}`)),
            " ",
            h("strong", { class: "deadline-when" }, fmt.relativeDays(d.dueAt, lang, tz)),
          ),
          h("p", { class: "deadline-text" }, d.description),
          // The Dutch calendar day is the deadline; the local moment helps far from the
          // Netherlands, where "31 December" ends on 1 January (or mid-afternoon).
          h(
            "p",
            { class: "deadline-due" },
            tParts("deadlines.due", {
              date: time(fmt.dutchIsoDate(d.dueAt), fmt.dutchDate(d.dueAt, lang)),
            }),
          ),
          fmt.sameWallClock(d.dueAt, tz, fmt.DUTCH_TIME_ZONE)
            ? null
            : h(
                "p",
                { class: "note deadline-local" },
                tParts("deadlines.local", { moment: time(d.dueAt, fmt.dateTime(d.dueAt, lang, tz)) }),
              ),
        ),
      ),
    ),
  );
}

function diplomasSection(diplomas) {
  const lang = getLanguage();
  if (diplomas.length === 0) {
    return section("diplomas", t("diplomas.title"), h("p", {}, t("diplomas.none")));
  }
  return section(
    "diplomas",
    t("diplomas.title"),
    diplomas.map((d) =>
      h(
        "details",
        { id: `diploma-${d.id}`, class: "diploma" },
        h(
          "summary",
          {},
          h("span", { class: "diploma-name" }, d.programme),
          h(
            "span",
            { class: "diploma-meta" },
            `${d.institution} · `,
            tParts("diplomas.awarded", {
              date: time(d.awardedOn, fmt.calendarDate(d.awardedOn, lang)),
            }),
          ),
        ),
        h(
          "p",
          { class: "note" },
          t(`level.${d.level}`),
          d.programmeCode ? ` · ${t("diplomas.code", { code: d.programmeCode })}` : null,
        ),
        resultsTable(d),
        h("p", {}, h("a", { href: "#/extracts", class: "button button-secondary" }, t("extracts.get"))),
      ),
    ),
  );
}

function resultsTable(diploma) {
  const lang = getLanguage();
  if (diploma.results.length === 0) return h("p", {}, t("diplomas.noResults"));
  const withCredits = diploma.results.some((r) => r.credits !== null);
  return h(
    "table",
    { class: "results" },
    h("caption", { class: "visually-hidden" }, t("diplomas.results", { programme: diploma.programme })),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        h("th", { scope: "col" }, t("diplomas.subject")),
        h("th", { scope: "col", class: "num" }, t("diplomas.grade")),
        withCredits ? h("th", { scope: "col", class: "num" }, t("diplomas.credits")) : null,
      ),
    ),
    h(
      "tbody",
      {},
      diploma.results.map((r) =>
        h(
          "tr",
          {},
          h("th", { scope: "row" }, r.subject),
          h("td", { class: "num" }, fmt.grade(r.grade, lang)),
          withCredits ? h("td", { class: "num" }, r.credits === null ? "–" : fmt.number(r.credits, lang)) : null,
        ),
      ),
    ),
  );
}

function educationSection(enrolments) {
  const lang = getLanguage();
  if (enrolments.length === 0) {
    return section("education", t("education.title"), h("p", {}, t("education.none")));
  }
  return section(
    "education",
    t("education.title"),
    h(
      "ol",
      { class: "list" },
      enrolments.map((e) =>
        h(
          "li",
          {},
          h("p", { class: "item-title" }, e.programme),
          h("p", {}, e.institution),
          h(
            "p",
            { class: "note" },
            `${t(`level.${e.level}`)} · `,
            t("education.period", {
              start: fmt.calendarDate(e.startDate, lang),
              end: e.endDate ? fmt.calendarDate(e.endDate, lang) : t("education.ongoing"),
            }),
            " ",
            h("span", { class: `tag tag-${e.status.toLowerCase()}` }, t(`enrolment.${e.status}`)),
          ),
        ),
      ),
    ),
  );
}

function inboxSection(messages, unread, tz, onMarkRead) {
  const lang = getLanguage();
  return section(
    "inbox",
    t("inbox.title"),
    h("p", { class: "note" }, tp("inbox.unread", unread)),
    messages.length === 0
      ? h("p", {}, t("inbox.none"))
      : h(
          "ul",
          { class: "list" },
          messages.map((m) =>
            h(
              "li",
              {
                id: `message-${m.id}`,
                class: m.read ? "message" : "message unread",
                tabindex: "-1",
              },
              h(
                "h3",
                {},
                m.read ? null : h("span", { class: "tag tag-new" }, t("inbox.new")),
                m.read ? null : " ",
                m.subject,
              ),
              h(
                "p",
                { class: "note" },
                `${t(`message.${m.kind}`)} · `,
                time(m.createdAt, fmt.shortDate(m.createdAt, lang, tz)),
              ),
              h("p", {}, m.body),
              m.read
                ? null
                : h(
                    "button",
                    {
                      type: "button",
                      class: "button button-secondary",
                      "aria-label": t("inbox.markReadLabel", { subject: m.subject }),
                      on: { click: (event) => onMarkRead(m.id, event.currentTarget) },
                    },
                    t("inbox.markRead"),
                  ),
            ),
          ),
        ),
  );
}

/** A <time> for an ISO timestamp, in the reader's language. */
export function moment(iso) {
  return time(iso, fmt.timestamp(Date.parse(iso), getLanguage()));
}

/** A plain action button; `busy` disables it and says so. */
export function button(text, { id, onClick, busy = false, secondary = true, danger = false, label }) {
  const classes = ["button", secondary && !danger ? "button-secondary" : null, danger ? "button-danger" : null];
  return h(
    "button",
    {
      type: "button",
      id,
      class: classes.filter(Boolean).join(" "),
      disabled: busy,
      "aria-label": label,
      on: { click: onClick },
    },
    busy ? t("form.wait") : text,
  );
}
