// The service worker from the page's side: registering it, and updating to a newer one.

/** Register the worker; `onNewVersion` runs when a newer one takes over (new app files). */
export function registerServiceWorker({ onNewVersion }) {
  if (!("serviceWorker" in navigator)) return;
  const hadController = Boolean(navigator.serviceWorker.controller);
  navigator.serviceWorker.addEventListener("controllerchange", () => {
    // The first install takes control silently; later ones bring new app files.
    if (hadController) onNewVersion();
  });
  // The module worker also sends queued forms with the app closed (sw-module.js); browsers
  // without module workers reject it and get the classic one (sw.js: the next start sends).
  const register = () =>
    navigator.serviceWorker
      .register("/sw-module.js", { type: "module", updateViaCache: "none" })
      .catch(() => navigator.serviceWorker.register("/sw.js"))
      .catch((error) => console.warn(error));
  // After the page's own requests: on a slow network the shell download must not compete.
  if (document.readyState === "complete") register();
  else window.addEventListener("load", register, { once: true });
}

/** Fetch a newer service worker (and with it the new app files), then reload. */
export async function reloadApp() {
  try {
    await (await navigator.serviceWorker?.getRegistration())?.update();
  } catch (error) {
    console.warn(error);
  }
  location.reload();
}
