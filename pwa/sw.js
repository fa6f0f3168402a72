// DUO Abroad service worker: keeps the app shell for offline use.
// Personal data is never cached by the worker itself: the app keeps its snapshots in IndexedDB
// and its offline extracts in the "duo-data-extracts" cache (js/extracts-store.js), both wiped
// at sign-out. The worker only reads that cache, to open stored extracts offline.
// GraphQL and every POST go straight to the network.
//
// Registered as the module worker sw-module.js (which imports this file and js/outbox.js, to
// send queued forms with no window open) or, where module workers are missing, alone as a
// classic script: so no import/export here, and nothing that breaks in strict mode.
//
// The server fills in VERSION, a hash of every file under pwa/ (api/pwa.py): any change to the
// shell, operations.js included, makes a new worker that pre-caches the new files and
// deletes the old cache.

const VERSION = "__SHELL_VERSION__";
const SHELL_CACHE = `duo-shell-${VERSION}`;
const SHELL = [
  "/index.html",
  "/manifest.webmanifest",
  "/css/app.css",
  "/js/access-views.js",
  "/js/access.js",
  "/js/activity-views.js",
  "/js/app.js",
  "/js/api.js",
  "/js/countries.js",
  "/js/device-link.js",
  "/js/dom.js",
  "/js/drafts.js",
  "/js/error-summary.js",
  "/js/extracts-store.js",
  "/js/extracts-views.js",
  "/js/extracts.js",
  "/js/fields.js",
  "/js/form-migrate.js",
  "/js/form-render.js",
  "/js/format.js",
  "/js/forms-views.js",
  "/js/forms.js",
  "/js/i18n.js",
  "/js/operations.js",
  "/js/nav.js",
  "/js/outbox.js",
  "/js/passkeys.js",
  "/js/push-views.js",
  "/js/push.js",
  "/js/recorder.js",
  "/js/routes.js",
  "/js/security-views.js",
  "/js/security.js",
  "/js/session.js",
  "/js/signin-views.js",
  "/js/sign-out-flag.js",
  "/js/sign-out.js",
  "/js/signin.js",
  "/js/store.js",
  "/js/uploads.js",
  "/js/vault.js",
  "/js/verify-core.js",
  "/js/verify.js",
  "/js/views.js",
  "/js/wallet.js",
  "/js/worker.js",
  "/js/zone-select.js",
  "/locales/en.json",
  "/locales/nl.json",
  "/icons/icon.svg",
  "/icons/icon-192.png",
  "/icons/icon-512.png",
  "/icons/icon-maskable-512.png",
];
const SHELL_PATHS = new Set(SHELL);
// Navigations to the app itself are answered from the cache at once (fast on slow networks);
// other navigations (server pages) try the network and fall back to the app when offline.
const APP_PAGES = new Set(["/", "/index.html"]);
const EXTRACTS_CACHE = "duo-data-extracts";
// An owner's extract files (immutable): /extracts/<uuid>[.json|.html|.pdf|.jws], extract.css.
const EXTRACT_FILE = /^\/extracts\/([0-9a-f-]{36}(\.\w+)?|extract\.css)$/;

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(SHELL_CACHE);
      // cache: "reload" bypasses the HTTP cache, so a new version never stores an old file.
      await cache.addAll(SHELL.map((url) => new Request(url, { cache: "reload" })));
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      // Only old shell versions: data caches (duo-data-*) are the app's to clear at sign-out.
      const names = await caches.keys();
      await Promise.all(
        names
          .filter((name) => name.startsWith("duo-shell-") && name !== SHELL_CACHE)
          .map((name) => caches.delete(name)),
      );
      await self.clients.claim();
    })(),
  );
});

self.addEventListener("fetch", (event) => {
  const { request } = event;
  if (request.method !== "GET") return; // mutations: network only, never cached
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (EXTRACT_FILE.test(url.pathname)) {
    event.respondWith(storedExtractFirst(request));
  } else if (request.mode === "navigate") {
    event.respondWith(navigate(request, url));
  } else if (SHELL_PATHS.has(url.pathname)) {
    event.respondWith(cacheFirst(request, url));
  }
  // Everything else (GraphQL, health checks, downloads) is the browser's business.
});

async function navigate(request, url) {
  const cache = await caches.open(SHELL_CACHE);
  if (APP_PAGES.has(url.pathname)) {
    const shell = await cache.match("/index.html");
    if (shell) return shell;
  }
  try {
    return await fetch(request);
  } catch (error) {
    const shell = await cache.match("/index.html");
    if (shell) return shell;
    throw error;
  }
}

async function storedExtractFirst(request) {
  // Only the app fills this cache (and sign-out deletes it); immutable, so never stale.
  if (await caches.has(EXTRACTS_CACHE)) {
    const cache = await caches.open(EXTRACTS_CACHE);
    const stored = await cache.match(request, { ignoreVary: true });
    if (stored) return stored;
  }
  return fetch(request);
}

async function cacheFirst(request, url) {
  const cache = await caches.open(SHELL_CACHE);
  // Matched by path: a ?query must not miss the cache offline.
  return (await cache.match(url.pathname)) ?? fetch(request);
}

// Background Sync (js/outbox.js registers "duo-outbox" when a form is queued): fires when the
// connection is back, also with the app closed. Open app windows are asked to replay (the UI
// shows the progress there); with none visible (closed, or in the background on a phone
// where the page may be frozen) the worker sends the outbox itself: sw-module.js, the module
// worker, provides self.replayOutbox (js/outbox.js). A replay that met no network (or a
// server that could not take the forms) rejects, so that the browser tries this sync again
// later; a session that ended keeps the entries, sealed, until the same person signs in again
// (the app sends them then). This file stays a classic script too (browsers without module
// workers register it alone): no replayOutbox there, and the next app start replays.
self.addEventListener("sync", (event) => {
  if (event.tag !== "duo-outbox") return;
  event.waitUntil(syncOutbox());
});

async function syncOutbox() {
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  const app = windows.filter((client) => APP_PAGES.has(new URL(client.url).pathname));
  for (const client of app) client.postMessage({ type: "replay-outbox" });
  if (typeof self.replayOutbox !== "function") return;
  if (app.some((client) => client.visibilityState === "visible")) return;
  // A window that wakes up meanwhile waits for this replay (a Web Lock in js/outbox.js).
  const result = await self.replayOutbox();
  if (result === "offline" || result === "retry") {
    throw new Error(`outbox: ${result}, the browser tries this sync again later`);
  }
}

// Web push (README.md, Reminders, "Payload"): always a visible notification (userVisibleOnly);
// the tag makes a newer reminder for the same deadline replace the older one.
self.addEventListener("push", (event) => {
  let payload = {};
  try {
    payload = event.data ? event.data.json() : {};
  } catch {
    payload = { body: event.data?.text() };
  }
  const title = payload.title || "DUO Abroad";
  event.waitUntil(
    self.registration.showNotification(title, {
      body: payload.body || "",
      tag: payload.tag || undefined,
      lang: payload.lang || undefined,
      icon: "/icons/icon-192.png",
      badge: "/icons/icon-192.png",
      data: { url: samePath(payload.url) },
    }),
  );
});

// Only paths of this app: a payload must not send anyone to another site.
function samePath(url) {
  try {
    const target = new URL(url || "/", self.location.origin);
    return target.origin === self.location.origin ? target.pathname + target.search + target.hash : "/";
  } catch {
    return "/";
  }
}

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = new URL(event.notification.data?.url || "/", self.location.origin).href;
  event.waitUntil(
    (async () => {
      const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
      const open = windows.find((client) => new URL(client.url).origin === self.location.origin);
      if (open) {
        await open.focus();
        return open.navigate(url);
      }
      return self.clients.openWindow(url);
    })(),
  );
});

// The push service replaced the subscription: subscribe again and tell the server (the
// session cookie goes along). The app also does this on every start (js/push.js).
self.addEventListener("pushsubscriptionchange", (event) => {
  event.waitUntil(
    (async () => {
      const options = event.oldSubscription?.options;
      const subscription =
        event.newSubscription ?? (options ? await self.registration.pushManager.subscribe(options) : null);
      if (!subscription) return;
      const json = subscription.toJSON();
      // The persisted query's hash, read from the generated operations.js as text: this file
      // also runs as a classic worker, which cannot import it.
      const operations = await (await cacheFirst(new Request("/js/operations.js"), new URL("/js/operations.js", self.location.origin))).text();
      const hash = operations.match(/SubscribePush: "([0-9a-f]{64})"/)?.[1];
      await fetch("/graphql", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({
          operationName: "SubscribePush",
          variables: { input: { endpoint: json.endpoint, keys: json.keys, expirationTime: json.expirationTime ?? null } },
          extensions: { persistedQuery: { version: 1, sha256Hash: hash } },
        }),
      });
    })(),
  );
});
