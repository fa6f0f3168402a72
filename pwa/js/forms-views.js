// The forms pages as DOM. js/forms.js owns the state; js/form-render.js draws the fields.

import { h } from "./dom.js";
import { renderFields, serverErrors, text } from "./form-render.js";
import * as fmt from "./format.js";
import { getLanguage, t } from "./i18n.js";
import { b64urlDecode } from "./verify-core.js";
import { section, time, title } from "./views.js";

const STATE_TAG = {
  queued: "tag",
  sending: "tag",
  received: "tag tag-synced",
  processed: "tag tag-synced",
  attention: "tag tag-failed",
  rejected: "tag tag-failed",
};

function when(ms) {
  return time(new Date(ms).toISOString(), fmt.timestamp(ms, getLanguage()));
}

export function formsListView({ catalogue, catalogueAt, entries, drafts }, handlers) {
  const draftIds = new Set(drafts.map((d) => d.formId));
  const waiting = entries.filter((e) => e.state === "queued" || e.state === "sending").length;
  return [
    title(t("forms.title")),
    h("p", { class: "lead" }, t("forms.lead")),
    section(
      "outbox",
      t("forms.outbox"),
      entries.length === 0
        ? h("p", {}, t("forms.outboxEmpty"))
        : h("ul", { class: "list" }, entries.map((entry) => entryItem(entry, handlers))),
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
                draftIds.has(f.formId) ? h("span", { class: "tag" }, t("forms.state.draft")) : null,
                h("p", { class: "note" }, text(f.description)),
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

function entryItem(entry, handlers) {
  const errors = entry.state === "attention" ? serverErrors(entry.definition, entry.errors) : {};
  return h(
    "li",
    { class: "outbox-entry", id: `entry-${entry.clientId}`, "data-state": entry.state },
    h("p", { class: "item-title" }, text(entry.title), " ", h("span", { class: STATE_TAG[entry.state] ?? "tag" }, t(`forms.state.${entry.state}`))),
    h("p", { class: "note" }, t("forms.sentAt", { time: fmt.timestamp(entry.queuedAt, getLanguage()) })),
    entry.statusReason ? h("p", {}, entry.statusReason) : null,
    entry.receipt ? receiptFacts(entry.receipt) : null,
    entry.state === "attention"
      ? [
          h("ul", { class: "field-error" }, Object.values(errors).map((message) => h("li", {}, message))),
          h(
            "div",
            { class: "actions" },
            h("button", { type: "button", class: "button", on: { click: () => handlers.fix(entry) } }, t("forms.fix")),
            h("button", { type: "button", class: "button button-danger", on: { click: () => handlers.remove(entry) } }, t("forms.remove")),
          ),
        ]
      : null,
  );
}

export function formPageView({ form, diplomas }, handlers) {
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
    renderFields(definition, { values: form.values, files: form.files, errors: form.errors, diplomas }),
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit", class: "button" }, t("forms.send")),
      h("button", { type: "button", class: "button button-secondary", on: { click: handlers.discard } }, t("forms.discard")),
    ),
  );
  return [
    back,
    title(text(definition.title)),
    h("p", { class: "lead" }, text(definition.description)),
    h("p", { class: "note", id: "draft-note" }, t("forms.draftNote", { version: definition.version })),
    element,
  ];
}
