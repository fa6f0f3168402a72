// The forms pages as DOM. js/forms.js owns the state; js/form-render.js draws the fields.

import { h } from "./dom.js";
import { errorSummary } from "./error-summary.js";
import { controlId, fields, renderFields, serverErrors, text } from "./form-render.js";
import * as fmt from "./format.js";
import { getLanguage, t, tParts } from "./i18n.js";
import { b64urlDecode } from "./verify-core.js";
import { section, time, title } from "./views.js";

const STATE_TAG = {
  queued: "tag",
  sending: "tag",
  received: "tag tag-synced",
  processed: "tag tag-synced",
  attention: "tag tag-failed",
  retired: "tag tag-failed",
  rejected: "tag tag-failed",
};
// States that have not reached DUO (store.js WAITING_STATES): their version's end matters.
const WAITING = new Set(["queued", "sending", "attention", "retired"]);

function when(ms) {
  return time(new Date(ms).toISOString(), fmt.timestamp(ms, getLanguage()));
}

/** When DUO received an entry (its receipt's moment), else when it was queued. */
function sentAt(entry) {
  const received = entry.receivedAt ? Date.parse(entry.receivedAt) : Number.NaN;
  return Number.isNaN(received) ? entry.queuedAt : received;
}

function until(iso) {
  return time(iso, fmt.dateTime(iso, getLanguage()));
}

// What happens next to an entry, and what the person can do about it.
function nextStep(entry, online) {
  if (entry.state === "queued") return online ? "forms.next.queued" : "forms.next.queuedOffline";
  return `forms.next.${entry.state}`;
}

export function formsListView({ catalogue, catalogueAt, entries, drafts, online, blocked, acceptedUntil }, handlers) {
  const draftsById = new Map(drafts.map((d) => [d.formId, d]));
  const waiting = entries.filter((e) => e.state === "queued" || e.state === "sending").length;
  const context = { drafts, online, blocked, acceptedUntil };
  return [
    title(t("forms.title")),
    h("p", { class: "lead" }, t("forms.lead")),
    section(
      "outbox",
      t("forms.outbox"),
      entries.length === 0 ? h("p", {}, t("forms.outboxEmpty")) : outboxGroups(entries, context, handlers),
      h(
        "button",
        {
          type: "button",
          id: "send-now",
          class: "button",
          disabled: waiting === 0,
          on: { click: handlers.sendNow },
        },
        t("forms.sendNow"),
      ),
      h("p", { class: "note" }, t("forms.outboxNote")),
    ),
    section(
      "catalogue",
      t("forms.catalogue"),
      catalogue
        ? h(
            "ul",
            { class: "list" },
            catalogue.forms.map((f) =>
              h(
                "li",
                { class: "form-item" },
                h("a", { href: `#/forms/${encodeURIComponent(f.formId)}`, class: "item-title" }, text(f.title)),
                draftsById.has(f.formId) ? h("span", { class: "tag" }, t("forms.state.draft")) : null,
                h("p", { class: "note" }, text(f.description)),
                draftNote(draftsById.get(f.formId), f, acceptedUntil),
              ),
            ),
          )
        : h("p", {}, t("forms.catalogueOffline")),
      catalogueAt
        ? h("p", { class: "note" }, t("forms.catalogueAge", { time: fmt.timestamp(catalogueAt, getLanguage()) }))
        : null,
    ),
  ];
}

// A form that has not reached DUO is not "sent" (#16 item 4): two lists, each with its own words.
function outboxGroups(entries, context, handlers) {
  const waiting = entries.filter((e) => WAITING.has(e.state));
  const sent = entries.filter((e) => !WAITING.has(e.state));
  const group = (id, heading, items) =>
    items.length === 0
      ? null
      : [
          h("h3", { id: `${id}-title` }, heading),
          h("ul", { class: "list", id, "aria-labelledby": `${id}-title` }, items.map((e) => entryItem(e, context, handlers))),
        ];
  return [
    group("forms-waiting", t("forms.waitingList"), waiting),
    group("forms-sent", t("forms.sentList"), sent),
  ];
}

function receiptFacts(receipt) {
  try {
    const payload = JSON.parse(new TextDecoder().decode(b64urlDecode(receipt.split(".")[1])));
    return h(
      "details",
      { class: "receipt" },
      h("summary", {}, t("forms.receipt")),
      h(
        "dl",
        { class: "facts" },
        h("div", {}, h("dt", {}, t("forms.receiptId")), h("dd", { class: "mono" }, payload.submissionId)),
        h("div", {}, h("dt", {}, t("forms.receiptAt")), h("dd", {}, when(Date.parse(payload.receivedAt)))),
        h("div", {}, h("dt", {}, "SHA-256"), h("dd", { class: "mono" }, payload.content?.sha256 ?? "")),
      ),
      h("p", { class: "note" }, t("forms.receiptNote")),
    );
  } catch {
    return null;
  }
}

// A draft pinned to a version that is no longer the current one: until when DUO takes it.
function draftNote(draft, current, acceptedUntil) {
  if (!draft || draft.formVersion === current.version) return null;
  const end = acceptedUntil(draft.formId, draft.formVersion);
  if (!end) return null;
  const key = Date.parse(end) <= Date.now() ? "forms.draftRetired" : "forms.draftAcceptedUntil";
  return h("p", { class: "note warning-text" }, tParts(key, { version: draft.formVersion, date: until(end) }));
}

function entryItem(entry, { drafts, online, blocked, acceptedUntil }, handlers) {
  const errors = entry.state === "attention" ? serverErrors(entry.definition, entry.errors) : {};
  const id = entry.clientId;
  const correction = drafts.find((d) => d.replaces === id);
  const end = WAITING.has(entry.state) ? acceptedUntil(entry.formId, entry.formVersion) : null;
  const button = (label, onClick, style = "button") =>
    h("button", { type: "button", class: style, "aria-describedby": `next-${id}`, on: { click: onClick } }, label);
  const remove = button(t("forms.remove"), () => handlers.remove(entry), "button button-danger");
  return h(
    "li",
    { class: "outbox-entry", id: `entry-${id}`, "data-state": entry.state },
    h("p", { class: "item-title" }, text(entry.title), " ", h("span", { class: STATE_TAG[entry.state] ?? "tag" }, t(`forms.state.${entry.state}`))),
    WAITING.has(entry.state)
      ? h("p", { class: "note" }, tParts("forms.savedAt", { time: when(entry.queuedAt) }))
      : h("p", { class: "note" }, tParts("forms.sentAt", { time: when(sentAt(entry)) })),
    entry.statusReason ? h("p", {}, entry.statusReason) : null,
    h("p", { class: "next", id: `next-${id}` }, t(nextStep(entry, online))),
    end && entry.state !== "retired" && Date.parse(end) > Date.now()
      ? h("p", { class: "note warning-text" }, tParts("forms.acceptedUntil", { version: entry.formVersion, date: until(end) }))
      : null,
    entry.receipt ? receiptFacts(entry.receipt) : null,
    entry.state === "attention"
      ? h("ul", { class: "field-error" }, Object.values(errors).map((message) => h("li", {}, message)))
      : null,
    correction
      ? h(
          "p",
          { class: "note" },
          t("forms.correcting"),
          " ",
          h("a", { href: `#/forms/${encodeURIComponent(entry.formId)}` }, t("forms.continueCorrection")),
        )
      : null,
    blocked === id
      ? h(
          "p",
          { class: "alert", id: `blocked-${id}`, tabindex: "-1" },
          t("forms.draftInTheWay"),
          " ",
          h("a", { href: `#/forms/${encodeURIComponent(entry.formId)}` }, t("forms.openDraft")),
        )
      : null,
    entry.state === "attention" && !correction
      ? h("div", { class: "actions" }, button(t("forms.fix"), () => handlers.fix(entry)), remove)
      : null,
    entry.state === "retired" && !correction
      ? h("div", { class: "actions" }, button(t("forms.moveToNewVersion"), () => handlers.moveToNewVersion(entry)), remove)
      : null,
  );
}

/** What changed when a draft moved from a retired version to the current one. */
function changesPanel(migration) {
  const { dropped, added } = migration;
  return h(
    "section",
    { id: "changes", class: "card warning", "aria-labelledby": "changes-title" },
    h("h2", { id: "changes-title", tabindex: "-1" }, t("forms.changes.title")),
    h("p", {}, t("forms.changes.text", { from: migration.from, to: migration.to })),
    dropped.length > 0
      ? [
          h("h3", {}, t("forms.changes.dropped")),
          h("p", { class: "note" }, t("forms.changes.droppedNote")),
          h(
            "ul",
            { id: "changes-dropped" },
            dropped.map((d) => h("li", {}, `${text(d.label)}: `, h("strong", {}, answerText(d.answer)))),
          ),
        ]
      : null,
    added.length > 0
      ? [
          h("h3", {}, t("forms.changes.added")),
          h(
            "ul",
            { id: "changes-added" },
            added.map((a) => h("li", {}, text(a.label), a.required ? ` (${t("forms.changes.required")})` : null)),
          ),
        ]
      : null,
    dropped.length === 0 ? h("p", {}, t("forms.changes.allCarried")) : h("p", {}, t("forms.changes.restCarried")),
  );
}

function answerText(answer) {
  if (answer.key) return t(answer.key);
  if (answer.text) return text(answer.text);
  return answer.plain;
}

export function formPageView({ form, diplomas, acceptedUntil }, handlers) {
  const back = h("p", {}, h("a", { href: "#/forms", class: "back" }, t("forms.back")));
  if (!form.definition) {
    return [back, title(t("forms.title")), h("p", {}, t(form.loading ? "loading.text" : "forms.notAvailable"))];
  }
  const { definition } = form;
  const general = form.errors[""];
  const element = h(
    "form",
    {
      class: "form",
      id: "form",
      novalidate: true,
      on: {
        input: handlers.input,
        change: (event) => {
          if (event.target.type === "file") handlers.addFiles(event.target);
          else handlers.input(event);
        },
        click: (event) => {
          const key = event.target.closest("[data-remove-file]")?.dataset.removeFile;
          if (key) handlers.removeFile(key);
        },
        submit: (event) => {
          event.preventDefault();
          handlers.send(event.currentTarget);
        },
      },
    },
    general ? h("p", { class: "alert", role: "alert" }, general) : null,
    errorSummary(
      fields(definition)
        .filter((f) => form.errors[f.pointer])
        .map((f) => ({ target: controlId(f.pointer), text: `${text(f.hint.label)}: ${form.errors[f.pointer]}` })),
    ),
    renderFields(definition, { values: form.values, files: form.files, errors: form.errors, diplomas }),
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit", class: "button" }, t("forms.send")),
      h("button", { type: "button", class: "button button-secondary", on: { click: handlers.discard } }, t("forms.discard")),
    ),
  );
  const end = acceptedUntil(definition.formId, definition.version);
  return [
    back,
    title(text(definition.title)),
    h("p", { class: "lead" }, text(definition.description)),
    form.migration ? changesPanel(form.migration) : null,
    form.replaces ? h("p", { class: "note", id: "replaces-note" }, t("forms.replacesNote")) : null,
    h("p", { class: "note", id: "draft-note" }, t("forms.draftNote", { version: definition.version })),
    end && Date.parse(end) > Date.now()
      ? h(
          "p",
          { class: "note warning-text", id: "accepted-until" },
          tParts("forms.draftAcceptedUntil", { version: definition.version, date: until(end) }),
        )
      : null,
    element,
  ];
}
