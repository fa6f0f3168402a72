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

// Subscribing waits for the browser's push service, which may never answer (where a country
// blocks it): after this long the person is told what they can do instead (#16 item 14).
export const SUBSCRIBE_TIMEOUT_MS = 15_000;
// The endpoint this app last registered with the server: at the next start, one the server no
// longer lists was dropped there (the push service answered 410) and is dropped here too.
const REGISTERED = "duo.push.endpoint";

function registered() {
  try {
    return localStorage.getItem(REGISTERED);
  } catch {
    return null;
  }
}

function remember(endpoint) {
  try {
    if (endpoint) localStorage.setItem(REGISTERED, endpoint);
    else localStorage.removeItem(REGISTERED);
  } catch {
    /* private mode: the server's list still decides on the page */
  }
}

/** This device's subscription, gone from the server: unsubscribe it in the browser too. */
async function dropLocal(subscription) {
  await (subscription ?? (await currentSubscription().catch(() => null)))?.unsubscribe().catch(() => false);
  remember(null);
}

/**
 * On app start: tell the server this device's subscription again (the push service may have
 * rotated it), unless the server dropped it as gone: then drop it here too, so that the page
 * offers "Turn on" again instead of re-registering a dead endpoint (#16 item 13).
 */
export async function refreshSubscription() {
  if (support() !== "ok" || Notification.permission !== "granted") return;
  try {
    const subscription = await currentSubscription();
    if (!subscription) return;
    if (subscription.endpoint === registered()) {
      const hash = await sha256Hex(subscription.endpoint);
      const { viewer } = await query("PushSettings");
      if (!viewer.pushDevices.some((d) => d.endpointHash === hash)) {
        await dropLocal(subscription);
        return;
      }
    }
    await mutate("SubscribePush", { input: asInput(subscription) });
    remember(subscription.endpoint);
  } catch (error) {
    if (!isUnauthenticated(error)) console.warn(error);
  }
}

/** Where this browser keeps the notification permission: what the person is told to change. */
function deniedKey() {
  const agent = navigator.userAgent;
  if (/Firefox\//.test(agent)) return "push.error.denied.firefox";
  if (/Edg\//.test(agent)) return "push.error.denied.edge";
  if (/Chrome\/|Chromium\//.test(agent)) return "push.error.denied.chrome";
  if (/Safari\//.test(agent)) return "push.error.denied.safari";
  return "push.error.denied.other";
}

function timeout(ms) {
  return new Promise((resolve, reject) => {
    setTimeout(() => reject({ key: "push.error.timeout", params: {} }), ms);
  });
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
      // Subscribed here, but the server no longer has it (gone, or removed elsewhere): not
      // "on" for this device; drop it and offer "Turn on" again.
      if (endpoint && !data.pushDevices.some((d) => d.endpointHash === endpointHash)) {
        await dropLocal();
        endpoint = null;
        endpointHash = null;
      }
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
        // Refused (now or earlier): say where this browser lets the person allow it.
        const permission =
          Notification.permission === "denied" ? "denied" : await Notification.requestPermission();
        if (permission !== "granted") throw { key: deniedKey(), params: {} };
        const registration = await navigator.serviceWorker.ready;
        let subscription;
        try {
          subscription = await Promise.race([
            registration.pushManager.subscribe({
              userVisibleOnly: true,
              applicationServerKey: b64urlDecode(data.pushPublicKey),
            }),
            timeout(SUBSCRIBE_TIMEOUT_MS),
          ]);
        } catch (error) {
          // The push service refused or failed: trying again later rarely helps; say what does.
          throw error?.key ? error : { key: "push.error.subscribe", params: {} };
        }
        await mutate("SubscribePush", { input: asInput(subscription) });
        remember(subscription.endpoint);
        endpoint = subscription.endpoint;
        await load();
      }, "push.enabled"),
    remove: (device) =>
      act(`remove-${device.id}`, async () => {
        await mutate("UnsubscribePush", { id: device.id });
        if (device.endpointHash === endpointHash || data.pushDevices.length === 1) {
          await dropLocal();
          endpoint = null;
        }
        await load();
      }, "push.removed"),
    test: (device) =>
      act("test", async () => {
        const { sendTestPush } = await mutate("SendTestPush", { id: device.id });
        ui.test = sendTestPush;
        // The push service no longer knows the device: the server deleted it; so does this
        // device, and the page offers "Turn on" again (#16 item 13).
        if (sendTestPush.outcome === "DEVICE_GONE") {
          if (device.endpointHash === endpointHash) {
            await dropLocal();
            endpoint = null;
          }
          await load();
        }
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
