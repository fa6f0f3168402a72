// Drafts and the outbox of form submissions, in IndexedDB (store.js), replayed like Workbox's
// background-sync Queue (workbox-background-sync/src/Queue.ts): entries in the order they were
// sent, one at a time, an entry that meets a network failure goes back and the replay stops;
// a permanent refusal (field errors) moves only that entry to "needs attention".
// Each entry carries the client UUID made when the person pressed Send: the server stores it
// exactly once however often it is replayed (README.md, Forms, "Exactly once").
//
// Nothing the outbox accepted goes without the person's decision (README.md, Forms, "What the
// outbox guarantees"): entries and drafts are bound to their owner and sealed (vault.js); a
// session that ended keeps them, and only a session of that same owner sends them.
//
// Drafts live in drafts.js. Runs in the page and in the service worker (sw-module.js: with no
// app window visible): nothing here may touch window or document, except requestBackgroundSync
// (page only). One
// replay at a time across tabs and the worker (a Web Lock), and each change is broadcast so
// that every open forms page re-renders whoever changed the outbox.
//
// Entry states: queued -> sending -> received (receipt) -> processed | rejected; or attention
// (field errors: correct and send again), or retired (DUO no longer accepts its form version:
// form-migrate.js moves it to the current one). Transactions here never wait on the network
// or on crypto: read, close, work, then write.

import { ApiError, isUnauthenticated, mutate, NetworkError, query } from "./api.js";
import { uploadAttachment } from "./uploads.js";
import {
  DRAFTS,
  OUTBOX,
  OUTBOX_LOCK,
  transactOn,
  transactOnAll,
  WAITING_STATES,
} from "./store.js";
import {
  currentVault,
  draftKey,
  learnVault,
  openBlob,
  openRecord,
  openVault,
  sealRecord,
  visible,
} from "./vault.js";

export const SYNC_TAG = "duo-outbox";
const BATCH_MAX = 100; // submitForms takes up to 100 entries
const RETIRED = "FORM_VERSION_RETIRED";
const listeners = new Set();
// The other tabs and the service worker: "changed" after any entry changed there.
const others = "BroadcastChannel" in self ? new BroadcastChannel("duo-outbox") : null;
others?.addEventListener("message", () => notify());
let replaying = null;

/** Called with no arguments whenever an entry changed, here or elsewhere (re-render). */
export function onOutboxChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function notify() {
  for (const listener of listeners) listener();
}

function changed() {
  notify();
  others?.postMessage("changed");
}

// --- the outbox --------------------------------------------------------------------------

/** The signed-in person's outbox entries, oldest first (files without their bytes). */
export async function listOutbox() {
  const vault = await openVault();
  const records = (await transactOn(OUTBOX, "readonly", (s) => s.getAll())) ?? [];
  const mine = records.filter((r) => (vault ? visible(vault, r) : !r.owner && !r.sealed));
  const entries = await Promise.all(mine.map((r) => openRecord(vault, r.clientId, r)));
  return entries.sort((a, b) => a.queuedAt - b.queuedAt);
}

/**
 * What waits on this device for the person the device last knew, signed in or not (their
 * session may have ended): { owner, forms, attention, drafts }. Needs no key: the states are
 * in clear. Other people's waiting forms are not counted (nor ever shown).
 */
export async function waitingOnDevice() {
  const vault = await currentVault();
  const none = { owner: vault?.owner ?? null, forms: 0, attention: 0, drafts: 0 };
  if (!vault) return none;
  const [records, drafts] = await Promise.all(
    [OUTBOX, DRAFTS].map(async (name) => (await transactOn(name, "readonly", (s) => s.getAll()).catch(() => [])) ?? []),
  );
  const theirs = (r) => r.owner === vault.owner;
  const waiting = records.filter((r) => theirs(r) && WAITING_STATES.has(r.state));
  return {
    ...none,
    forms: waiting.length,
    attention: waiting.filter((r) => r.state === "attention" || r.state === "retired").length,
    drafts: drafts.filter(theirs).length,
  };
}

/**
 * Update a stored entry with `changes`, only if it is still there: a replay must not bring
 * back an entry the person removed meanwhile. Resolves to the updated entry or null.
 */
async function update(vault, entry, changes) {
  const next = { ...entry, ...changes };
  const previous = await transactOn(OUTBOX, "readonly", (s) => s.get(entry.clientId));
  if (!previous) return null;
  const record = vault ? await sealRecord(vault, entry.clientId, next, previous) : { ...next, owner: "" };
  let stored = false;
  await transactOnAll([OUTBOX], "readwrite", (tx) => {
    const store = tx.objectStore(OUTBOX);
    store.get(entry.clientId).onsuccess = (event) => {
      if (!event.target.result) return;
      store.put(record);
      stored = true;
    };
  });
  return stored ? next : null;
}

/** One of the signed-in person's entries with its files' bytes (to correct or move it). */
export async function loadEntry(clientId) {
  const vault = await openVault();
  const record = await transactOn(OUTBOX, "readonly", (s) => s.get(clientId));
  if (!record || (vault ? !visible(vault, record) : record.sealed)) return null;
  const entry = await openRecord(vault, clientId, record);
  entry.files = await Promise.all(
    (entry.files ?? []).map(async (file) => ({ ...file, blob: await openBlob(vault, clientId, record, file) })),
  );
  return entry;
}

export async function removeEntry(clientId) {
  await transactOn(OUTBOX, "readwrite", (s) => s.delete(clientId));
  changed();
}

/**
 * Queue a draft for sending: a new client UUID, the form version it was started on, the
 * content and the files still to upload ({ key, pointer, name, type, blob }). Drops the
 * draft, and the entry it corrects (`replaces`: "Correct and send again", a retired version
 * moved to the current one), in the same transaction: the form is never in neither place.
 */
export async function enqueue({ definition, content, files, replaces = null }) {
  const known = await currentVault();
  const vault = known?.key ? known : null;
  const entry = {
    clientId: crypto.randomUUID(),
    formId: definition.formId,
    formVersion: definition.version,
    title: definition.title,
    definition, // kept so that "needs attention" can be fixed offline on the same version
    content,
    files: files.map(({ attachmentId, uploadId, ...file }) => ({ ...file, attachmentId: null })),
    state: "queued",
    errors: [],
    receipt: null,
    submissionId: null,
    receivedAt: null,
    queuedAt: Date.now(),
  };
  // Sealed for the signed-in person. Without a key: in clear, bound to the person the device
  // last knew if any (Send pressed as their session ended: sealed at their next sign-in),
  // else to nobody yet (vault.js seals it for the next owner it learns).
  const record = vault
    ? await sealRecord(vault, entry.clientId, entry)
    : { ...entry, owner: known?.owner ?? "" };
  await transactOnAll([OUTBOX, DRAFTS], "readwrite", (tx) => {
    tx.objectStore(OUTBOX).put(record);
    tx.objectStore(DRAFTS).delete(draftKey(known?.owner, definition.formId));
    if (replaces) tx.objectStore(OUTBOX).delete(replaces);
  });
  changed();
  await requestBackgroundSync();
  return entry;
}

/**
 * Background Sync: the browser fires the worker's "sync" event when the connection is back,
 * also with the app closed; an open app window then replays, else the worker (sw.js).
 */
async function requestBackgroundSync() {
  try {
    const registration = await navigator.serviceWorker?.ready;
    await registration?.sync?.register(SYNC_TAG);
  } catch {
    /* not supported, or refused: app start, `online` and "Send now" still replay */
  }
}

/** The content with each attachment field's files replaced by their uploaded ids. */
function withAttachmentIds(entry) {
  const content = structuredClone(entry.content);
  for (const file of entry.files) {
    const key = file.pointer.slice(1);
    content[key] = [...(content[key] ?? []), file.attachmentId];
  }
  return content;
}

/**
 * Send what is queued; resolves to "done", "offline" (stopped at a network failure, entries
 * put back), "signedOut" (no session, or the person signed out here: entries kept for the
 * next sign-in) or "retry" (the server could not take them now: entries put back).
 * Concurrent calls share one replay; a replay in another tab or in the service worker is
 * waited for (then only what it left queued is sent).
 */
export function replay() {
  if (!replaying) {
    const locks = self.navigator?.locks;
    replaying = (locks ? locks.request(OUTBOX_LOCK, run) : run()).finally(() => {
      replaying = null;
    });
  }
  return replaying;
}

/** replay(), and what it did to the entries that were waiting: { result, sent, attention }. */
export async function replayAndCount() {
  const before = new Set((await listOutbox().catch(() => [])).filter(isQueued).map((e) => e.clientId));
  const result = await replay();
  const after = (await listOutbox().catch(() => [])).filter((e) => before.has(e.clientId));
  return {
    result,
    sent: after.filter((e) => e.state === "received").length,
    attention: after.filter((e) => e.state === "attention" || e.state === "retired").length,
  };
}

function isQueued(entry) {
  return entry.state === "queued" || entry.state === "sending";
}

async function run() {
  const records = (await transactOn(OUTBOX, "readonly", (s) => s.getAll())) ?? [];
  const known = await currentVault();
  // Signed out here (a session that ended, or a sign-out that kept the forms): they wait for
  // the next sign-in, even if the browser still holds a cookie that works.
  if (known && !known.key) return records.some(isQueued) ? "signedOut" : "done";
  if (!records.some(isQueued)) {
    // Nothing to send, but nobody known yet (the app's first start with this session): learn
    // the owner now, so that forms queued offline later are sealed for them at once.
    if (!known) await learnVault().catch(() => undefined);
    return "done";
  }
  let vault;
  try {
    // Whose session this is decides what is sent, not what this device remembers.
    vault = await learnVault();
  } catch (error) {
    return failure(error);
  }
  const queued = [];
  for (const record of (await transactOn(OUTBOX, "readonly", (s) => s.getAll())) ?? []) {
    if (record.owner === vault.owner && isQueued(record)) {
      queued.push({ entry: await openRecord(vault, record.clientId, record), record });
    }
  }
  queued.sort((a, b) => a.entry.queuedAt - b.entry.queuedAt);
  const ready = [];
  try {
    // Attachments first, one file at a time in order; an upload resumes where it stopped.
    for (const item of queued) {
      let entry = await update(vault, item.entry, { state: "sending" });
      if (!entry) continue; // removed meanwhile
      changed();
      for (const file of entry.files.filter((f) => !f.attachmentId)) {
        const upload = { ...file, blob: await openBlob(vault, entry.clientId, item.record, file) };
        try {
          file.attachmentId = await uploadAttachment(upload, { owner: vault.owner });
        } finally {
          // Also after a failure: the next replay resumes this upload where it stopped.
          file.uploadId = upload.uploadId ?? file.uploadId;
          entry = (await update(vault, entry, { files: entry.files })) ?? entry;
        }
      }
      ready.push(entry);
    }
  } catch (error) {
    await putBack(vault, queued.map((item) => item.entry));
    return failure(error);
  }
  try {
    for (let i = 0; i < ready.length; i += BATCH_MAX) {
      const batch = ready.slice(i, i + BATCH_MAX);
      const inputs = batch.map((e) => ({
        clientId: e.clientId,
        formId: e.formId,
        formVersion: e.formVersion,
        content: withAttachmentIds(e),
      }));
      // The owner goes along: a session of anyone else stores nothing (forms/outbox.py).
      const owner = vault.owner;
      const results =
        inputs.length === 1
          ? [(await mutate("SubmitForm", { input: inputs[0], owner })).submitForm]
          : (await mutate("SubmitForms", { inputs, owner })).submitForms;
      for (const [index, result] of results.entries()) await record(vault, batch[index], result);
    }
  } catch (error) {
    await putBack(vault, ready);
    return failure(error);
  }
  return "done";
}

async function record(vault, entry, result) {
  if (result.status === "ACCEPTED") {
    await update(vault, entry, {
      state: "received",
      receipt: result.receipt,
      submissionId: result.submission?.id ?? null,
      receivedAt: result.submission?.receivedAt ?? new Date().toISOString(),
      errors: [],
    });
  } else {
    const errors = result.errors ?? [];
    const retired = errors.some((e) => e.code === RETIRED);
    await update(vault, entry, { state: retired ? "retired" : "attention", errors });
  }
  changed();
}

async function putBack(vault, entries) {
  for (const entry of entries) {
    const current = await transactOn(OUTBOX, "readonly", (s) => s.get(entry.clientId));
    if (current?.state === "sending") {
      const opened = await openRecord(vault, entry.clientId, current);
      await update(vault, opened, { state: "queued" });
    }
  }
  changed();
}

function failure(error) {
  if (isUnauthenticated(error)) return "signedOut";
  if (error instanceof NetworkError) return "offline";
  // The server refused the request as a whole (a session of someone else, a server error):
  // the entries wait, and the next replay tries again.
  if (!(error instanceof ApiError) || error.code !== "OUTBOX_OWNER_MISMATCH") console.warn(error);
  return "retry";
}

/** Bring received entries up to date with the server (processed, rejected with reason). */
export async function refreshStatuses() {
  const vault = await openVault();
  if (!vault) return;
  const entries = (await listOutbox()).filter((e) => e.submissionId);
  if (entries.length === 0) return;
  const data = await query("FormsSubmissions", { first: 100 });
  const byId = new Map(data.viewer.submissions.nodes.map((s) => [s.id, s]));
  let any = false;
  for (const entry of entries) {
    const server = byId.get(entry.submissionId);
    const state = { PROCESSED: "processed", REJECTED: "rejected" }[server?.status] ?? "received";
    if (server && (state !== entry.state || server.statusReason !== entry.statusReason)) {
      await update(vault, entry, { state, statusReason: server.statusReason ?? null });
      any = true;
    }
  }
  if (any) changed();
}
