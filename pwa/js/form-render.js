// A form from its definition (forms/catalogue/*.json): JSON Schema for the content, UI hints
// (order; per field by JSON Pointer: widget, label, help, options, visibleWhen, messages) and
// English and Dutch texts. No form has code of its own: a new form or version is data.

import { h } from "./dom.js";
import * as fmt from "./format.js";
import { getLanguage, t } from "./i18n.js";
import { ACCEPTED_TYPES } from "./uploads.js";

const INPUT_TYPES = { date: "date", tel: "tel", email: "email" };

/** The text for the current language from {en, nl}. */
export function text(pair) {
  return pair?.[getLanguage()] ?? pair?.en ?? "";
}

/** Element id of the control for a JSON Pointer ("/a/b" -> "f-a-b"). */
export function controlId(pointer) {
  return `f${pointer.replace(/[^A-Za-z0-9]/g, "-")}`;
}

function schemaAt(schema, pointer) {
  let node = schema;
  let parent = null;
  let key = "";
  for (const part of pointer.split("/").slice(1)) {
    parent = node;
    key = part;
    node = node?.properties?.[part];
  }
  return { node: node ?? {}, required: Boolean(parent?.required?.includes(key)) };
}

export function getAt(object, pointer) {
  return pointer
    .split("/")
    .slice(1)
    .reduce((value, part) => (value == null ? undefined : value[part]), object);
}

export function setAt(object, pointer, value) {
  const parts = pointer.split("/").slice(1);
  let node = object;
  for (const part of parts.slice(0, -1)) node = node[part] ??= {};
  node[parts.at(-1)] = value;
}

function visible(hint, values) {
  const when = hint.visibleWhen;
  return !when || Object.entries(when).every(([pointer, wanted]) => getAt(values, pointer) === wanted);
}

/** Which fields the definition shows, in order: [{ pointer, hint, node, required }]. */
export function fields(definition) {
  const { ui, jsonSchema } = definition;
  return (ui.order ?? Object.keys(ui.fields)).map((pointer) => ({
    pointer,
    hint: ui.fields[pointer] ?? {},
    ...schemaAt(jsonSchema, pointer),
  }));
}

function control(f, value, { diplomas }) {
  const { pointer, hint, node } = f;
  const id = controlId(pointer);
  const common = { id, name: pointer, class: "input" };
  const options = hint.options ?? Object.fromEntries((node.enum ?? []).map((v) => [v, { en: v, nl: v }]));
  switch (hint.widget) {
    case "textarea":
      return h("textarea", { ...common, rows: "5", maxlength: node.maxLength }, value ?? "");
    case "radio":
      return null; // a fieldset of its own, see fieldFor()
    case "select":
    case "diploma": {
      const choices =
        hint.widget === "diploma"
          ? (diplomas ?? []).map((d) => [d.id, `${d.programme} (${d.institution})`])
          : Object.entries(options).map(([v, label]) => [v, text(label)]);
      const select = h(
        "select",
        common,
        h("option", { value: "" }, t("forms.choose")),
        choices.map(([v, label]) => h("option", { value: v }, label)),
      );
      select.value = value ?? "";
      return select;
    }
    case "checkbox":
      return h("input", { ...common, type: "checkbox", class: "check", checked: value === true });
    case "country":
    case "currency":
      return h("input", {
        ...common,
        class: "input input-short input-code",
        type: "text",
        maxlength: hint.widget === "country" ? "2" : "3",
        autocapitalize: "characters",
        autocomplete: hint.autocomplete ?? "off",
        value: value ?? "",
      });
    default: {
      const numeric = node.type === "integer" || node.type === "number";
      return h("input", {
        ...common,
        class: numeric ? "input input-short" : "input",
        type: numeric ? "text" : (INPUT_TYPES[hint.widget] ?? "text"),
        inputmode: numeric ? "numeric" : null,
        autocomplete: hint.autocomplete ?? null,
        maxlength: node.maxLength,
        value: value ?? "",
      });
    }
  }
}

function describedBy(id, help, error) {
  return [help && `${id}-hint`, error && `${id}-error`].filter(Boolean).join(" ") || null;
}

function fieldFor(f, values, files, errors, context) {
  const { pointer, hint, required } = f;
  const id = controlId(pointer);
  const error = errors[pointer];
  const help = text(hint.help);
  // The catalogue's label is the single source (#16 item 2): it says "(optional)" where a field
  // is, so the app adds nothing (a screen reader would read it twice).
  const label = text(hint.label);
  const wrap = (...children) =>
    h(
      "div",
      {
        class: error ? "field field-invalid" : "field",
        "data-pointer": pointer,
        "data-visible-when": hint.visibleWhen ? JSON.stringify(hint.visibleWhen) : null,
        hidden: !visible(hint, values),
      },
      ...children,
    );
  const helpNode = help ? h("p", { id: `${id}-hint`, class: "hint" }, help) : null;
  const errorNode = error ? h("p", { id: `${id}-error`, class: "field-error" }, error) : null;
  if (hint.widget === "group") {
    // Under the page's h1 (no section heading between): an h2, so no level is skipped (#16 item 7).
    return h("h2", { class: "form-group", "data-pointer": pointer }, text(hint.label));
  }
  if (hint.widget === "radio") {
    const options = hint.options ?? {};
    return wrap(
      h(
        "fieldset",
        { id, tabindex: "-1", "aria-describedby": describedBy(id, help, error), "aria-invalid": error ? "true" : null },
        h("legend", {}, label),
        helpNode,
        errorNode,
        Object.entries(options).map(([v, optionLabel]) =>
          h(
            "label",
            { class: "checkbox" },
            h("input", { type: "radio", name: pointer, value: v, checked: getAt(values, pointer) === v }),
            ` ${text(optionLabel)}`,
          ),
        ),
      ),
    );
  }
  if (hint.widget === "attachments") {
    const mine = files.filter((file) => file.pointer === pointer);
    return wrap(
      h("label", { for: id }, label),
      helpNode,
      errorNode,
      h("input", {
        id,
        type: "file",
        class: "input",
        multiple: true,
        accept: (hint.accept ?? ACCEPTED_TYPES).join(","),
        "data-attachments": pointer,
        "aria-describedby": describedBy(id, help, error),
        "aria-invalid": error ? "true" : null,
      }),
      mine.length
        ? h(
            "ul",
            { class: "file-list" },
            mine.map((file) =>
              h(
                "li",
                {},
                `${file.name} (${fmt.fileSize(file.blob.size, getLanguage())}) `,
                h(
                  "button",
                  {
                    type: "button",
                    class: "button button-secondary button-small",
                    "data-remove-file": file.key,
                    "aria-label": t("forms.removeFile", { name: file.name }),
                  },
                  t("forms.remove"),
                ),
              ),
            ),
          )
        : null,
    );
  }
  const input = control(f, getAt(values, pointer), context);
  input.setAttribute("aria-describedby", describedBy(id, help, error) ?? "");
  if (error) input.setAttribute("aria-invalid", "true");
  if (hint.widget === "checkbox") {
    return wrap(h("label", { class: "checkbox" }, input, " ", label), helpNode, errorNode);
  }
  return wrap(h("label", { for: id }, label), helpNode, errorNode, input);
}

/** The form's fields as DOM nodes (the page adds the <form> and its buttons). */
export function renderFields(definition, { values, files, errors, diplomas }) {
  return fields(definition).map((f) => fieldFor(f, values, files, errors, { diplomas }));
}

/** Show or hide fields whose visibleWhen depends on the current values. */
export function updateVisibility(form, values) {
  for (const wrap of form.querySelectorAll("[data-visible-when]")) {
    wrap.hidden = !visible({ visibleWhen: JSON.parse(wrap.dataset.visibleWhen) }, values);
  }
}

/** The content from the form's controls, typed by the schema; hidden and empty fields left out. */
export function collect(form, definition) {
  const values = {};
  for (const f of fields(definition)) {
    const { pointer, hint, node } = f;
    if (["group", "attachments"].includes(hint.widget)) continue;
    let value;
    if (hint.widget === "radio") {
      value = form.querySelector(`input[name="${CSS.escape(pointer)}"]:checked`)?.value;
    } else if (hint.widget === "checkbox") {
      value = form.elements.namedItem(pointer)?.checked ?? false;
    } else {
      value = form.elements.namedItem(pointer)?.value?.trim();
      if (value && (hint.widget === "country" || hint.widget === "currency")) value = value.toUpperCase();
      if (value && (node.type === "integer" || node.type === "number")) {
        const number = Number(value.replace(/[\s,.](?=\d{3}\b)/g, ""));
        value = Number.isFinite(number) ? number : value;
      }
    }
    if (value === undefined || value === "") continue;
    setAt(values, pointer, value);
  }
  return values;
}

/** Local checks before queueing: required fields that are visible but empty. */
export function missing(definition, values, files) {
  const errors = {};
  for (const f of fields(definition)) {
    if (!f.required || f.hint.widget === "group" || !visible(f.hint, values)) continue;
    const parent = f.pointer.split("/").slice(0, -1).join("/");
    if (parent && getAt(values, parent) === undefined && !fields(definition).find((g) => g.pointer === parent)?.required) continue;
    const minItems = f.node.minItems ?? 0;
    const empty =
      f.hint.widget === "attachments"
        ? files.filter((file) => file.pointer === f.pointer).length < Math.max(1, minItems)
        : getAt(values, f.pointer) === undefined;
    if (empty) errors[f.pointer] = t("forms.error.required");
  }
  return errors;
}

/** Field errors from the server, keyed by pointer, in the form's own words where it has them. */
export function serverErrors(definition, errors) {
  const out = {};
  for (const error of errors ?? []) {
    const hint = definition.ui.fields[error.path] ?? {};
    out[error.path || ""] = text(hint.messages?.[error.code]) || error.message;
  }
  return out;
}
