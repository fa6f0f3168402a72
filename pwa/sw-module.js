// The service worker as a module, what js/app.js registers (/sw.js alone where browsers lack
// module workers): everything in sw.js, plus the outbox replay its "sync" event runs when no
// app window is visible, so that forms queued offline go out as soon as the connection is
// back, even with the app closed. Service workers cannot import() on demand: static imports.
//
// Shell version __SHELL_VERSION__, stamped by the server (api/pwa.py) like sw.js: any change
// under pwa/ changes these bytes, so browsers install a new worker even where they would not
// compare the imported modules.

import "./sw.js";
import { LANGUAGE_PREFERENCE, LANGUAGES } from "./js/i18n.js";
import { replayAndCount, waitingOnDevice } from "./js/outbox.js";
import { clearPersonalData } from "./js/store.js";
import { currentVault } from "./js/vault.js";

/**
 * Replay the outbox (see js/outbox.js replay()); tells the person when forms went out, and
 * when their session had ended: then, as in the app, nothing is dropped (README.md, Forms,
 * "What the outbox guarantees"): the forms stay sealed for the person's next sign-in, and
 * what else the session left on the device goes.
 */
self.replayOutbox = async () => {
  const signedIn = Boolean((await currentVault())?.key);
  const { result, sent, attention } = await replayAndCount();
  if (result === "signedOut") {
    if (signedIn) {
      await clearPersonalData({ keepWaiting: true });
      const waiting = await waitingOnDevice();
      if (waiting.forms > 0) await notifySignIn(waiting.forms).catch((error) => console.warn(error));
    }
  } else if (sent > 0 || attention > 0) {
    await notify(sent, attention > 0).catch((error) => console.warn(error));
  }
  return result;
};

// The session ended before the forms could go: one notification (it replaces an earlier one)
// that opens the app, where the sign-in page says the same.
async function notifySignIn(count) {
  if (self.Notification?.permission !== "granted") return;
  const lang = await language();
  const messages = await loadMessages(lang);
  await self.registration.showNotification(plural(messages, lang, "forms.backgroundSignIn", count), {
    body: messages["forms.backgroundSignInBody"],
    tag: "duo-outbox",
    lang,
    icon: "/icons/icon-192.png",
    badge: "/icons/icon-192.png",
    data: { url: "/" },
  });
}

// One notification (tag "duo-outbox": a newer one replaces it) that opens the forms page.
async function notify(sent, attention) {
  if (self.Notification?.permission !== "granted") return;
  const lang = await language();
  const messages = await loadMessages(lang);
  const sentText = sent > 0 ? plural(messages, lang, "forms.backgroundSent", sent) : null;
  const attentionText = attention ? messages["forms.backgroundAttention"] : null;
  await self.registration.showNotification(sentText ?? attentionText, {
    body: sentText ? (attentionText ?? messages["forms.backgroundReceipts"]) : "",
    tag: "duo-outbox",
    lang,
    icon: "/icons/icon-192.png",
    badge: "/icons/icon-192.png",
    data: { url: "/#/forms" },
  });
}

// The app's language (js/i18n.js leaves it in the Cache API), else the browser's.
async function language() {
  const chosen = await (await caches.match(LANGUAGE_PREFERENCE))?.text().catch(() => null);
  if (LANGUAGES.includes(chosen)) return chosen;
  for (const tag of self.navigator.languages ?? [self.navigator.language]) {
    const base = String(tag).toLowerCase().split("-")[0];
    if (LANGUAGES.includes(base)) return base;
  }
  return "en";
}

async function loadMessages(lang) {
  const url = `/locales/${lang}.json`;
  return ((await caches.match(url)) ?? (await fetch(url))).json();
}

function plural(messages, lang, key, count) {
  const form = `${key}.${new Intl.PluralRules(lang).select(count)}`;
  return (messages[form] ?? messages[`${key}.other`]).replace("{count}", String(count));
}
