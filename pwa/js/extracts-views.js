// The extracts pages as DOM. js/extracts.js owns the state and the requests.

import { h } from "./dom.js";
import { field } from "./fields.js";
import * as fmt from "./format.js";
import { getLanguage, has, t } from "./i18n.js";
import { verdictView } from "./verify.js";
import { section, time, title } from "./views.js";

const EXPIRY_DAYS = [7, 30, 90, 365];

function moment(iso) {
  return time(iso, fmt.timestamp(Date.parse(iso), getLanguage()));
}

function errorFor(ui, area) {
  if (ui.error?.area !== area) return null;
  return h(
    "p",
    { id: `${area}-error`, class: "alert", role: "alert", tabindex: "-1" },
    t(ui.error.key, ui.error.params),
  );
}

function statusNote({ status, offline, fetchedAt }) {
  if (status === "loading") return h("p", { class: "loading" }, t("loading.text"));
  if (status === "offline") return h("p", { class: "banner" }, t("extracts.offlineEmpty"));
  if (status === "error") return h("p", { class: "alert" }, t("error.text"));
  if (offline && fetchedAt) {
    return h(
      "p",
      { class: "banner" },
      t("status.offline", { time: fmt.timestamp(fetchedAt, getLanguage()) }),
    );
  }
  return null;
}

export function listView(state, handlers) {
  const { data, kept, ui } = state;
  return [
    title(t("extracts.title")),
    h("p", { class: "lead" }, t("extracts.lead")),
    statusNote(state),
    data ? diplomasSection(data, ui, handlers) : null,
    data ? extractsSection(data, kept) : null,
    section(
      "verify-link",
      t("verify.title"),
      h("p", {}, t("verify.lead")),
      h("a", { href: "#/verify", class: "button button-secondary" }, t("extracts.openVerify")),
    ),
  ];
}

function diplomasSection(data, ui, handlers) {
  if (data.diplomas.length === 0) {
    return section("extract-new", t("extracts.get"), h("p", {}, t("diplomas.none")));
  }
  return section(
    "extract-new",
    t("extracts.get"),
    h(
      "ul",
      { class: "list" },
      data.diplomas.map((d) => {
        const area = `create-${d.id}`;
        const select = h(
          "select",
          { class: "input input-short", name: "language" },
          h("option", { value: "en", lang: "en" }, "English"),
          h("option", { value: "nl", lang: "nl" }, "Nederlands"),
        );
        select.value = getLanguage();
        return h(
          "li",
          { class: "extract-diploma" },
          h("p", { class: "item-title" }, d.programme),
          h("p", { class: "note" }, `${d.institution} · `, time(d.awardedOn, fmt.calendarDate(d.awardedOn, getLanguage()))),
          h(
            "form",
            {
              class: "inline-form",
              on: {
                submit: (event) => {
                  event.preventDefault();
                  handlers.create(d.id, select.value);
                },
              },
            },
            field({ id: `extract-lang-${d.id}`, label: t("extracts.language") }, select),
            h(
              "button",
              {
                type: "submit",
                class: "button",
                disabled: ui.busy === area,
                "aria-label": t("extracts.getFor", { programme: d.programme }),
              },
              ui.busy === area ? t("form.wait") : t("extracts.getButton"),
            ),
          ),
          errorFor(ui, area),
          h(
            "p",
            {},
            h(
              "a",
              {
                href: `#/wallet/${encodeURIComponent(d.id)}`,
                class: "button button-secondary",
                id: `wallet-${d.id}`,
                "aria-label": t("wallet.addFor", { programme: d.programme }),
              },
              t("wallet.add"),
            ),
          ),
        );
      }),
    ),
  );
}

function extractsSection(data, kept) {
  const byDiploma = new Map(data.diplomas.map((d) => [d.id, d]));
  return section(
    "extracts",
    t("extracts.mine"),
    data.extracts.length === 0
      ? h("p", {}, t("extracts.none"))
      : h(
          "ul",
          { class: "list" },
          data.extracts.map((e) =>
            h(
              "li",
              { class: "extract-item" },
              h(
                "a",
                { href: `#/extracts/${e.id}`, id: `extract-${e.id}`, class: "item-title" },
                byDiploma.get(e.diplomaId)?.programme ?? t("extracts.extract"),
              ),
              h(
                "p",
                { class: "note" },
                t("extracts.meta", {
                  language: e.language === "nl" ? "Nederlands" : "English",
                  version: e.version,
                }),
                " · ",
                moment(e.createdAt),
              ),
              h(
                "p",
                {},
                kept.has(e.id) ? h("span", { class: "tag tag-synced" }, t("extracts.offline")) : null,
                e.revoked ? h("span", { class: "tag tag-failed" }, t("verify.result.revoked")) : null,
              ),
            ),
          ),
        ),
    h("p", { class: "note" }, t("extracts.keptNote")),
  );
}

export function detailView(state, handlers) {
  const { extract, detail, data, ui } = state;
  if (!extract) {
    return [
      title(t("extracts.extract")),
      statusNote(state) ?? h("p", {}, t("extracts.notFound")),
      h("p", {}, h("a", { href: "#/extracts", class: "back" }, t("extracts.back"))),
    ];
  }
  const diploma = data.diplomas.find((d) => d.id === extract.diplomaId);
  return [
    h("p", {}, h("a", { href: "#/extracts", class: "back" }, t("extracts.back"))),
    title(diploma?.programme ?? t("extracts.extract")),
    statusNote(state),
    detail?.error ? h("p", { class: "alert", role: "alert" }, t(detail.error.key, detail.error.params)) : null,
    detail?.stored ? verdictView(detail.verdict) : h("p", { class: "loading" }, t("loading.text")),
    section(
      "extract-files",
      t("extracts.files"),
      h(
        "ul",
        { class: "link-list" },
        h("li", {}, h("a", { href: extract.htmlUrl, target: "_blank", rel: "noopener" }, t("extracts.html"))),
        h("li", {}, h("a", { href: extract.pdfUrl, target: "_blank", rel: "noopener" }, t("extracts.pdf"))),
        h("li", {}, h("a", { href: extract.jwsUrl, download: "" }, t("extracts.jws"))),
      ),
      h("p", { class: "note" }, t("extracts.filesNote")),
    ),
    shareSection(extract, data, ui, handlers),
  ];
}

function shareSection(extract, data, ui, handlers) {
  const select = h(
    "select",
    { class: "input input-short", name: "days" },
    EXPIRY_DAYS.map((days) => h("option", { value: String(days) }, t("extracts.days", { count: days }))),
  );
  select.value = "30";
  const links = data.shareLinks.filter((l) => l.extractId === extract.id);
  return section(
    "share",
    t("extracts.share"),
    h("p", {}, t("extracts.shareLead")),
    h(
      "form",
      {
        class: "inline-form",
        on: {
          submit: (event) => {
            event.preventDefault();
            handlers.share(extract.id, Number(select.value));
          },
        },
      },
      field({ id: "share-days", label: t("extracts.expiry") }, select),
      h(
        "button",
        { type: "submit", class: "button", disabled: ui.busy === "share" || extract.revoked },
        ui.busy === "share" ? t("form.wait") : t("extracts.shareButton"),
      ),
    ),
    errorFor(ui, "share"),
    ui.share?.extractId === extract.id ? newLink(ui.share, handlers) : null,
    h("h3", {}, t("extracts.links")),
    links.length === 0
      ? h("p", {}, t("extracts.noLinks"))
      : h("ul", { class: "list" }, links.map((link) => linkItem(link, ui, handlers))),
  );
}

function newLink(share, handlers) {
  const input = h("input", { type: "text", class: "input input-url", readonly: true, value: share.url });
  return h(
    "div",
    { class: "link-panel" },
    field({ id: "share-url", label: t("extracts.linkLabel"), hint: t("extracts.linkOnce") }, input),
    h(
      "button",
      { type: "button", class: "button button-secondary", on: { click: () => handlers.copy(share.url) } },
      t("extracts.copy"),
    ),
    share.qr ? h("img", { class: "qr", src: share.qr, alt: t("extracts.qrAlt") }) : null,
  );
}

function linkItem(link, ui, handlers) {
  const state = link.revoked ? "revoked" : link.expired ? "expired" : "active";
  const area = `revoke-${link.id}`;
  return h(
    "li",
    { class: "share-link", id: `link-${link.id}` },
    h(
      "p",
      { class: "item-title" },
      t("extracts.linkMade", { date: fmt.timestamp(Date.parse(link.createdAt), getLanguage()) }),
      " ",
      h("span", { class: state === "active" ? "tag tag-synced" : "tag tag-failed" }, t(`extracts.link.${state}`)),
    ),
    h("p", { class: "note" }, t("extracts.linkExpires", { date: fmt.timestamp(Date.parse(link.expiresAt), getLanguage()) })),
    link.accesses.length === 0
      ? h("p", { class: "note" }, t("extracts.noAccess"))
      : h(
          "table",
          { class: "results access-log" },
          h("caption", { class: "visually-hidden" }, t("extracts.accessLog")),
          h(
            "thead",
            {},
            h("tr", {}, h("th", { scope: "col" }, t("extracts.when")), h("th", { scope: "col" }, t("extracts.country")), h("th", { scope: "col" }, t("extracts.verified"))),
          ),
          h(
            "tbody",
            {},
            link.accesses.map((a) =>
              h(
                "tr",
                {},
                h("td", {}, moment(a.at)),
                h("td", {}, a.country ? fmt.country(a.country, getLanguage()) : t("extracts.unknownCountry")),
                h("td", {}, a.verified ? t("extracts.yes") : has(`verify.result.${a.result}`) ? t(`verify.result.${a.result}`) : t("extracts.no")),
              ),
            ),
          ),
        ),
    state === "active"
      ? h(
          "button",
          {
            type: "button",
            class: "button button-danger",
            disabled: ui.busy === area,
            on: { click: () => handlers.revoke(link.id) },
          },
          ui.busy === area ? t("form.wait") : t("extracts.revokeLink"),
        )
      : null,
    errorFor(ui, area),
  );
}
