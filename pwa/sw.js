// DUO Abroad service worker: keeps the app shell for offline use.
// Personal data is never cached here: the app keeps its last snapshot in IndexedDB, so
// sign-out has a single place to wipe. GraphQL and every POST go straight to the network.
//
// The server fills in VERSION, a hash of every shell file (api/pwa.py): any change to the
// shell, operations.js included, makes a new worker that pre-caches the new files and
// deletes the old cache.

const VERSION = "__SHELL_VERSION__";
const SHELL_CACHE = `duo-shell-${VERSION}`;
const SHELL = [
  "/index.html",
  "/manifest.webmanifest",
  "/css/app.css",
  "/js/app.js",
  "/js/api.js",
  "/js/dom.js",
  "/js/fields.js",
  "/js/format.js",
  "/js/i18n.js",
  "/js/operations.js",
  "/js/passkeys.js",
  "/js/security-views.js",
  "/js/security.js",
  "/js/signin-views.js",
  "/js/signin.js",
  "/js/store.js",
  "/js/views.js",
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
  if (request.mode === "navigate") {
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

async function cacheFirst(request, url) {
  const cache = await caches.open(SHELL_CACHE);
  // Matched by path: a ?query must not miss the cache offline.
  return (await cache.match(url.pathname)) ?? fetch(request);
}
