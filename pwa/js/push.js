// Deadline reminders by web push (#/notifications): opt in per device after a tap (never on
// load), preferences, a test push ("push health"), this account's devices. The subscription
// is refreshed on every app start (refreshSubscription) and on pushsubscriptionchange (sw.js).

import { isUnauthenticated, mutate, query } from "./api.js";
import { focusField } from "./error-summary.js";
import { describeError } from "./fields.js";
import { t } from "./i18n.js";
import { notificationsView, PREFERENCE_FIELDS } from "./push-views.js";
import { b64urlDecode } from "./verify-core.js";

export const KINDS = ["PAYMENT", "INCOME_STATEMENT", "APPLICATION", "DOCUMENT"];

/** What this browser can do: "ok", "ios-home-screen" (Safari outside the home screen) or "none". */
export function support() {
  const ios = /iPhone|iPad|iPod/.test(navigator.userAgent);
  const standalone = matchMedia("(display-mode: standalone)").matches || navigator.standalone;
  if (ios && !standalone) return "ios-home-screen";
  if (!("serviceWorker" in navigator) || !("PushManager" in self) || !("Notification" in self)) {
    return "none";
  }
  return "ok";
}

async function currentSubscription() {
  const registration = await navigator.serviceWorker.ready;
  return registration.pushManager.getSubscription();
}

function asInput(subscription) {
  const json = subscription.toJSON();
  return { endpoint: json.endpoint, keys: json.keys, expirationTime: json.expirationTime ?? null };
}

/** On app start: tell the server this device's subscription again (it may have changed). */
export async function refreshSubscription() {
  if (support() !== "ok" || Notification.permission !== "granted") return;
  try {
    const subscription = await currentSubscription();
    if (subscription) await mutate("SubscribePush", { input: asInput(subscription) });
  } catch (error) {
    if (!isUnauthenticated(error)) console.warn(error);
  }
}

/** The page { render, enter, leave } for app.js's router. */
export function notificationsPage(host) {
  let status = "loading";
  let data = null;
  let endpoint = null; // this device's subscription endpoint, if any
  let endpointHash = null; // its SHA-256, to recognise this device in the server's list
  let ui = { busy: null, error: null, test: null, saved: false };

  const onScreen = () => host.view() === "notifications";

  async function load() {
    try {
      endpoint = support() === "ok" ? ((await currentSubscription())?.endpoint ?? null) : null;
      endpointHash = endpoint ? await sha256Hex(endpoint) : null;
      data = (await query("PushSettings")).viewer;
      status = "ready";
    } catch (error) {
      if (isUnauthenticated(error)) return host.sessionEnded(error);
      status = error?.name === "NetworkError" ? "offline" : "error";
    }
    if (onScreen()) host.render();
  }

  async function act(area, work, success) {
    if (ui.busy) return;
    ui = { ...ui, busy: area, error: null, saved: false };
    host.render();
    try {
      await work();
      if (success) host.announce(t(success));
    } catch (error) {
      if (isUnauthenticated(error)) return host.sessionEnded(error);
      // A refusal that names a field (#16 item 15): that field is marked and takes focus.
      const named = PREFERENCE_FIELDS[error?.field] ? error.field : null;
      ui.error = named
        ? { area, field: named, key: `push.invalid.${named}`, params: {} }
        : { area, ...(error?.key ? error : describeError(error)) };
      host.announce(t(ui.error.key, ui.error.params));
    } finally {
      ui.busy = null;
      if (onScreen()) host.render();
    }
    if (ui.error?.field && onScreen()) focusField(PREFERENCE_FIELDS[ui.error.field]);
  }

  const handlers = {
    // Only ever from a tap on "Turn on": the permission prompt needs a user gesture.
    enable: () =>
      act("enable", async () => {
        const permission = await Notification.requestPermission();
        if (permission !== "granted") throw { key: "push.error.denied", params: {} };
        const registration = await navigator.serviceWorker.ready;
        const subscription = await registration.pushManager.subscribe({
          userVisibleOnly: true,
          applicationServerKey: b64urlDecode(data.pushPublicKey),
        });
        await mutate("SubscribePush", { input: asInput(subscription) });
        endpoint = subscription.endpoint;
        await load();
      }, "push.enabled"),
    remove: (device) =>
      act(`remove-${device.id}`, async () => {
        await mutate("UnsubscribePush", { id: device.id });
        if (device.endpointHash === endpointHash || data.pushDevices.length === 1) {
          await (await currentSubscription().catch(() => null))?.unsubscribe();
          endpoint = null;
        }
        await load();
      }, "push.removed"),
    test: (device) =>
      act("test", async () => {
        const { sendTestPush } = await mutate("SendTestPush", { id: device.id });
        ui.test = sendTestPush;
      }),
    save: (input) =>
      act("prefs", async () => {
        // Checked here first: what is not a whole number never reaches the server.
        if (input.offsetsDays.length === 0 || !input.offsetsDays.every(Number.isInteger)) {
          throw { field: "offsetsDays" };
        }
        const { updateReminderPreferences } = await mutate("UpdateReminderPreferences", { input });
        data.reminderPreferences = updateReminderPreferences;
        ui.saved = true;
      }, "push.saved"),
  };

  return {
    enter() {
      ui = { busy: null, error: null, test: null, saved: false };
      status = data ? "ready" : "loading";
      load();
    },
    render() {
      return notificationsView(
        { status, data, ui, support: support(), endpoint, endpointHash },
        handlers,
      );
    },
  };
}

async function sha256Hex(text) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}
