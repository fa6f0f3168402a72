// The public verification page (#/verify/<JWS>, where an extract's QR code leads, and #/verify
// with a paste form): no account needed. The verdict is computed on this device first
// (verify-core.js, works offline), then compared with DUO's server when it can be reached.

import { h } from "./dom.js";
import { field, submitButton } from "./fields.js";
import * as fmt from "./format.js";
import { getLanguage, has, t } from "./i18n.js";
import { verifyOnDevice, verifyOnServer } from "./verify-core.js";
import { facts, section, time, title } from "./views.js";

/** An SD-JWT VC presentation from a wallet (RFC 9901 §4: parts separated by "~"). */
export function looksLikePresentation(text) {
  return String(text ?? "").includes("~");
}

/** Check a JWS on the device and, when online, with the server: { device, server }. */
export async function verifyBoth(jws) {
  const device = await verifyOnDevice(jws);
  const server = navigator.onLine ? await verifyOnServer(jws) : null;
  return { device, server };
}

/** The verdict as a section: result, issuer, content, how fresh the status list is. */
export function verdictView(verdict, { id = "verdict" } = {}) {
  if (!verdict) {
    return section(id, t("verify.result"), h("p", { class: "progress" }, t("verify.checking")));
  }
  if (verdict.presentation !== undefined) return presentationView(verdict.presentation, id);
  const { device, server } = verdict;
  const lang = getLanguage();
  const result = device.result;
  const good = result === "valid";
  const payload = device.payload;
  const listTime = device.statusListFetchedAt;
  return section(
    id,
    t("verify.result"),
    h(
      "p",
      { class: good ? "success verdict" : "alert verdict", "data-result": result },
      has(`verify.result.${result}`) ? t(`verify.result.${result}`) : result,
    ),
    h("p", { class: "note" }, t(`verify.explain.${has(`verify.explain.${result}`) ? result : "other"}`)),
    payload ? contentFacts(payload, device, lang) : null,
    listTime
      ? h(
          "p",
          { class: "note status-age" },
          t("verify.statusAge", { time: fmt.timestamp(listTime, lang) }),
        )
      : null,
    h("p", { class: "note server-check" }, serverLine(device, server)),
  );
}

function serverLine(device, server) {
  if (!server) return t("verify.server.unreachable");
  if (server.result === device.result) return t("verify.server.agrees");
  const theirs = has(`verify.result.${server.result}`)
    ? t(`verify.result.${server.result}`)
    : server.result;
  return t("verify.server.differs", { result: theirs });
}

function contentFacts(payload, device, lang) {
  const holder = payload.holder ?? {};
  const diploma = payload.diploma ?? {};
  const name = [holder.givenNames ?? holder.given_names, holder.familyName ?? holder.family_name]
    .filter(Boolean)
    .join(" ");
  const rows = [
    [t("verify.issuer"), device.issuer],
    [t("verify.holder"), holder.name ?? name],
    [t("verify.born"), dateCell(holder.dateOfBirth ?? holder.date_of_birth, lang)],
    [t("verify.institution"), diploma.institution],
    [t("verify.programme"), diploma.programme],
    [t("verify.level"), levelName(diploma.level)],
    [t("verify.awarded"), dateCell(diploma.awardedOn ?? diploma.awarded_on, lang)],
    [t("verify.issued"), payload.iat ? fmt.timestamp(payload.iat * 1000, lang) : null],
    [t("verify.expires"), payload.exp ? fmt.timestamp(payload.exp * 1000, lang) : null],
    [t("verify.extractId"), h("span", { class: "mono" }, payload.jti ?? "")],
  ].filter(([, value]) => value);
  const results = Array.isArray(diploma.results) ? diploma.results : [];
  return [
    facts(rows),
    results.length
      ? h(
          "ul",
          { class: "list results-list" },
          results.map((r) =>
            h("li", {}, `${r.subject}: ${r.grade}${r.credits ? ` (${r.credits} EC)` : ""}`),
          ),
        )
      : null,
  ];
}

/** A wallet presentation as DUO's server judged it: exactly what the holder disclosed. */
function presentationView(answer, id) {
  const lang = getLanguage();
  if (!answer) {
    return section(
      id,
      t("verify.result"),
      h("p", { class: "alert verdict", "data-result": "offline" }, t("verify.result.offline")),
      h("p", { class: "note" }, t("verify.presentationHint")),
    );
  }
  const result = answer.result;
  const good = result === "valid";
  const reason = answer.reason && !good && has(`verify.reason.${answer.reason}`)
    ? t(`verify.reason.${answer.reason}`)
    : answer.message;
  const claims = answer.claims;
  return section(
    id,
    t("verify.result"),
    h(
      "p",
      { class: good ? "success verdict" : "alert verdict", "data-result": result, "data-reason": answer.reason ?? "" },
      has(`verify.result.${result}`) ? t(`verify.result.${result}`) : result,
    ),
    !good && reason ? h("p", { class: "reason" }, t("verify.reason", { reason })) : null,
    h("p", { class: "note" }, t(`verify.explain.${has(`verify.explain.${result}`) ? result : "other"}`)),
    claims ? disclosedFacts(answer, claims, lang) : null,
    claims ? h("p", { class: "note holder-binding" }, bindingLine(answer.holderBinding)) : null,
    answer.statusListFetchedAt
      ? h("p", { class: "note status-age" }, t("verify.statusAge", { time: fmt.timestamp(Date.parse(answer.statusListFetchedAt), lang) }))
      : null,
  );
}

function bindingLine(binding) {
  if (!binding?.proved) return t("verify.presentation.unbound");
  if (binding.matchedYourAudienceAndNonce) return t("verify.presentation.boundMatched");
  return t("verify.presentation.bound", { audience: binding.audience });
}

function disclosedFacts(answer, claims, lang) {
  const hidden = h("span", { class: "not-shown" }, t("verify.presentation.notShown"));
  const results = Array.isArray(claims.results) ? claims.results : [];
  const rows = [
    [t("verify.issuer"), answer.issuer],
    [t("verify.holder"), [claims.given_name, claims.family_name].filter(Boolean).join(" ")],
    [t("verify.born"), claims.birthdate ? dateCell(claims.birthdate, lang) : hidden.cloneNode(true)],
    [t("verify.institution"), claims.institution],
    [t("verify.programme"), claims.programme],
    [t("verify.presentation.programmeCode"), claims.programme_code ?? hidden.cloneNode(true)],
    [t("verify.level"), levelName(claims.level)],
    [t("verify.awarded"), dateCell(claims.awarded_on, lang)],
    [t("verify.expires"), answer.expiresAt ? fmt.timestamp(Date.parse(answer.expiresAt), lang) : null],
  ].filter(([, value]) => value);
  return [
    h("h3", {}, t("verify.presentation.disclosed")),
    facts(rows),
    h("p", {}, results.length ? t("verify.presentation.results", { count: results.length }) : t("verify.presentation.noResults")),
    results.length
      ? h(
          "ul",
          { class: "list results-list" },
          results.map((r) => h("li", {}, `${r.subject}: ${r.grade}${r.credits ? ` (${r.credits} EC)` : ""}`)),
        )
      : null,
  ];
}

function levelName(level) {
  const key = `level.${String(level ?? "").toUpperCase()}`;
  return level && has(key) ? t(key) : level;
}

function dateCell(iso, lang) {
  return iso ? time(iso, fmt.calendarDate(iso, lang)) : null;
}

/** The page { render, enter } for app.js's router; public, no session needed. */
export function verifyPage(host) {
  let token = "";
  let verdict = null;
  let checking = false;
  let run = 0;
  let routed = null; // the #/verify/<token> last acted on

  async function check(jws) {
    token = jws.trim();
    verdict = null;
    checking = true;
    const mine = ++run;
    host.render();
    // A wallet presentation is judged by DUO's server (its key binding, the status list).
    const answer = looksLikePresentation(token)
      ? { presentation: await verifyOnServer(token) }
      : await verifyBoth(token);
    if (mine !== run || host.view() !== "verify") return;
    verdict = answer;
    checking = false;
    host.render();
    const result = answer.presentation !== undefined
      ? (answer.presentation?.result ?? "offline")
      : answer.device.result;
    host.announce(t(`verify.result.${result}`));
  }

  return {
    enter(options) {
      routed = options.token ?? "";
      if (routed) check(decodeURIComponent(routed));
      else {
        token = "";
        verdict = null;
      }
    },
    leave() {
      run += 1;
    },
    render(options) {
      // Another #/verify/<token> while this page is open (a second scanned QR code).
      if (options.token && options.token !== routed) {
        routed = options.token;
        queueMicrotask(() => check(decodeURIComponent(routed)));
      }
      const input = h("textarea", { class: "input input-jws", name: "jws", rows: "4", spellcheck: "false" });
      input.value = token;
      return [
        title(t("verify.title")),
        h("p", { class: "lead" }, t("verify.lead")),
        h(
          "form",
          {
            class: "form",
            id: "verify-form",
            on: {
              submit: (event) => {
                event.preventDefault();
                check(input.value);
              },
            },
          },
          field({ id: "verify-jws", label: t("verify.label"), hint: t("verify.hint") }, input),
          submitButton(t("verify.submit"), { busy: checking }),
        ),
        token || checking ? verdictView(verdict) : null,
      ];
    },
  };
}
