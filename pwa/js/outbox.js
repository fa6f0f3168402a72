// Drafts and the outbox of form submissions, in IndexedDB (store.js), replayed like Workbox's
// background-sync Queue (workbox-background-sync/src/Queue.ts): entries in the order they were
// sent, one at a time, an entry that meets a network failure goes back and the replay stops;
// a permanent refusal (field errors) moves only that entry to "needs attention".
// Each entry carries the client UUID made when the person pressed Send: the server stores it
// exactly once however often it is replayed (README.md, Forms, "Exactly once").
//
// Runs in the page and in the service worker (sw-module.js: with no app window visible): nothing
// here may touch window or document, except requestBackgroundSync (page only). One
// replay at a time across tabs and the worker (a Web Lock), and each change is broadcast so
// that every open forms page re-renders whoever changed the outbox.
//
// Entry states: queued -> sending -> received (receipt) -> processed | rejected; or attention.
// Transactions here never wait on the network: read, close, fetch, then write.

import { isUnauthenticated, mutate, NetworkError, query } from "./api.js";
import { uploadAttachment } from "./uploads.js";
import { DRAFTS, OUTBOX, OUTBOX_LOCK, transactOn } from "./store.js";

export const SYNC_TAG = "duo-outbox";
const BATCH_MAX = 100; // submitForms takes up to 100 entries
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

export function saveDraft(draft) {
  return transactOn(DRAFTS, "readwrite", (s) => s.put({ ...draft, savedAt: Date.now() }));
}

export function loadDraft(formId) {
  return transactOn(DRAFTS, "readonly", (s) => s.get(formId));
}

export function deleteDraft(formId) {
  return transactOn(DRAFTS, "readwrite", (s) => s.delete(formId));
}

export function listDrafts() {
  return transactOn(DRAFTS, "readonly", (s) => s.getAll());
}

/** All outbox entries, oldest first. */
export async function listOutbox() {
  const all = (await transactOn(OUTBOX, "readonly", (s) => s.getAll())) ?? [];
  return all.sort((a, b) => a.queuedAt - b.queuedAt);
}

function put(entry) {
  return transactOn(OUTBOX, "readwrite", (s) => s.put(entry));
}

export async function removeEntry(clientId) {
  await transactOn(OUTBOX, "readwrite", (s) => s.delete(clientId));
  changed();
}

/**
 * Queue a draft for sending: a new client UUID, the form version it was started on, the
 * content and the files still to upload ({ pointer, name, type, blob }). Drops the draft.
 */
export async function enqueue({ definition, content, files }) {
  const entry = {
    clientId: crypto.randomUUID(),
    formId: definition.formId,
    formVersion: definition.version,
    title: definition.title,
    definition, // kept so that "needs attention" can be fixed offline on the same version
    content,
    files: files.map((f) => ({ ...f, attachmentId: null })),
    state: "queued",
    errors: [],
    receipt: null,
    submissionId: null,
    receivedAt: null,
    queuedAt: Date.now(),
  };
  await put(entry);
  await deleteDraft(definition.formId);
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
 * put back) or "signedOut". Concurrent calls share one replay; a replay in another tab or in
 * the service worker is waited for (then only what it left queued is sent).
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

async function run() {
  const queued = (await listOutbox()).filter((e) => e.state === "queued" || e.state === "sending");
  if (queued.length === 0) return "done";
  const ready = [];
  try {
    // Attachments first, one file at a time in order; an upload resumes where it stopped.
    for (const entry of queued) {
      entry.state = "sending";
      await put(entry);
      changed();
      for (const file of entry.files.filter((f) => !f.attachmentId)) {
        file.attachmentId = await uploadAttachment(file);
        await put(entry);
      }
      ready.push(entry);
    }
  } catch (error) {
    await putBack(queued);
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
      const results =
        inputs.length === 1
          ? [(await mutate("SubmitForm", { input: inputs[0] })).submitForm]
          : (await mutate("SubmitForms", { inputs })).submitForms;
      for (const [index, result] of results.entries()) await record(batch[index], result);
    }
  } catch (error) {
    await putBack(ready);
    return failure(error);
  }
  return "done";
}

async function record(entry, result) {
  if (result.status === "ACCEPTED") {
    entry.state = "received";
    entry.receipt = result.receipt;
    entry.submissionId = result.submission?.id ?? null;
    entry.receivedAt = result.submission?.receivedAt ?? new Date().toISOString();
    entry.errors = [];
  } else {
    entry.state = "attention";
    entry.errors = result.errors ?? [];
  }
  await put(entry);
  changed();
}

async function putBack(entries) {
  for (const entry of entries) {
    const current = await transactOn(OUTBOX, "readonly", (s) => s.get(entry.clientId));
    if (current?.state === "sending") await put({ ...entry, state: "queued" });
  }
  changed();
}

function failure(error) {
  if (isUnauthenticated(error)) return "signedOut";
  if (!(error instanceof NetworkError)) console.warn(error);
  return "offline";
}

/** Bring received entries up to date with the server (processed, rejected with reason). */
export async function refreshStatuses() {
  const entries = (await listOutbox()).filter((e) => e.submissionId);
  if (entries.length === 0) return;
  const data = await query("FormsSubmissions", { first: 100 });
  const byId = new Map(data.viewer.submissions.nodes.map((s) => [s.id, s]));
  let any = false;
  for (const entry of entries) {
    const server = byId.get(entry.submissionId);
    const state = { PROCESSED: "processed", REJECTED: "rejected" }[server?.status] ?? "received";
    if (server && (state !== entry.state || server.statusReason !== entry.statusReason)) {
      await put({ ...entry, state, statusReason: server.statusReason ?? null });
      any = true;
    }
  }
  if (any) changed();
}
