// The app: which view to show, loading and caching the dashboard, sign-out, language, offline.

import { isUnauthenticated, mutate, NetworkError, query } from "./api.js";
import * as fmt from "./format.js";
import { detectLanguage, getLanguage, setLanguage, t } from "./i18n.js";
import { clearPersonalData, loadSnapshot, saveSnapshot } from "./store.js";
import * as views from "./views.js";

const DASHBOARD = "Dashboard";
// Set while a sign-out could not reach the server: the session cookie (HttpOnly) is still
// valid, so the next time we are online the sign-out is finished before anything is loaded.
const PENDING_SIGN_OUT = "duo.signOutPending";
// Other open tabs of the app hear about a sign-out here and stop showing personal data.
const tabs = "BroadcastChannel" in self ? new BroadcastChannel("duo-abroad") : null;

const el = {
  view: document.getElementById("view"),
  banner: document.getElementById("offline-banner"),
  live: document.getElementById("live"),
  nav: document.getElementById("sections-nav"),
  signOut: document.getElementById("sign-out"),
  language: document.getElementById("language"),
};

const state = {
  view: "loading",
  options: {},
  viewer: null, // the Dashboard operation's `viewer`
  fetchedAt: null, // when `viewer` came from the server (ms since epoch)
  offline: false, // `viewer` is the stored copy because the network failed
  loading: false,
  // Bumped on sign-out: a response that arrives afterwards belongs to the old session.
  generation: 0,
};

// The router: view name -> function that builds it. There is one URL; state picks the view.
const VIEWS = {
  loading: () => views.loadingView(),
  signedOut: () => views.signedOutView(),
  offline: () => views.offlineView({ onRetry: () => refresh({ announce: true }) }),
  error: (options) =>
    views.errorView({
      outdated: options.outdated,
      onRetry: () => refresh({ announce: true }),
      onReload: reloadApp,
    }),
  dashboard: () => views.dashboardView(state.viewer, { onMarkRead: markRead }),
};

/** Switch to a view; `focus` moves keyboard and screen-reader focus to its heading. */
function show(view, { focus = false, ...options } = {}) {
  const focusWasInView = el.view.contains(document.activeElement);
  const changed = view !== state.view;
  state.view = view;
  state.options = options;
  render();
  // Focus inside the old view was removed with it: put it on the new view's heading.
  if (focus || (changed && focusWasInView)) document.getElementById("view-title")?.focus();
}

/** Draw the current view again (also after a language change), keeping open <details>. */
function render() {
  const open = [...el.view.querySelectorAll("details[open]")].map((d) => d.id);
  const focused = el.view.contains(document.activeElement)
    ? document.activeElement.closest("[id]")?.id
    : null;
  el.view.replaceChildren(...VIEWS[state.view](state.options));
  for (const id of open) document.getElementById(id)?.setAttribute("open", "");
  if (focused) {
    const target = document.getElementById(focused);
    (target?.matches("details") ? target.querySelector("summary") : target)?.focus();
  }
  const signedIn = state.view === "dashboard";
  el.nav.hidden = !signedIn;
  el.signOut.hidden = !signedIn;
  el.banner.hidden = !(signedIn && state.offline);
  el.banner.textContent = el.banner.hidden
    ? ""
    : t("status.offline", { time: fmt.timestamp(state.fetchedAt, getLanguage()) });
  document.title = `${document.getElementById("view-title")?.textContent ?? ""} · DUO Abroad`;
}

function announce(message) {
  el.live.textContent = message;
}

async function refresh({ announce: say = false } = {}) {
  if (pendingSignOut()) {
    await finishSignOut();
    return;
  }
  if (state.loading) return;
  state.loading = true;
  const generation = state.generation;
  if (state.view === "dashboard") announce(t("status.updating"));
  try {
    const data = await query(DASHBOARD);
    if (generation !== state.generation) return;
    state.viewer = data.viewer;
    state.fetchedAt = Date.now();
    state.offline = false;
    show("dashboard");
    if (say || el.live.textContent) announce(t("status.updated"));
    // Stored after the fetch completed: no transaction is open while the network is awaited.
    await saveSnapshot(DASHBOARD, data.viewer, state.fetchedAt).catch(warn);
  } catch (error) {
    if (generation !== state.generation) return;
    await handleLoadError(error);
  } finally {
    state.loading = false;
  }
}

async function handleLoadError(error) {
  if (error instanceof NetworkError) {
    await showStoredCopy();
  } else if (isUnauthenticated(error)) {
    // The session ended (expired, or signed out elsewhere): what it showed must go too.
    await forgetPersonalData();
    announce("");
    show("signedOut");
  } else {
    warn(error);
    if (state.viewer) {
      state.offline = true; // keep showing what we have, marked as not current
      render();
      announce(t("error.text"));
    } else {
      show("error", { outdated: error.code === "PERSISTED_QUERY_NOT_FOUND" });
    }
  }
}

async function showStoredCopy() {
  if (!state.viewer) {
    const stored = await loadSnapshot(DASHBOARD).catch(warn);
    if (stored) {
      state.viewer = stored.data;
      state.fetchedAt = stored.fetchedAt;
    }
  }
  if (state.viewer) {
    state.offline = true;
    announce("");
    show("dashboard");
  } else {
    show("offline");
  }
}

async function markRead(id, button) {
  button.disabled = true;
  try {
    await mutate("MarkMessageRead", { id });
  } catch (error) {
    button.disabled = false;
    if (error instanceof NetworkError) announce(t("error.offlineAction"));
    else if (isUnauthenticated(error)) await handleLoadError(error);
    else {
      warn(error);
      announce(t("error.action"));
    }
    return;
  }
  const message = state.viewer.inbox.nodes.find((m) => m.id === id);
  if (message && !message.read) {
    message.read = true;
    state.viewer.unreadMessages = Math.max(0, state.viewer.unreadMessages - 1);
  }
  render();
  document.getElementById(`message-${id}`)?.focus();
  announce(t("status.markedRead"));
  await saveSnapshot(DASHBOARD, state.viewer, state.fetchedAt).catch(warn);
}

async function signOut() {
  state.generation += 1;
  el.signOut.disabled = true;
  // Local data first: on a shared device it must go even if the server cannot be reached.
  await forgetPersonalData();
  setPendingSignOut(true);
  tabs?.postMessage({ type: "signed-out" });
  show("signedOut", { focus: true });
  await finishSignOut();
  el.signOut.disabled = false;
}

async function finishSignOut() {
  let message = "status.signedOut";
  try {
    await mutate("SignOut");
    setPendingSignOut(false);
  } catch (error) {
    if (isUnauthenticated(error)) setPendingSignOut(false); // the session had already ended
    else message = "status.signOutPending";
  }
  // Again after the request: another open tab may have stored its copy in the meantime.
  await forgetPersonalData();
  if (state.view !== "signedOut") show("signedOut");
  announce(t(message));
}

async function forgetPersonalData() {
  state.viewer = null;
  state.fetchedAt = null;
  state.offline = false;
  await clearPersonalData().catch(warn);
}

function pendingSignOut() {
  try {
    return localStorage.getItem(PENDING_SIGN_OUT) === "1";
  } catch {
    return false;
  }
}

function setPendingSignOut(pending) {
  try {
    if (pending) localStorage.setItem(PENDING_SIGN_OUT, "1");
    else localStorage.removeItem(PENDING_SIGN_OUT);
  } catch {
    /* private mode: the server-side sign-out is then only tried once */
  }
}

function registerServiceWorker() {
  if (!("serviceWorker" in navigator)) return;
  const hadController = Boolean(navigator.serviceWorker.controller);
  navigator.serviceWorker.addEventListener("controllerchange", () => {
    // The first install takes control silently; later ones bring new app files.
    if (hadController) announce(t("status.newVersion"));
  });
  const register = () => navigator.serviceWorker.register("/sw.js").catch(warn);
  // After the page's own requests: on a slow network the shell download must not compete.
  if (document.readyState === "complete") register();
  else window.addEventListener("load", register, { once: true });
}

/** Fetch a newer service worker (and with it the new app files), then reload. */
async function reloadApp() {
  try {
    await (await navigator.serviceWorker?.getRegistration())?.update();
  } catch (error) {
    warn(error);
  }
  location.reload();
}

function warn(error) {
  console.warn(error);
  return undefined;
}

async function start() {
  try {
    await setLanguage(detectLanguage());
  } catch (error) {
    warn(error); // e.g. the Dutch file failed to load: English rather than a stuck page
    await setLanguage("en");
  }
  el.language.value = getLanguage();
  el.language.addEventListener("change", async () => {
    await setLanguage(el.language.value, { remember: true });
    render();
  });
  el.signOut.addEventListener("click", signOut);
  tabs?.addEventListener("message", (event) => {
    if (event.data?.type !== "signed-out") return;
    state.generation += 1;
    state.viewer = null;
    state.fetchedAt = null;
    state.offline = false;
    show("signedOut");
  });
  window.addEventListener("online", () => {
    announce(t("status.backOnline"));
    refresh({ announce: true });
  });
  window.addEventListener("offline", () => {
    if (state.view === "dashboard" && state.viewer) {
      state.offline = true;
      render();
    }
    announce(t("status.offlineNow"));
  });
  registerServiceWorker();

  // Show the stored copy at once (slow networks), then ask the server.
  const stored = pendingSignOut() ? null : await loadSnapshot(DASHBOARD).catch(warn);
  if (stored) {
    state.viewer = stored.data;
    state.fetchedAt = stored.fetchedAt;
    show("dashboard");
  } else {
    show("loading");
  }
  await refresh();
}

start();
