// Whose forms these are, and the key that seals them (README.md, Forms, "What the outbox
// guarantees"). The server gives each person an opaque owner id and an AES-256-GCM key, to a
// live session of theirs only (viewer.outboxKey). Drafts and outbox entries keep the owner id
// in clear and everything else sealed with the key, so that after the session ended (or a
// sign-out that kept them) they stay on the device, unreadable, until the same person signs in
// again: anyone else who signs in there neither sees nor sends them.
//
// The record { name: "owner", owner, key } in the "keys" store says who this device last knew:
//   key set   the app thinks this owner is signed in: entries are shown, sealed and sent;
//   key null  their session ended or they signed out: nothing is shown, nothing is sent;
//   missing   nobody yet, or a sign-in that has not learnt its owner yet.
// The key is a non-extractable CryptoKey: page scripts can use it, nothing can export it.
// Runs in the page and in the service worker.

import { query } from "./api.js";
import { DRAFTS, KEYS, OUTBOX, OWNER_RECORD, transactOn, transactOnAll } from "./store.js";
import { b64urlDecode } from "./verify-core.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** { owner, key } as this device last knew it (key null: signed out), or null. */
export async function currentVault() {
  const record = await transactOn(KEYS, "readonly", (s) => s.get(OWNER_RECORD)).catch(() => null);
  return record ? { owner: record.owner, key: record.key ?? null } : null;
}

/** The vault whose records may be shown and changed now (signed in here), else null. */
export async function openVault() {
  const vault = await currentVault();
  return vault?.key ? vault : null;
}

/**
 * A record the signed-in person may see: bound to them, or saved in clear with no owner
 * (while no key was known; learnVault() seals those for the next owner it learns).
 */
export function visible(vault, record) {
  return record.owner === vault.owner || (!record.owner && !record.sealed);
}

/**
 * Ask the server whose session this is (the session cookie goes along): stores and returns
 * { owner, key }. Rejects like any query (NetworkError, ApiError UNAUTHENTICATED, …).
 * Entries and drafts saved while no owner was known (app updates, a sign-in that could not
 * ask yet) are sealed for this owner now.
 */
export async function learnVault() {
  const data = await query("OutboxKey");
  const { owner, key: encoded } = data.viewer.outboxKey;
  const known = await currentVault();
  let vault = known;
  if (!known?.key || known.owner !== owner) {
    const key = await crypto.subtle.importKey("raw", b64urlDecode(encoded), "AES-GCM", false, [
      "encrypt",
      "decrypt",
    ]);
    vault = { owner, key };
    await transactOn(KEYS, "readwrite", (s) => s.put({ name: OWNER_RECORD, ...vault }));
  }
  await adoptUnowned(vault);
  return vault;
}

/**
 * A sign-in is about to tell who uses the device now: forget the previous owner, and give
 * what nobody owns to nobody (it was saved before this sign-in, so it is not the new
 * person's): such entries are kept, never shown, never sent.
 */
export async function forgetOwner() {
  const unclaimed = `unclaimed-${Date.now()}`;
  await transactOnAll([KEYS, OUTBOX, DRAFTS], "readwrite", (tx) => {
    tx.objectStore(KEYS).delete(OWNER_RECORD);
    for (const name of [OUTBOX, DRAFTS]) {
      const store = tx.objectStore(name);
      store.openCursor().onsuccess = (event) => {
        const cursor = event.target.result;
        if (!cursor) return;
        if (!cursor.value.owner) cursor.update({ ...cursor.value, owner: unclaimed });
        cursor.continue();
      };
    }
  });
}

// Saved in clear (no key was known when they were saved), with no owner or with this one:
// seal them now.
async function adoptUnowned(vault) {
  const [entries, drafts] = await Promise.all(
    [OUTBOX, DRAFTS].map(async (name) => (await transactOn(name, "readonly", (s) => s.getAll())) ?? []),
  );
  const ours = (r) => !r.sealed && (!r.owner || r.owner === vault.owner);
  for (const record of entries.filter(ours)) {
    const sealed = await sealRecord(vault, record.clientId, record);
    await transactOn(OUTBOX, "readwrite", (s) => s.put(sealed));
  }
  for (const record of drafts.filter((r) => !r.owner && !r.sealed)) {
    const id = draftKey(vault.owner, record.formId);
    const sealed = await sealRecord(vault, id, { ...record, id });
    await transactOnAll([DRAFTS], "readwrite", (tx) => {
      const store = tx.objectStore(DRAFTS);
      store.delete(record.id);
      // A draft of the same form the owner already has wins (it is the newer one).
      store.get(id).onsuccess = (event) => {
        if (!event.target.result) store.put(sealed);
      };
    });
  }
}

/** A draft's key: one draft per form and owner ("" for none). */
export function draftKey(owner, formId) {
  return `${owner ?? ""}/${formId}`;
}

// --- sealing ------------------------------------------------------------------------------
// AES-GCM (WebCrypto) with a random 96-bit IV per message; the owner and the record's id are
// authenticated data, so a sealed value cannot be moved to another entry or owner unnoticed.

// What stays readable in a record: enough to count, order and route, nothing about the form.
const CLEAR = new Set(["clientId", "id", "owner", "state", "queuedAt", "savedAt"]);

/**
 * The record to store for `value` ({ clientId|id, state, …, files: [{ key, blob, … }] }):
 * the clear fields, `sealed` (everything else, as JSON) and `blobs` (each file's bytes,
 * sealed on their own). `previous` (the stored record) lends the sealed bytes of files
 * already there, so saving a draft as someone types does not encrypt its photos again.
 */
export async function sealRecord(vault, id, value, previous = null) {
  const clear = {};
  const secret = {};
  for (const [name, item] of Object.entries(value)) {
    if (name === "sealed" || name === "blobs") continue;
    (CLEAR.has(name) ? clear : secret)[name] = item;
  }
  const blobs = {};
  secret.files = await Promise.all(
    (value.files ?? []).map(async ({ blob, ...file }) => {
      const fileKey = file.key ?? crypto.randomUUID();
      const kept = previous?.blobs?.[fileKey];
      if (kept) blobs[fileKey] = kept;
      else if (blob) blobs[fileKey] = await seal(vault, `${id}\n${fileKey}`, await blob.arrayBuffer());
      return { ...file, key: fileKey, size: file.size ?? blob?.size ?? 0, type: file.type ?? blob?.type };
    }),
  );
  const sealed = await seal(vault, id, encoder.encode(JSON.stringify(secret)));
  return { ...clear, owner: vault.owner, sealed, blobs };
}

/** The value back from a record (files without their bytes: see openBlob). */
export async function openRecord(vault, id, record) {
  if (!record.sealed) return { ...record }; // saved in clear, before an owner was known
  const secret = JSON.parse(decoder.decode(await open(vault, id, record.sealed)));
  const clear = {};
  for (const name of CLEAR) if (name in record) clear[name] = record[name];
  return { ...secret, ...clear };
}

/** One file's bytes from a record, as a Blob of its type. */
export async function openBlob(vault, id, record, file) {
  if (!record.sealed) return record.files.find((f) => f.key === file.key)?.blob ?? file.blob;
  const sealed = record.blobs?.[file.key];
  if (!sealed) throw new Error(`outbox: the bytes of ${file.name} are missing`);
  return new Blob([await open(vault, `${id}\n${file.key}`, sealed)], { type: file.type });
}

async function seal(vault, aad, bytes) {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const data = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: encoder.encode(`${vault.owner}\n${aad}`) },
    vault.key,
    bytes,
  );
  return { iv, data };
}

function open(vault, aad, { iv, data }) {
  return crypto.subtle.decrypt(
    { name: "AES-GCM", iv, additionalData: encoder.encode(`${vault.owner}\n${aad}`) },
    vault.key,
    data,
  );
}
