// Locale-aware formatting with Intl: money, dates in the person's time zone, relative days.

// "en" alone formats dates the US way (month first); DUO's English readers live everywhere.
const LOCALES = { en: "en-GB", nl: "nl-NL" };
const DAY_MS = 24 * 60 * 60 * 1000;
// DUO's deadlines are Dutch calendar days: they end at midnight in the Netherlands.
export const DUTCH_TIME_ZONE = "Europe/Amsterdam";

function locale(lang) {
  return LOCALES[lang] ?? LOCALES.en;
}

/** A Money value ({cents, currency}) as e.g. "€35,180.26" or "€ 35.180,26". */
export function money(value, lang) {
  return new Intl.NumberFormat(locale(lang), {
    style: "currency",
    currency: value.currency,
  }).format(value.cents / 100);
}

/** A plain number in the reader's locale: 1,234.5 / 1.234,5. */
export function number(value, lang) {
  return new Intl.NumberFormat(locale(lang)).format(value);
}

/**
 * A grade as printed on the diploma ("7.5", "6.0", "goed"): numbers in the reader's locale
 * with the decimals kept ("6,0" in Dutch), words as they are.
 */
export function grade(value, lang) {
  const match = /^(\d+)(?:[.,](\d+))?$/.exec(String(value).trim());
  if (!match) return value;
  const decimals = match[2]?.length ?? 0;
  return new Intl.NumberFormat(locale(lang), {
    minimumFractionDigits: decimals,
    maximumFractionDigits: decimals,
  }).format(Number(`${match[1]}.${match[2] ?? "0"}`));
}

/** A file size as "12 kB" / "1.5 MB", in the reader's locale. */
export function fileSize(bytes, lang) {
  const [value, unit] = bytes < 1024 * 1024 ? [Math.ceil(bytes / 1024), "kilobyte"] : [bytes / (1024 * 1024), "megabyte"];
  return new Intl.NumberFormat(locale(lang), { style: "unit", unit, maximumFractionDigits: 1 }).format(value);
}

export function percent(value, lang) {
  return new Intl.NumberFormat(locale(lang), {
    style: "percent",
    maximumFractionDigits: 3,
  }).format(value / 100);
}

/** A calendar date ("2016-07-02"): formatted as that day everywhere, no time zone shift. */
export function calendarDate(isoDate, lang) {
  return new Intl.DateTimeFormat(locale(lang), { dateStyle: "long", timeZone: "UTC" }).format(
    parseCalendarDate(isoDate),
  );
}

/** A moment, in the given IANA time zone, with the zone's short name ("GMT+7"). */
export function dateTime(iso, lang, timeZone) {
  return new Intl.DateTimeFormat(locale(lang), {
    year: "numeric",
    month: "long",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    timeZone,
    timeZoneName: "short",
  }).format(new Date(iso));
}

/** The calendar date a moment falls on in the Netherlands, e.g. "31 December 2026". */
export function dutchDate(iso, lang) {
  return new Intl.DateTimeFormat(locale(lang), {
    dateStyle: "long",
    timeZone: DUTCH_TIME_ZONE,
  }).format(new Date(iso));
}

/** The same moment as "2026-12-31" in the Netherlands (for <time datetime>). */
export function dutchIsoDate(iso) {
  return new Intl.DateTimeFormat("en-CA", {
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    timeZone: DUTCH_TIME_ZONE,
  }).format(new Date(iso));
}

/** Does the clock read the same in both time zones at this moment? */
export function sameWallClock(iso, zoneA, zoneB) {
  const wallClock = (timeZone) =>
    new Intl.DateTimeFormat("en-CA", { dateStyle: "short", timeStyle: "short", timeZone }).format(
      new Date(iso),
    );
  try {
    return wallClock(zoneA) === wallClock(zoneB);
  } catch {
    return true; // an unknown zone: show the Dutch date only
  }
}

/** A wait in seconds as "45 seconds" or "15 minutes" (rounded up). */
export function duration(seconds, lang) {
  const [value, unit] = seconds < 90 ? [seconds, "second"] : [Math.ceil(seconds / 60), "minute"];
  return new Intl.NumberFormat(locale(lang), { style: "unit", unit, unitDisplay: "long" }).format(
    value,
  );
}

/** A moment as a short date, in the given time zone (inbox dates). */
export function shortDate(iso, lang, timeZone) {
  return new Intl.DateTimeFormat(locale(lang), { dateStyle: "medium", timeZone }).format(
    new Date(iso),
  );
}

/** A device-local timestamp (ms since epoch), e.g. for "last updated". */
export function timestamp(ms, lang) {
  return new Intl.DateTimeFormat(locale(lang), { dateStyle: "medium", timeStyle: "short" }).format(
    new Date(ms),
  );
}

/**
 * "today", "tomorrow", "in 33 days": counted in calendar days of the given time zone, so a
 * deadline at 05:59 tomorrow is "tomorrow" even if it is less than 24 hours away.
 */
export function relativeDays(iso, lang, timeZone, now = new Date()) {
  const days = Math.round((dayNumber(new Date(iso), timeZone) - dayNumber(now, timeZone)) / DAY_MS);
  return new Intl.RelativeTimeFormat(locale(lang), { numeric: "auto" }).format(days, "day");
}

/** Relative days until a calendar date ("2026-12-01"), from today in the given time zone. */
export function relativeCalendarDays(isoDate, lang, timeZone, now = new Date()) {
  const days = Math.round((parseCalendarDate(isoDate) - dayNumber(now, timeZone)) / DAY_MS);
  return new Intl.RelativeTimeFormat(locale(lang), { numeric: "auto" }).format(days, "day");
}

/** "Indonesia" / "Indonesië" for "ID"; the code itself if the browser does not know it. */
export function country(code, lang) {
  try {
    return new Intl.DisplayNames([locale(lang)], { type: "region" }).of(code) ?? code;
  } catch {
    return code;
  }
}

/** "Western Indonesia Time (Asia/Jakarta)". */
export function timeZoneLabel(timeZone, lang) {
  try {
    const parts = new Intl.DateTimeFormat(locale(lang), {
      timeZone,
      timeZoneName: "longGeneric",
    }).formatToParts(new Date());
    const name = parts.find((p) => p.type === "timeZoneName")?.value;
    return name ? `${name} (${timeZone})` : timeZone;
  } catch {
    return timeZone;
  }
}

function parseCalendarDate(isoDate) {
  const [y, m, d] = isoDate.split("-").map(Number);
  return Date.UTC(y, m - 1, d);
}

// Midnight UTC of the calendar day that `date` falls on in `timeZone`.
function dayNumber(date, timeZone) {
  const parts = new Intl.DateTimeFormat("en-CA", {
    timeZone,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
  }).formatToParts(date);
  const get = (type) => Number(parts.find((p) => p.type === type).value);
  return Date.UTC(get("year"), get("month") - 1, get("day"));
}
