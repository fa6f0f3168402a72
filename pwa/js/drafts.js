// Drafts of forms, saved as the person types (js/forms.js), one per form and person, sealed
// like outbox entries (vault.js) and kept, like them, when a session ends (README.md, Forms,
// "What the outbox guarantees"). Queueing a draft (outbox.js enqueue) removes it.

import { DRAFTS, transactOn } from "./store.js";
import { currentVault, draftKey, openBlob, openRecord, openVault, sealRecord, visible } from "./vault.js";

/**
 * Save the draft of a form ({ formId, formVersion, definition, values, files, errors, … });
 * files keep their bytes (blob).
 */
export async function saveDraft(draft) {
  const known = await currentVault();
  // Signed out here: the form page saved the draft, sealed, before the key went (session.js);
  // a save after that would only leave a copy in clear.
  if (known && !known.key) return;
  const vault = known;
  const id = draftKey(vault?.owner, draft.formId);
  const previous = await transactOn(DRAFTS, "readonly", (s) => s.get(id));
  const value = { ...draft, id, savedAt: Date.now() };
  const record = vault ? await sealRecord(vault, id, value, previous) : { ...value, owner: "" };
  await transactOn(DRAFTS, "readwrite", (s) => s.put(record));
}

/** The signed-in person's draft of this form (files with their bytes), or undefined. */
export async function loadDraft(formId) {
  const vault = await openVault();
  const id = draftKey(vault?.owner, formId);
  const record = await transactOn(DRAFTS, "readonly", (s) => s.get(id));
  if (!record || (vault && !visible(vault, record))) return undefined;
  if (!vault && record.sealed) return undefined;
  const draft = await openRecord(vault, id, record);
  draft.files = await Promise.all(
    (draft.files ?? []).map(async (file) => ({ ...file, blob: await openBlob(vault, id, record, file) })),
  );
  return draft;
}

export async function deleteDraft(formId) {
  const vault = await openVault();
  await transactOn(DRAFTS, "readwrite", (s) => s.delete(draftKey(vault?.owner, formId)));
}

/** The signed-in person's drafts (without file bytes). */
export async function listDrafts() {
  const vault = await openVault();
  const records = (await transactOn(DRAFTS, "readonly", (s) => s.getAll())) ?? [];
  if (!vault) return records.filter((r) => !r.owner && !r.sealed);
  return Promise.all(records.filter((r) => visible(vault, r)).map((r) => openRecord(vault, r.id, r)));
}

