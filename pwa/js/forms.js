// The forms pages: #/forms (catalogue, drafts, the outbox with its states and receipts) and
// #/forms/<formId> (fill a form; the draft is saved as you type, pinned to its version).
// Sending queues the submission in the outbox (outbox.js), which works offline. A draft or an
// entry on a version DUO no longer accepts moves to the current one (form-migrate.js), and the
// person sees what changed before sending it again.

import { isUnauthenticated, query } from "./api.js";
import { migrateDraft } from "./form-migrate.js";
import { focusField } from "./error-summary.js";
import { collect, controlId, fields, missing, serverErrors, updateVisibility } from "./form-render.js";
import { formPageView, formsListView } from "./forms-views.js";
import { t } from "./i18n.js";
import * as draftStore from "./drafts.js";
import * as outbox from "./outbox.js";
import { loadSnapshot, saveSnapshot, WAITING_STATES } from "./store.js";
import { checkFile } from "./uploads.js";

const CATALOGUE = "FormsCatalogue";
// Until when DUO accepts the versions that drafts and waiting entries are pinned to.
const ACCEPTANCE = "FormVersions";
const SAVE_DELAY_MS = 300;

/**
 * Replay the outbox now, on `online`, and when the service worker's sync event asks (with no
 * app window visible the worker replays by itself: sw.js, sw-module.js). `onSignedOut`: the
 * replay found no session (the entries are kept for the next sign-in).
 */
export function startOutbox({ onSignedOut }) {
  const run = async () => {
    if ((await outbox.replay()) === "signedOut") onSignedOut();
  };
  window.addEventListener("online", run);
  navigator.serviceWorker?.addEventListener("message", (event) => {
    if (event.data?.type === "replay-outbox") run();
  });
  run().then(() => (navigator.onLine ? outbox.refreshStatuses().catch(() => undefined) : undefined));
}

const pinKey = (formId, version) => `${formId}@${version}`;

/** The page { render, enter, leave } for app.js's router. */
export function formsPage(host) {
  let catalogue = null; // { revision, forms: [...] }
  let catalogueAt = null;
  let entries = [];
  let drafts = [];
  let diplomas = [];
  let form = null; // { definition, values, files, errors, migration, replaces } of the open form
  let busy = false;
  let saveTimer = null;
  let unsubscribe = null;
  // "<formId>@<version>" -> acceptedUntil (ISO) of the versions drafts and entries are pinned
  // to, where that is not the current version (forms/catalogue.py: the grace period).
  let acceptance = {};
  let blocked = null; // the entry whose correction waits for another draft of its form
  let pendingFocus = null; // "changes": focus the list of changes once the form is open
  let online = navigator.onLine;

  const onScreen = () => host.view() === "forms";
  const onOnline = () => {
    online = navigator.onLine;
    if (onScreen()) host.render();
  };

  async function loadLocal() {
    entries = await outbox.listOutbox().catch(() => []);
    drafts = await draftStore.listDrafts().catch(() => []);
  }

  async function load(formId) {
    const saved = await loadSnapshot(CATALOGUE).catch(() => undefined);
    if (saved && !catalogue) [catalogue, catalogueAt] = [saved.data, saved.fetchedAt];
    acceptance = (await loadSnapshot(ACCEPTANCE).catch(() => undefined))?.data ?? acceptance;
    diplomas = (await loadSnapshot("Dashboard").catch(() => undefined))?.data?.diplomas ?? [];
    await loadLocal();
    if (formId) await openForm(formId);
    if (onScreen()) host.render();
    try {
      const data = await query(CATALOGUE);
      catalogue = data.formCatalogue;
      catalogueAt = Date.now();
      await saveSnapshot(CATALOGUE, catalogue, catalogueAt).catch(() => undefined);
      await refreshAcceptance();
      if (formId && (!form?.definition || isRetired(form.definition))) await openForm(formId);
      await outbox.refreshStatuses().catch((error) => {
        if (isUnauthenticated(error)) host.sessionEnded();
      });
      await loadLocal();
    } catch {
      /* offline: the stored catalogue serves */
    }
    if (onScreen()) host.render();
  }

  /** Ask until when the pinned versions that are no longer current are accepted. */
  async function refreshAcceptance() {
    const current = new Map(catalogue.forms.map((f) => [f.formId, f.version]));
    const pinned = new Map();
    for (const item of [...drafts, ...entries.filter((e) => WAITING_STATES.has(e.state))]) {
      const version = item.formVersion ?? item.definition?.version;
      if (current.has(item.formId) && current.get(item.formId) !== version) {
        pinned.set(pinKey(item.formId, version), [item.formId, version]);
      }
    }
    const next = {};
    for (const [key, [id, version]] of pinned) {
      const data = await query("FormsDefinition", { id, version });
      next[key] = data.form?.acceptedUntil ?? null;
    }
    acceptance = next;
    await saveSnapshot(ACCEPTANCE, acceptance).catch(() => undefined);
  }

  /** Until when DUO accepts this version (ISO), if it is not the current one and we know. */
  function acceptedUntil(formId, version) {
    return acceptance[pinKey(formId, version)] ?? null;
  }

  function isRetired(definition) {
    const until = acceptedUntil(definition.formId, definition.version);
    return until !== null && Date.parse(until) <= Date.now();
  }

  /**
   * The current version of a form, newer than `version`: from the catalogue, else asked for
   * (the stored catalogue may be older than the server's answer). Null when offline.
   */
  async function currentDefinition(formId, version) {
    const listed = catalogue?.forms.find((f) => f.formId === formId);
    if (listed && listed.version > version && !isRetired(listed)) return listed;
    try {
      return (await query("FormsDefinition", { id: formId })).form;
    } catch {
      return null;
    }
  }

  /**
   * The open form moved to the current version (its draft was on a retired one): what carries
   * over carries over, the rest is listed on the page. False when the new version cannot be
   * loaded now (offline): the draft stays as it is.
   */
  async function moveToCurrent() {
    const current = await currentDefinition(form.definition.formId, form.definition.version);
    if (!current || current.version <= form.definition.version) return false;
    const moved = migrateDraft(form.definition, current, form.values, form.files);
    form = {
      definition: current,
      values: moved.values,
      files: moved.files,
      errors: {},
      migration: { ...moved.changes, from: form.migration?.from ?? moved.changes.from },
      replaces: form.replaces ?? null,
      started: true,
      moved: true,
    };
    await saveNow();
    return true;
  }

  /** The draft of this form (pinned to its version), else a new one on the current version. */
  async function openForm(formId) {
    const draft = await draftStore.loadDraft(formId).catch(() => undefined);
    const definition = draft?.definition ?? catalogue?.forms.find((f) => f.formId === formId);
    form = definition
      ? {
          definition,
          values: draft?.values ?? {},
          files: draft?.files ?? [],
          errors: draft?.errors ?? {},
          migration: draft?.migration ?? null,
          replaces: draft?.replaces ?? null,
          started: Boolean(draft),
        }
      : { definition: null, formId };
    if (draft && isRetired(definition)) await moveToCurrent();
  }

  /** Focus and announce the list of changes after a move to the current version, else the
   * first field DUO refused (a correction opens there: #16 item 15). */
  function showChanges() {
    if (form?.definition && !form.moved && !form.shownErrors) {
      form.shownErrors = true;
      const first = fields(form.definition).find((f) => form.errors?.[f.pointer]);
      if (first) focusField(controlId(first.pointer));
    }
    if (!form?.moved) return;
    form.moved = false;
    document.getElementById("changes-title")?.focus();
    host.announce(t("forms.changes.announce"));
  }

  /**
   * A correction becomes the form's draft; another draft of the same form must be sent or
   * discarded first (one draft per form), and the person is told so at the entry.
   */
  function draftInTheWay(entry) {
    const other = drafts.find((d) => d.formId === entry.formId && d.replaces !== entry.clientId);
    if (!other) return false;
    blocked = entry.clientId;
    host.render();
    document.getElementById(`blocked-${entry.clientId}`)?.focus();
    return true;
  }

  function saveSoon() {
    clearTimeout(saveTimer);
    saveTimer = setTimeout(saveNow, SAVE_DELAY_MS);
  }

  async function saveNow() {
    clearTimeout(saveTimer);
    if (!form?.definition) return;
    const { definition, values, files, errors, migration = null, replaces = null } = form;
    await draftStore
      .saveDraft({
        formId: definition.formId,
        formVersion: definition.version,
        definition,
        values,
        files,
        errors,
        migration,
        replaces,
      })
      .catch((error) => console.warn(error));
  }

  const handlers = {
    input(event) {
      const element = event.currentTarget;
      form.values = collect(element, form.definition);
      updateVisibility(element, form.values);
      saveSoon();
    },
    async addFiles(input) {
      const pointer = input.dataset.attachments;
      for (const file of input.files) {
        const problem = checkFile(file);
        if (problem) {
          form.errors = { ...form.errors, [pointer]: t(problem, { name: file.name }) };
          continue;
        }
        form.files.push({ key: crypto.randomUUID(), pointer, name: file.name, type: file.type, blob: file });
      }
      await saveNow();
      host.render();
      document.getElementById(controlId(pointer))?.focus();
    },
    async removeFile(key) {
      form.files = form.files.filter((f) => f.key !== key);
      await saveNow();
      host.render();
    },
    async send(element) {
      if (busy) return;
      form.values = collect(element, form.definition);
      // DUO would refuse this version now: move it first, and show what changed.
      if (isRetired(form.definition) && (await moveToCurrent())) {
        host.render();
        showChanges();
        return;
      }
      form.errors = missing(form.definition, form.values, form.files);
      const first = Object.keys(form.errors)[0];
      if (first !== undefined) {
        await saveNow();
        host.render();
        document.getElementById(controlId(first))?.focus();
        host.announce(t("forms.fixErrors"));
        return;
      }
      busy = true;
      clearTimeout(saveTimer);
      navigator.storage?.persist?.().catch(() => undefined);
      const queued = await outbox.enqueue({
        definition: form.definition,
        content: form.values,
        files: form.files,
        replaces: form.replaces ?? null,
      });
      busy = false;
      form = null;
      const say = (key) => host.announce(t(key), { route: "#/forms" });
      say(navigator.onLine ? "forms.queuedOnline" : "forms.queuedOffline");
      location.hash = "#/forms";
      if (!navigator.onLine) return;
      // "Sending" is true only until the replay ends (#16 item 4): then say what became of it,
      // unless the person has moved on (the message belongs to the forms page).
      const result = await outbox.replay();
      const entry = (await outbox.listOutbox().catch(() => [])).find((e) => e.clientId === queued.clientId);
      if (!onScreen() || host.live() !== t("forms.queuedOnline")) return;
      if (result === "signedOut") return;
      if (entry?.state === "received" || entry?.state === "processed") say("forms.receivedNow");
      else if (entry?.state === "attention" || entry?.state === "retired") say("forms.needsAttentionNow");
      else if (result === "offline") say("forms.queuedOffline");
      else if (entry) say("forms.notNow");
    },
    async discard() {
      await draftStore.deleteDraft(form.definition.formId).catch(() => undefined);
      form = null;
      host.announce(t("forms.discarded"), { route: "#/forms" });
      location.hash = "#/forms";
    },
    async sendNow() {
      const { result, attention } = await outbox.replayAndCount();
      // The session ended: the entries stay, and the sign-in page says how to send them.
      if (result === "signedOut") {
        host.sessionEnded();
        return;
      }
      const message = {
        done: attention > 0 ? "forms.sentWithAttention" : "forms.sent",
        offline: "forms.stillQueued",
        retry: "forms.notNow",
      }[result];
      host.announce(t(message));
    },
    async fix(entry) {
      // Edit and send again: a new client id (the content changes), the same pinned version.
      // The entry stays in the outbox until its correction is queued (it replaces it then).
      if (draftInTheWay(entry)) return;
      const full = await outbox.loadEntry(entry.clientId);
      if (!full) return;
      await draftStore.saveDraft({
        formId: full.formId,
        formVersion: full.formVersion,
        definition: full.definition,
        values: full.content,
        files: full.files.map(({ attachmentId, uploadId, ...file }) => file),
        errors: serverErrors(full.definition, full.errors),
        replaces: full.clientId,
      });
      location.hash = `#/forms/${encodeURIComponent(entry.formId)}`;
    },
    async moveToNewVersion(entry) {
      // DUO no longer accepts the entry's version: its answers become a draft of the current
      // one (the entry stays until that is queued), and the form page shows what changed.
      if (draftInTheWay(entry)) return;
      const current = await currentDefinition(entry.formId, entry.formVersion);
      if (!current || current.version <= entry.formVersion) {
        host.announce(t("forms.newVersionOffline"));
        return;
      }
      const full = await outbox.loadEntry(entry.clientId);
      if (!full) return;
      const files = full.files.map(({ attachmentId, uploadId, ...file }) => file);
      const moved = migrateDraft(full.definition, current, full.content, files);
      await draftStore.saveDraft({
        formId: full.formId,
        formVersion: current.version,
        definition: current,
        values: moved.values,
        files: moved.files,
        errors: {},
        migration: moved.changes,
        replaces: full.clientId,
      });
      pendingFocus = "changes";
      location.hash = `#/forms/${encodeURIComponent(entry.formId)}`;
    },
    async remove(entry) {
      await outbox.removeEntry(entry.clientId);
      host.announce(t("forms.removed"));
    },
  };

  const context = () => ({ catalogue, catalogueAt, entries, drafts, diplomas, online, blocked, acceptedUntil });

  return {
    /** Save the open form's draft now (before a session's key goes: session.js). */
    flush: () => (form ? saveNow() : undefined),
    enter(options) {
      form = null;
      blocked = null;
      online = navigator.onLine;
      window.addEventListener("online", onOnline);
      window.addEventListener("offline", onOnline);
      unsubscribe = outbox.onOutboxChange(async () => {
        await loadLocal();
        if (onScreen()) host.render();
      });
      load(options.id).then(() => {
        if (pendingFocus === "changes" && form) form.moved = true;
        pendingFocus = null;
        showChanges();
      });
    },
    leave() {
      if (form) saveNow();
      unsubscribe?.();
      window.removeEventListener("online", onOnline);
      window.removeEventListener("offline", onOnline);
      form = null;
    },
    render(options) {
      if (options.id) {
        if (form && (form.definition?.formId ?? form.formId) !== options.id) {
          saveNow();
          form = null;
        }
        if (!form) {
          form = { definition: null, formId: options.id, loading: true };
          openForm(options.id).then(() => {
            if (pendingFocus === "changes" && form) form.moved = true;
            pendingFocus = null;
            host.render();
            showChanges();
          });
        }
        return formPageView({ form, ...context() }, handlers);
      }
      if (form) {
        saveNow();
        form = null;
      }
      blocked = blocked && entries.some((e) => e.clientId === blocked) ? blocked : null;
      return formsListView(context(), handlers);
    },
  };
}
