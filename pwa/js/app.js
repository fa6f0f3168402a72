// The app: routes and views, loading and caching the dashboard, language, offline. The
// signed-out pages live in signin.js, the security page in security.js, signing in and out and
// a session that ended in session.js (with the question about waiting forms in sign-out.js).

import { accessPage } from "./access.js";
import { isUnauthenticated, mutate, NetworkError, query } from "./api.js";
import * as fmt from "./format.js";
import {
  detectLanguage,
  getLanguage,
  languageStored,
  pendingLanguage,
  setLanguage,
  t,
} from "./i18n.js";
import { extractsPage } from "./extracts.js";
import { formsPage, startOutbox } from "./forms.js";
import { notificationsPage, refreshSubscription } from "./push.js";
import { securityPage } from "./security.js";
import { signInPages } from "./signin.js";
import { parseRoute } from "./routes.js";
import { sessionFlows } from "./session.js";
import { signOutPage } from "./sign-out.js";
import { pendingSignOut } from "./sign-out-flag.js";
import { markCurrent, startNav } from "./nav.js";
import { loadSnapshot, saveSnapshot } from "./store.js";
import { verifyPage } from "./verify.js";
import { walletPage } from "./wallet.js";
import * as views from "./views.js";
import { registerServiceWorker, reloadApp } from "./worker.js";

const DASHBOARD = "Dashboard";
// Other open tabs of the app hear about a sign-out here and stop showing personal data (and
// about a sign-in, so that they load the dashboard).
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
  // The server said there is no session: the sign-in page can show without asking again.
  signedOut: false,
  // Forms of the person last signed in here that wait for their next sign-in (outbox.js
  // waitingOnDevice()): the sign-in page says so.
  waiting: null,
};

const session = sessionFlows({
  state,
  el,
  tabs,
  show,
  render,
  announce,
  refresh,
  shows: (view) => HOME.has(view) || PERSONAL.has(view),
  resumeSignIn: () => PAGES.signedOut.resume(),
  saveDraft: () => PAGES.forms.flush(),
});

// What the pages may do with the app (signin.js, security.js, forms.js, sign-out.js).
const host = {
  view: () => state.view,
  show,
  render,
  announce,
  live: () => el.live.textContent,
  signedIn: session.signedIn,
  sessionEnded: session.sessionEnded,
  signedOutEverywhere: session.signedOutEverywhere,
  completeSignOut: session.completeSignOut,
  waiting: () => state.waiting,
};

// The router's pages: view name -> { render(options), enter?(options), leave?() }.
// Routes (#/activate, #/link/…) pick some of them; state picks the rest.
const PAGES = {
  loading: { render: () => views.loadingView() },
  offline: { render: () => views.offlineView({ onRetry: () => refresh({ announce: true }) }) },
  error: {
    render: (options) =>
      views.errorView({
        outdated: options.outdated,
        onRetry: () => refresh({ announce: true }),
        onReload: reloadApp,
      }),
  },
  dashboard: { render: () => views.dashboardView(state.viewer, { onMarkRead: markRead }) },
  ...signInPages(host),
  access: accessPage(host),
  security: securityPage(host),
  extracts: extractsPage(host),
  forms: formsPage(host),
  notifications: notificationsPage(host),
  verify: verifyPage(host),
  wallet: walletPage(host),
  signOutChoice: signOutPage(host),
};
// Views that show the signed-in header (section links, sign-out).
const SIGNED_IN = new Set(["dashboard", "security", "extracts", "forms", "notifications", "wallet"]);
// Views with the signed-in person's data: a sign-out or an ended session replaces them.
const PERSONAL = new Set([...SIGNED_IN, "signOutChoice"]);
// Views of the home route ("/"): what the Dashboard query decides between. A load that
// finishes while another page is on screen (activation, security, …) must not replace it.
const HOME = new Set(["loading", "dashboard", "offline", "error", "signedOut"]);

/** Switch to a view; `focus` moves keyboard and screen-reader focus to its heading. */
function show(view, { focus = false, ...options } = {}) {
  const focusWasInView = el.view.contains(document.activeElement);
  const previous = state.view;
  // Another link or extract (#/link/<token>) is another page, even in the same view.
  const changed = view !== previous || (options.token ?? null) !== (state.options.token ?? null);
  if (changed) PAGES[previous]?.leave?.();
  state.view = view;
  state.options = options;
  render({ keepInput: !changed });
  // Focus inside the old view was removed with it: put it on the new view's heading.
  if (focus || (changed && focusWasInView)) document.getElementById("view-title")?.focus();
  if (changed) PAGES[view].enter?.(options);
}

/**
 * Draw the current view again (also after a language change), keeping open <details>, what
 * was typed into fields (`keepInput`: not when a new view takes over), and focus.
 */
function render({ keepInput = true } = {}) {
  const open = [...el.view.querySelectorAll("details[open]")].map((d) => d.id);
  const typed = keepInput
    ? [...el.view.querySelectorAll("input[id]:not([type=file])")].map((input) => [
        input.id,
        input.type === "checkbox" ? input.checked : input.value,
      ])
    : [];
  const focused = el.view.contains(document.activeElement)
    ? document.activeElement.closest("[id]")?.id
    : null;
  el.view.replaceChildren(...PAGES[state.view].render(state.options).filter((n) => n != null));
  for (const id of open) document.getElementById(id)?.setAttribute("open", "");
  for (const [id, value] of typed) {
    const input = document.getElementById(id);
    if (!input || input.readOnly) continue;
    if (input.type === "checkbox") input.checked = value;
    else input.value = value;
  }
  if (focused) {
    const target = document.getElementById(focused);
    (target?.matches("details") ? target.querySelector("summary") : target)?.focus();
  }
  const signedIn = SIGNED_IN.has(state.view) || Boolean(PAGES[state.view].signedIn?.());
  markCurrent(state.view, signedIn);
  el.signOut.hidden = !signedIn;
  el.banner.hidden = !(state.view === "dashboard" && state.offline);
  el.banner.textContent = el.banner.hidden
    ? ""
    : t("status.offline", { time: fmt.timestamp(state.fetchedAt, getLanguage()) });
  document.title = `${document.getElementById("view-title")?.textContent ?? ""} · DUO Abroad`;
}

// A status message belongs to the page it speaks about (#16 item 3): the route it was said on,
// or the one an action is about to open (`route`). Navigating anywhere else clears it.
let announcedFor = null;

function announce(message, { route = location.hash } = {}) {
  el.live.textContent = message;
  announcedFor = message ? pageOf(route) : null;
}

/** A route's page: dashboard anchors (#finance) are the dashboard itself. */
function pageOf(hash) {
  const route = parseRoute(hash);
  return route.name === "home" ? "home" : `${route.name}/${route.id ?? route.token ?? ""}`;
}

async function refresh({ announce: say = false } = {}) {
  if (pendingSignOut()) {
    await session.finishSignOut();
    return;
  }
  if (state.loading) return;
  state.loading = true;
  const generation = state.generation;
  if (state.view === "dashboard") announce(t("status.updating"));
  try {
    let data = await query(DASHBOARD);
    if (generation !== state.generation) return;
    if (await followLanguage(data.viewer?.person)) {
      data = await query(DASHBOARD); // the server's texts, now in the chosen language
      if (generation !== state.generation) return;
    }
    state.viewer = data.viewer;
    state.fetchedAt = Date.now();
    state.offline = false;
    state.signedOut = false;
    if (HOME.has(state.view)) {
      show("dashboard");
      if (say || el.live.textContent) announce(t("status.updated"));
    }
    // Stored after the fetch completed: no transaction is open while the network is awaited.
    await saveSnapshot(DASHBOARD, data.viewer, state.fetchedAt).catch(warn);
  } catch (error) {
    if (generation !== state.generation) return;
    if (HOME.has(state.view) || isUnauthenticated(error)) await handleLoadError(error);
    else warn(error);
  } finally {
    state.loading = false;
  }
}

/**
 * One language everywhere (#16 item 1): the server renders inbox messages, deadlines and
 * notifications in the profile's language, so the app and the profile must agree. A language
 * chosen in this app is stored as the person's choice; with none made here, a choice made on
 * another device is taken, and otherwise this device's language is offered to the profile.
 * True when the profile changed (the server's texts must be fetched again).
 */
async function followLanguage(person) {
  if (!person?.preferredLanguage) return false;
  const profile = person.preferredLanguage;
  const chosen = pendingLanguage();
  if (!chosen && person.languageChosen) {
    if (profile !== getLanguage()) {
      await setLanguage(profile, { remember: true });
      languageStored(); // the profile's own: nothing to send back
      el.language.value = profile;
    }
    return false;
  }
  const mine = chosen ?? getLanguage();
  if (mine === profile && (!chosen || person.languageChosen)) {
    languageStored();
    return false;
  }
  try {
    const input = { preferredLanguage: mine, languageFromDevice: !chosen };
    const stored = (await mutate("UpdatePreferences", { input })).updatePreferences;
    languageStored();
    if (stored.preferredLanguage !== getLanguage()) {
      await setLanguage(stored.preferredLanguage, { remember: true }); // chosen meanwhile
      languageStored();
      el.language.value = stored.preferredLanguage;
    }
    return stored.preferredLanguage !== profile;
  } catch (error) {
    warn(error); // a choice stays pending: sent again at the next refresh
    return false;
  }
}

async function handleLoadError(error) {
  // A server outage (503) is like no network: show the stored copy, marked as not current.
  if (error instanceof NetworkError || error?.code === "SERVICE_UNAVAILABLE") {
    await showStoredCopy();
  } else if (isUnauthenticated(error)) {
    await session.sessionEnded();
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

// --- navigation (routes.js parses the fragment) ---

function navigate() {
  const route = parseRoute(location.hash);
  if (announcedFor !== null && announcedFor !== pageOf(location.hash)) announce("");
  if (route.name === "home") {
    goHome(route.anchor);
  } else if (PERSONAL.has(route.name) && pendingSignOut()) {
    goHome(""); // finishes the sign-out first, then shows the sign-in page
  } else {
    show(route.name, { token: route.token, id: route.id });
  }
}

function goHome(anchor) {
  // An in-page link (skip link, a dashboard section): the browser scrolls, nothing to route.
  if (anchor && document.getElementById(anchor)) return;
  if (state.view === "dashboard") return;
  if (state.viewer) {
    show("dashboard");
    refresh();
  } else if (state.signedOut && !pendingSignOut()) {
    session.countWaiting();
    show("signedOut");
  } else {
    show("loading");
    refresh();
  }
  if (anchor) document.getElementById(anchor)?.scrollIntoView();
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
    // Signed in: store it on the profile now and fetch the server's texts again in it.
    if (state.viewer && navigator.onLine !== false) refresh();
  });
  el.signOut.addEventListener("click", session.signOut);
  startNav();
  tabs?.addEventListener("message", (event) => {
    if (event.data?.type === "signed-in" && state.view === "signedOut") {
      state.signedOut = false;
      show("loading");
      refresh();
    }
    if (event.data?.type !== "signed-out") return;
    state.generation += 1;
    state.viewer = null;
    state.fetchedAt = null;
    state.offline = false;
    state.signedOut = true;
    if (HOME.has(state.view) || PERSONAL.has(state.view)) show("signedOut");
    session.countWaiting();
  });
  window.addEventListener("online", () => {
    // Only the home views show server data; the sign-in page only has a sign-out to finish.
    if (!HOME.has(state.view) || (state.view === "signedOut" && !pendingSignOut())) return;
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
  registerServiceWorker({ onNewVersion: () => announce(t("status.newVersion")) });
  // Queued form submissions go out now and whenever the connection comes back; a replay that
  // finds the session ended keeps them and says so (sessionEnded).
  startOutbox({ onSignedOut: session.sessionEnded });
  if (!pendingSignOut()) refreshSubscription(); // the push service may have rotated it
  window.addEventListener("hashchange", navigate);
  if (parseRoute(location.hash).name !== "home") {
    navigate();
    return;
  }

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
