// The forms pages: #/forms (catalogue, drafts, the outbox with its states and receipts) and
// #/forms/<formId> (fill a form; the draft is saved as you type, pinned to its version).
// Sending queues the submission in the outbox (outbox.js), which works offline.

import { isUnauthenticated, query } from "./api.js";
import { collect, controlId, missing, serverErrors, updateVisibility } from "./form-render.js";
import { formPageView, formsListView } from "./forms-views.js";
import { t } from "./i18n.js";
import * as outbox from "./outbox.js";
import { loadSnapshot, saveSnapshot } from "./store.js";
import { checkFile } from "./uploads.js";

const CATALOGUE = "FormsCatalogue";
const SAVE_DELAY_MS = 300;

/**
 * Replay the outbox now, on `online`, and when the service worker's sync event asks (with no
 * app window visible the worker replays by itself: sw.js, sw-module.js).
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

/** The page { render, enter, leave } for app.js's router. */
export function formsPage(host) {
  let catalogue = null; // { revision, forms: [...] }
  let catalogueAt = null;
  let entries = [];
  let drafts = [];
  let diplomas = [];
  let form = null; // { definition, values, files, errors, formError } of the open form
  let busy = false;
  let saveTimer = null;
  let unsubscribe = null;

  const onScreen = () => host.view() === "forms";

  async function loadLocal() {
    entries = await outbox.listOutbox().catch(() => []);
    drafts = await outbox.listDrafts().catch(() => []);
  }

  async function load(formId) {
    const saved = await loadSnapshot(CATALOGUE).catch(() => undefined);
    if (saved && !catalogue) [catalogue, catalogueAt] = [saved.data, saved.fetchedAt];
    diplomas = (await loadSnapshot("Dashboard").catch(() => undefined))?.data?.diplomas ?? [];
    await loadLocal();
    if (formId) await openForm(formId);
    if (onScreen()) host.render();
    try {
      const data = await query(CATALOGUE);
      catalogue = data.formCatalogue;
      catalogueAt = Date.now();
      await saveSnapshot(CATALOGUE, catalogue, catalogueAt).catch(() => undefined);
      if (formId && !form?.definition) await openForm(formId);
      await outbox.refreshStatuses().catch((error) => {
        if (isUnauthenticated(error)) host.sessionEnded(error);
      });
      await loadLocal();
    } catch {
      /* offline: the stored catalogue serves */
    }
    if (onScreen()) host.render();
  }

  /** The draft of this form (pinned to its version), else a new one on the current version. */
  async function openForm(formId) {
    const draft = await outbox.loadDraft(formId).catch(() => undefined);
    const definition = draft?.definition ?? catalogue?.forms.find((f) => f.formId === formId);
    form = definition
      ? {
          definition,
          values: draft?.values ?? {},
          files: draft?.files ?? [],
          errors: draft?.errors ?? {},
          started: Boolean(draft),
        }
      : { definition: null, formId };
  }

  function saveSoon() {
    clearTimeout(saveTimer);
    saveTimer = setTimeout(saveNow, SAVE_DELAY_MS);
  }

  async function saveNow() {
    clearTimeout(saveTimer);
    if (!form?.definition) return;
    const { definition, values, files, errors } = form;
    await outbox
      .saveDraft({ formId: definition.formId, formVersion: definition.version, definition, values, files, errors })
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
      await outbox.enqueue({ definition: form.definition, content: form.values, files: form.files });
      busy = false;
      form = null;
      host.announce(t(navigator.onLine ? "forms.queuedOnline" : "forms.queuedOffline"));
      location.hash = "#/forms";
      if (navigator.onLine) outbox.replay();
    },
    async discard() {
      await outbox.deleteDraft(form.definition.formId).catch(() => undefined);
      form = null;
      host.announce(t("forms.discarded"));
      location.hash = "#/forms";
    },
    async sendNow() {
      const result = await outbox.replay();
      if (result === "signedOut") host.sessionEnded({ code: "UNAUTHENTICATED" });
      host.announce(t(result === "done" ? "forms.sent" : "forms.stillQueued"));
    },
    async fix(entry) {
      // Edit and send again: a new client id (the content changes), the same pinned version.
      const errors = serverErrors(entry.definition, entry.errors);
      await outbox.saveDraft({
        formId: entry.formId,
        formVersion: entry.formVersion,
        definition: entry.definition,
        values: entry.content,
        files: entry.files.map(({ attachmentId, uploadId, ...file }) => file),
        errors,
      });
      await outbox.removeEntry(entry.clientId);
      location.hash = `#/forms/${encodeURIComponent(entry.formId)}`;
    },
    async remove(entry) {
      await outbox.removeEntry(entry.clientId);
      host.announce(t("forms.removed"));
    },
  };

  return {
    enter(options) {
      form = null;
      unsubscribe = outbox.onOutboxChange(async () => {
        await loadLocal();
        if (onScreen()) host.render();
      });
      load(options.id);
    },
    leave() {
      if (form) saveNow();
      unsubscribe?.();
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
          openForm(options.id).then(() => host.render());
        }
        return formPageView({ form, diplomas, catalogue }, handlers);
      }
      if (form) {
        saveNow();
        form = null;
      }
      return formsListView({ catalogue, catalogueAt, entries, drafts }, handlers);
    },
  };
}
