// The extracts page (#/extracts) and one extract (#/extracts/<id>): create an extract from a
// diploma, keep it offline, open it and its verification without a connection, share it by
// link + QR code, see who opened a link, revoke links. Views: extracts-views.js.

import { isUnauthenticated, mutate, NetworkError, query } from "./api.js";
import { describeError } from "./fields.js";
import { t } from "./i18n.js";
import { keepExtract, storedExtract, storedIds } from "./extracts-store.js";
import { detailView, listView } from "./extracts-views.js";
import { loadSnapshot, saveSnapshot } from "./store.js";
import { verifyBoth } from "./verify.js";

const PAGE = "ExtractsPage";

/** The page { render, enter, leave } for app.js's router. */
export function extractsPage(host) {
  let status = "loading"; // loading | ready | offline | error
  let data = null; // ExtractsPage's viewer
  let fetchedAt = null;
  let offline = false; // data is the stored copy
  let kept = new Set(); // extract ids stored on this device
  let ui = { busy: null, error: null, share: null };
  let detail = null; // { id, stored, verdict, error }
  let generation = 0;

  const onScreen = () => host.view() === "extracts";

  async function load() {
    const mine = ++generation;
    kept = await storedIds().catch(() => new Set());
    if (!data) {
      const saved = await loadSnapshot(PAGE).catch(() => undefined);
      if (saved && mine === generation) {
        data = saved.data;
        fetchedAt = saved.fetchedAt;
        offline = true;
        status = "ready";
        if (onScreen()) host.render();
        if (detail) openDetail(detail.id);
      }
    }
    try {
      const result = await query(PAGE);
      if (mine !== generation) return;
      data = result.viewer;
      fetchedAt = Date.now();
      offline = false;
      status = "ready";
      await saveSnapshot(PAGE, data, fetchedAt).catch(() => undefined);
      // Extracts made on another device: keep them here too, quietly.
      for (const extract of data.extracts) {
        if (!kept.has(extract.id)) await keepExtract(extract).catch(() => undefined);
      }
      kept = await storedIds().catch(() => kept);
    } catch (error) {
      if (mine !== generation) return;
      if (isUnauthenticated(error)) {
        host.sessionEnded(error);
        return;
      }
      if (!data) status = error instanceof NetworkError ? "offline" : "error";
      else offline = true;
    }
    if (!onScreen()) return;
    host.render();
    if (detail && !detail.stored) openDetail(detail.id);
  }

  async function openDetail(id) {
    const extract = data?.extracts.find((e) => e.id === id);
    detail = { id, stored: null, verdict: null, error: null };
    if (!extract) return;
    try {
      let stored = await storedExtract(extract);
      if (!stored) {
        await keepExtract(extract);
        stored = await storedExtract(extract);
      }
      if (detail?.id !== id) return;
      detail.stored = stored;
      host.render();
      const verdict = await verifyBoth(stored.jws);
      if (detail?.id !== id) return;
      detail.verdict = verdict;
    } catch (error) {
      if (detail?.id !== id) return;
      detail.error = describeError(error);
    }
    if (onScreen()) host.render();
  }

  async function act(area, work, success) {
    if (ui.busy) return;
    ui = { ...ui, busy: area, error: null };
    host.render();
    try {
      const result = await work();
      ui.busy = null;
      if (success) host.announce(t(success));
      return result;
    } catch (error) {
      ui.busy = null;
      if (isUnauthenticated(error)) host.sessionEnded(error);
      else ui.error = { area, ...describeError(error) };
      host.render();
      document.getElementById(`${area}-error`)?.focus();
      return undefined;
    } finally {
      host.render();
    }
  }

  const handlers = {
    async create(diplomaId, language) {
      const created = await act(`create-${diplomaId}`, async () => {
        const { createExtract } = await mutate("CreateExtract", { diplomaId, language });
        await keepExtract(createExtract).catch(() => undefined);
        data.extracts = [createExtract, ...data.extracts];
        kept = await storedIds().catch(() => kept);
        await saveSnapshot(PAGE, data, fetchedAt).catch(() => undefined);
        return createExtract;
      }, "extracts.created");
      if (created) document.getElementById(`extract-${created.id}`)?.focus();
    },
    async share(extractId, days) {
      await act("share", async () => {
        const { createShareLink } = await mutate("CreateShareLink", {
          extractId,
          expiresInDays: days,
        });
        ui.share = { extractId, url: createShareLink.url, qr: createShareLink.qrSvgDataUri };
        data.shareLinks = [createShareLink.shareLink, ...data.shareLinks];
        await saveSnapshot(PAGE, data, fetchedAt).catch(() => undefined);
      }, "extracts.shared");
      document.getElementById("share-url")?.focus();
    },
    async revoke(linkId) {
      await act(`revoke-${linkId}`, async () => {
        const { revokeShareLink } = await mutate("RevokeShareLink", { id: linkId });
        const link = data.shareLinks.find((l) => l.id === linkId);
        if (link) Object.assign(link, revokeShareLink);
        await saveSnapshot(PAGE, data, fetchedAt).catch(() => undefined);
      }, "extracts.revoked");
    },
    async copy(text) {
      try {
        await navigator.clipboard.writeText(text);
        host.announce(t("extracts.copied"));
      } catch {
        document.getElementById("share-url")?.select();
      }
    },
    refresh: () => load(),
  };

  return {
    enter(options) {
      ui = { busy: null, error: null, share: null };
      detail = null;
      if (options.id) openDetail(options.id);
      load();
    },
    leave() {
      generation += 1;
      detail = null;
    },
    render(options) {
      if (options.id) {
        if (detail?.id !== options.id && data) openDetail(options.id);
        const extract = data?.extracts.find((e) => e.id === options.id);
        return detailView({ status, extract, detail, data, ui, offline }, handlers);
      }
      return listView({ status, data, kept, ui, offline, fetchedAt }, handlers);
    },
  };
}
