// English and Dutch: strings from /locales/*.json (pre-cached by the service worker).

export const LANGUAGES = ["en", "nl"];
const STORAGE_KEY = "duo.language";

let current = "en";
let messages = {};
const loaded = new Map();

/** The saved choice, else the first of the browser's languages we speak, else English. */
export function detectLanguage() {
  const saved = readSaved();
  if (LANGUAGES.includes(saved)) return saved;
  for (const tag of navigator.languages ?? [navigator.language]) {
    const base = String(tag).toLowerCase().split("-")[0];
    if (LANGUAGES.includes(base)) return base;
  }
  return "en";
}

export function getLanguage() {
  return current;
}

/** Load and activate a language; `remember` saves an explicit choice for the next visit. */
export async function setLanguage(lang, { remember = false } = {}) {
  const chosen = LANGUAGES.includes(lang) ? lang : "en";
  messages = await load(chosen);
  current = chosen;
  document.documentElement.lang = chosen;
  if (remember) {
    save(chosen);
    // Chosen here: the profile follows at the next chance (language stored on the server, so
    // its inbox messages, deadlines and notifications come in it too: #16 item 1).
    mark(PENDING_KEY, chosen);
  }
  shareWithWorker(chosen);
  translatePage();
}

// The service worker has no localStorage: it reads the app's language here, to tell the person
// in it that forms went out while the app was closed (sw-module.js). Not personal data.
export const LANGUAGE_PREFERENCE = "/prefs/language";
const PREFERENCES_CACHE = "duo-prefs";

function shareWithWorker(lang) {
  if (!("caches" in self)) return;
  caches
    .open(PREFERENCES_CACHE)
    .then((cache) => cache.put(LANGUAGE_PREFERENCE, new Response(lang)))
    .catch(() => undefined); // storage refused: the worker follows the browser's language
}

/** t("dashboard.title", { name: "Ayu" }): the message with {placeholders} filled in. */
export function t(key, params = {}) {
  const template = messages[key];
  if (template === undefined) {
    console.warn(`i18n: no "${key}" in ${current}`);
    return key;
  }
  return template.replace(/\{(\w+)\}/g, (match, name) =>
    name in params ? String(params[name]) : match,
  );
}

/** Is there a message for this key (for keys built from server values)? */
export function has(key) {
  return key in messages;
}

/** Like t(), but placeholders may be DOM nodes (e.g. a <time>): returns strings and nodes. */
export function tParts(key, params = {}) {
  const template = messages[key] ?? key;
  return template
    .split(/(\{\w+\})/)
    .filter((part) => part !== "")
    .map((part) => {
      const name = part.match(/^\{(\w+)\}$/)?.[1];
      return name && name in params ? params[name] : part;
    });
}

/** Plural forms: tp("inbox.unread", 2) reads "inbox.unread.other" (Intl.PluralRules). */
export function tp(key, count, params = {}) {
  const form = new Intl.PluralRules(current).select(count);
  const full = `${key}.${form}` in messages ? `${key}.${form}` : `${key}.other`;
  // The count in the reader's locale too (1,234 / 1.234): #16 item 6.
  const shown = new Intl.NumberFormat(current === "nl" ? "nl-NL" : "en-GB").format(count);
  return t(full, { count: shown, ...params });
}

/** Static text in index.html: data-i18n="key" and data-i18n-attr="attribute:key". */
export function translatePage(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-attr]")) {
    const [attribute, key] = el.dataset.i18nAttr.split(":");
    el.setAttribute(attribute, t(key));
  }
}

async function load(lang) {
  if (!loaded.has(lang)) {
    const response = await fetch(`/locales/${lang}.json`);
    if (!response.ok) throw new Error(`locale ${lang}: HTTP ${response.status}`);
    loaded.set(lang, await response.json());
  }
  return loaded.get(lang);
}

// The person's choice of language in this app that the profile does not have yet.
const PENDING_KEY = "duo.language.pending";

/** The language chosen in this app and not yet stored on the profile, or null. */
export function pendingLanguage() {
  try {
    const pending = localStorage.getItem(PENDING_KEY);
    return LANGUAGES.includes(pending) ? pending : null;
  } catch {
    return null;
  }
}

/** The profile has it now. */
export function languageStored() {
  mark(PENDING_KEY, null);
}

function mark(key, value) {
  try {
    if (value === null) localStorage.removeItem(key);
    else localStorage.setItem(key, value);
  } catch {
    /* not persisted */
  }
}

// localStorage throws in some privacy modes; the choice then lasts for this page only.
function readSaved() {
  try {
    return localStorage.getItem(STORAGE_KEY);
  } catch {
    return null;
  }
}

function save(lang) {
  try {
    localStorage.setItem(STORAGE_KEY, lang);
  } catch {
    /* not persisted */
  }
}
