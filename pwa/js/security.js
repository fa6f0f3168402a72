// The security page and what it does: rename and remove passkeys, add one here or on another
// device (link + QR code, watched until it is used), renew the recovery key, end sessions.
// Nothing here is stored on the device: it needs a connection, and goes on sign-out.

import { isUnauthenticated, mutate, query } from "./api.js";
import { codeCharacters, describeError, focusProblem } from "./fields.js";
import { t } from "./i18n.js";
import * as passkeys from "./passkeys.js";
import { countdown, securityView } from "./security-views.js";

const SECURITY = "Security";
// While a device link is open, look for the passkey it adds this often.
const LINK_POLL_MS = 3_000;
// auth/manage.py DEVICE_LINK_TTL: the most a fresh link can have left.
const LINK_TTL_MS = 10 * 60 * 1000;

/** Time left on a link that was just made, counted on this device's clock. */
function remainingMs(expiresAt) {
  // A device clock that is off must not make a fresh link look expired (or everlasting).
  const remaining = Date.parse(expiresAt) - Date.now();
  return remaining > 0 && remaining <= LINK_TTL_MS ? remaining : LINK_TTL_MS;
}

function freshUi() {
  return {
    busy: null, // which action waits for the server: "rename", "remove", "add", "link", …
    errors: {}, // area -> { key, params }
    editing: null, // passkey id being renamed
    removing: null, // passkey id being removed
    link: null, // the open device link: { url, qrSvgDataUri, expiresAtMs, passkeys, expired }
    confirmRenew: false,
    confirmEverywhere: false,
  };
}

/**
 * The page { render, enter, leave } for app.js's router.
 * host: { view(), show(), render(), announce(), sessionEnded(error), signedOutEverywhere() }.
 */
export function securityPage(host) {
  let status = "loading"; // loading | ready | offline | error
  let data = null; // the Security operation's viewer
  let ui = freshUi();
  let pollTimer = null;
  let tickTimer = null;

  const onScreen = () => host.view() === "security";

  function focus(id) {
    document.getElementById(id)?.focus();
  }

  /** Fetch the page's data; `quiet` (polling) re-renders only when something changed. */
  async function load({ quiet = false } = {}) {
    try {
      const result = await query(SECURITY);
      if (!onScreen()) return;
      const changed = JSON.stringify(result.viewer) !== JSON.stringify(data);
      data = result.viewer;
      status = "ready";
      if (changed || !quiet) host.render();
    } catch (error) {
      if (!onScreen()) return;
      if (isUnauthenticated(error)) {
        host.sessionEnded(error);
      } else if (!quiet) {
        console.warn(error);
        status = error?.name === "NetworkError" ? "offline" : "error";
        host.render();
      }
    }
  }

  /**
   * Run one action: `area` marks the busy button and where an error shows. Resolves to the
   * work's result, or undefined when it failed (the error is then on screen).
   */
  async function act(area, work, { errorArea = area, fieldErrors = {} } = {}) {
    if (ui.busy) return undefined;
    ui.busy = area;
    ui.errors = {};
    host.render();
    try {
      return await work();
    } catch (error) {
      if (isUnauthenticated(error)) {
        host.sessionEnded(error);
        return undefined;
      }
      const fieldArea = error?.field ? fieldErrors[error.field] : undefined;
      if (fieldArea) ui.errors[fieldArea] = fieldMessage(error);
      else ui.errors[errorArea] = describeError(error);
      return undefined;
    } finally {
      ui.busy = null;
      if (onScreen()) host.render();
    }
  }

  function fieldMessage(error) {
    if (error.field === "recoveryKey") return { key: "security.removeKeyWrong", params: {} };
    if (error.field === "name") return { key: "security.nameMissing", params: {} };
    return describeError(error);
  }

  // --- passkeys --------------------------------------------------------------------

  function onStartRename(id) {
    ui = { ...ui, editing: id, removing: null, errors: {} };
    host.render();
    const input = document.getElementById(`rename-input-${id}`);
    input?.focus();
    input?.select();
  }

  async function onRename(id, name) {
    if (!name) {
      ui.errors = { rename: { key: "security.nameMissing", params: {} } };
      host.render();
      focusProblem();
      return;
    }
    const renamed = await act("rename", () => mutate("RenamePasskey", { id, name }), {
      fieldErrors: { name: "rename" },
    });
    if (!renamed) return focusProblem(`rename-error-${id}`);
    const passkey = data.passkeys.find((p) => p.id === id);
    if (passkey) passkey.name = renamed.renamePasskey.name;
    ui.editing = null;
    ui.justAdded = null;
    host.render();
    focus(`rename-${id}`);
    host.announce(t("security.renamed", { name: renamed.renamePasskey.name }));
  }

  function onStartRemove(id) {
    ui = { ...ui, removing: id, editing: null, errors: {} };
    host.render();
    focus(data.passkeys.length === 1 ? `remove-key-${id}` : `remove-text-${id}`);
  }

  async function onRemove(id, recoveryKey) {
    const passkey = data.passkeys.find((p) => p.id === id);
    const last = data.passkeys.length === 1;
    if (last && codeCharacters(recoveryKey ?? "").length !== 25) {
      ui.errors = { removeKey: { key: "security.removeKeyMissing", params: {} } };
      host.render();
      focusProblem();
      return;
    }
    const done = await act(
      "remove",
      () => mutate("RevokePasskey", { id, recoveryKey: last ? recoveryKey : null }),
      { fieldErrors: { recoveryKey: "removeKey" } },
    );
    if (!done) return focusProblem(`remove-error-${id}`);
    ui.removing = null;
    await load();
    focus("passkeys-title");
    host.announce(t("security.removed", { name: passkey?.name ?? "" }));
  }

  async function onAddHere() {
    const added = await act("add", () => passkeys.addPasskey());
    if (!added) return focusProblem("add-error");
    await load();
    // Named by its provider and this browser; the person may know it better by another name.
    ui.justAdded = added.passkey.id;
    onStartRename(added.passkey.id);
    host.announce(`${t("security.addedHere", { name: added.passkey.name })} ${t("security.renamePrompt")}`);
  }

  // --- a passkey on another device -------------------------------------------------

  async function onCreateLink() {
    const created = await act("link", () => mutate("CreateDeviceLink"), { errorArea: "add" });
    if (!created) return focusProblem("add-error");
    const link = created.createDeviceLink;
    ui.link = {
      url: link.url,
      qrSvgDataUri: link.qrSvgDataUri,
      expiresAtMs: Date.now() + remainingMs(link.expiresAt),
      passkeys: data.passkeys.length,
      expired: false,
    };
    host.render();
    focus("device-link-title");
    watchLink();
  }

  function watchLink() {
    stopWatching();
    tickTimer = setInterval(() => {
      const link = ui.link;
      if (!link || !onScreen()) return stopWatching();
      const timer = document.getElementById("device-link-countdown");
      if (timer) timer.textContent = countdown(link.expiresAtMs);
      if (Date.now() >= link.expiresAtMs) {
        link.expired = true;
        stopWatching();
        host.render();
        host.announce(t("security.linkExpired"));
      }
    }, 1000);
    pollTimer = setInterval(async () => {
      await load({ quiet: true });
      const link = ui.link;
      if (link && !link.expired && data.passkeys.length > link.passkeys) {
        ui.link = null;
        stopWatching();
        host.render();
        host.announce(t("security.linkUsed"));
      }
    }, LINK_POLL_MS);
  }

  function stopWatching() {
    clearInterval(tickTimer);
    clearInterval(pollTimer);
    tickTimer = pollTimer = null;
  }

  function onCloseLink() {
    ui.link = null;
    stopWatching();
    host.render();
    focus("add-other");
  }

  async function onCopyLink() {
    try {
      await navigator.clipboard.writeText(ui.link.url);
      host.announce(t("security.linkCopied"));
    } catch {
      document.getElementById("device-link-url")?.select();
      host.announce(t("recoveryKey.copyFailed"));
    }
  }

  // --- recovery key and sessions -------------------------------------------------------

  function onStartRenew() {
    ui.confirmRenew = true;
    host.render();
    focus("renew-text");
  }

  async function onRenew() {
    const renewed = await act("renew", () => mutate("RenewRecoveryKey"));
    if (!renewed) return focusProblem("renew-error");
    host.show("recoveryKey", {
      focus: true,
      recoveryKey: renewed.renewRecoveryKey,
      reason: "renewed",
    });
  }

  async function onEndSession(id) {
    const ended = await act(`end-${id}`, () => mutate("EndSession", { id }), {
      errorArea: "sessions",
    });
    if (!ended) return focusProblem("sessions-error");
    await load();
    focus("sessions-title");
    host.announce(t("security.sessionEnded"));
  }

  function onStartEverywhere() {
    ui.confirmEverywhere = true;
    host.render();
    focus("everywhere-text");
  }

  async function onSignOutEverywhere() {
    const done = await act("everywhere", () => mutate("SignOutEverywhere"), {
      errorArea: "sessions",
    });
    if (!done) return focusProblem("sessions-error");
    host.signedOutEverywhere();
  }

  /** Close an inline form and give focus back to the button that opened it. */
  function onCancel(returnTo) {
    ui = { ...ui, editing: null, removing: null, confirmRenew: false, confirmEverywhere: false, errors: {} };
    host.render();
    focus(returnTo);
  }

  const handlers = {
    onRetry: () => {
      status = "loading";
      host.render();
      load();
    },
    onStartRename,
    onRename,
    onStartRemove,
    onRemove,
    onAddHere,
    onCreateLink,
    onCloseLink,
    onCopyLink,
    onStartRenew,
    onRenew,
    onEndSession,
    onStartEverywhere,
    onSignOutEverywhere,
    onCancel,
  };

  return {
    render: () => securityView(status, data, ui, handlers),
    enter: () => {
      load();
    },
    leave: () => {
      // Sessions, addresses and the audit trail are not kept once the page is left.
      stopWatching();
      status = "loading";
      data = null;
      ui = freshUi();
    },
  };
}
