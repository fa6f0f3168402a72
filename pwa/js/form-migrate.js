// Moving a draft from a retired form version to the current one (README.md, Forms, "Versions").
//
// A field carries over when the new version asks the same question: a field at the same JSON
// Pointer, of the same type and format, whose allowed values (enum, const) include the answer.
// Catalogue authors keep that promise by giving a field whose meaning changes a new name.
// Everything else is listed for the person, with what they had answered, before they send the
// form again: nothing is dropped silently.

import { fields, getAt, setAt } from "./form-render.js";

// Fields that hold an answer (a group is a heading; its children are fields of their own).
function answerable(definition) {
  return fields(definition).filter((f) => f.hint.widget !== "group");
}

function sameQuestion(before, after, value) {
  const [a, b] = [before.node, after.node];
  if ((a.type ?? null) !== (b.type ?? null) || (a.format ?? null) !== (b.format ?? null)) return false;
  if ((before.hint.widget === "attachments") !== (after.hint.widget === "attachments")) return false;
  if (Array.isArray(b.enum) && !b.enum.includes(value)) return false;
  if ("const" in b && b.const !== value) return false;
  return true;
}

// An answer as the person gave it: an option's label rather than its code, yes/no.
function shown(field, value) {
  if (typeof value === "boolean") return { key: value ? "forms.changes.yes" : "forms.changes.no" };
  const option = field.hint.options?.[value];
  return option ? { text: option } : { plain: String(value) };
}

/**
 * The draft { values, files } of `from` (an older version) moved to `to` (the current one):
 * resolves to { values, files, changes }, where changes = { from, to, dropped: [{ pointer,
 * label, answer }], added: [{ pointer, label, required }] } (labels as { en, nl }).
 */
export function migrateDraft(from, to, values, files) {
  const before = answerable(from);
  const after = new Map(answerable(to).map((f) => [f.pointer, f]));
  const carried = {};
  const keptFiles = [];
  const dropped = [];
  for (const field of before) {
    const target = after.get(field.pointer);
    if (field.hint.widget === "attachments") {
      const attached = files.filter((file) => file.pointer === field.pointer);
      if (attached.length === 0) continue;
      if (target?.hint.widget === "attachments") keptFiles.push(...attached);
      else {
        const names = attached.map((file) => file.name).join(", ");
        dropped.push({ pointer: field.pointer, label: field.hint.label, answer: { plain: names } });
      }
      continue;
    }
    const value = getAt(values, field.pointer);
    if (value === undefined || (value !== null && typeof value === "object")) continue;
    if (target && sameQuestion(field, target, value)) setAt(carried, field.pointer, value);
    else dropped.push({ pointer: field.pointer, label: field.hint.label, answer: shown(field, value) });
  }
  const known = new Set(before.map((f) => f.pointer));
  const added = [...after.values()]
    .filter((f) => !known.has(f.pointer))
    .map((f) => ({ pointer: f.pointer, label: f.hint.label, required: f.required }));
  return {
    values: carried,
    files: keptFiles,
    changes: { from: from.version, to: to.version, dropped, added },
  };
}
