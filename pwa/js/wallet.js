// "Add to a wallet" (#/wallet/<diplomaId>): a credential offer (OpenID4VCI) for one diploma,
// as a QR code for a wallet on another device and as an openid-credential-offer:// link for a
// wallet on this one, with the transaction code the wallet asks for. The offer works once,
// for 10 minutes; the wallet's arrival shows in the account activity (#/security).

import { isUnauthenticated, mutate } from "./api.js";
import { h } from "./dom.js";
import { describeError } from "./fields.js";
import * as fmt from "./format.js";
import { getLanguage, t, tParts } from "./i18n.js";
import { loadSnapshot } from "./store.js";
import { section, time, title } from "./views.js";

/** The page { render, enter, leave } for app.js's router. */
export function walletPage(host) {
  let diplomaId = "";
  let programme = null;
  let offer = null; // CreateWalletOffer's answer
  let error = null;
  let busy = false;
  let run = 0;
  let timer = null;

  const onScreen = () => host.view() === "wallet";

  async function create() {
    const mine = ++run;
    busy = true;
    error = null;
    offer = null;
    host.render();
    try {
      const { createWalletOffer } = await mutate("CreateWalletOffer", { diplomaId });
      if (mine !== run) return;
      offer = createWalletOffer;
      host.announce(t("wallet.ready"));
      // Redraw when the offer runs out, so nobody scans a dead code.
      clearTimeout(timer);
      timer = setTimeout(() => onScreen() && host.render(), Date.parse(offer.expiresAt) - Date.now());
    } catch (failure) {
      if (mine !== run) return;
      if (isUnauthenticated(failure)) {
        host.sessionEnded(failure);
        return;
      }
      error = describeError(failure);
    } finally {
      if (mine === run) busy = false;
    }
    if (onScreen()) host.render();
  }

  function offerSection() {
    if (busy) return h("p", { class: "loading" }, t("wallet.preparing"));
    if (error) {
      return h(
        "div",
        {},
        h("p", { class: "alert", role: "alert", id: "wallet-error" }, t(error.key, error.params)),
        h("button", { type: "button", class: "button", on: { click: create } }, t("wallet.again")),
      );
    }
    if (!offer) return null;
    const expired = Date.now() >= Date.parse(offer.expiresAt);
    if (expired) {
      return h(
        "div",
        {},
        h("p", { class: "banner", id: "wallet-expired" }, t("wallet.expired")),
        h("button", { type: "button", class: "button", on: { click: create } }, t("wallet.again")),
      );
    }
    const until = fmt.timestamp(Date.parse(offer.expiresAt), getLanguage());
    return [
      section(
        "wallet-scan",
        t("wallet.step1"),
        h("p", {}, t("wallet.scan")),
        h("img", { class: "qr", id: "wallet-qr", src: offer.qrSvgDataUri, alt: t("wallet.qrAlt") }),
        h(
          "p",
          {},
          h("a", { href: offer.offerUri, id: "wallet-link", class: "button button-secondary" }, t("wallet.sameDevice")),
        ),
      ),
      section(
        "wallet-code",
        t("wallet.step2"),
        h("p", { id: "wallet-code-hint" }, t("wallet.codeHint")),
        // Read digit by digit by screen readers (aria-label), shown large for typing.
        h(
          "p",
          {
            class: "tx-code mono",
            id: "wallet-tx-code",
            "aria-describedby": "wallet-code-hint",
            "aria-label": `${t("wallet.codeLabel")}: ${offer.txCode.split("").join(" ")}`,
          },
          offer.txCode,
        ),
        h("p", { class: "note" }, tParts("wallet.valid", { time: time(offer.expiresAt, until) })),
      ),
      section(
        "wallet-after",
        t("wallet.step3"),
        h("p", {}, t("wallet.after")),
        h("p", {}, h("a", { href: "#/security", id: "wallet-activity" }, t("wallet.activity"))),
      ),
    ];
  }

  return {
    enter(options) {
      diplomaId = options.id ?? "";
      programme = null;
      loadSnapshot("ExtractsPage")
        .then((saved) => {
          programme = saved?.data?.diplomas?.find((d) => d.id === diplomaId)?.programme ?? null;
          if (onScreen()) host.render();
        })
        .catch(() => undefined);
      create();
    },
    leave() {
      run += 1;
      clearTimeout(timer);
      offer = null;
    },
    render() {
      return [
        h("p", {}, h("a", { href: "#/extracts", class: "back" }, t("extracts.back"))),
        title(t("wallet.title")),
        programme ? h("p", { class: "item-title", id: "wallet-programme" }, programme) : null,
        h("p", { class: "lead" }, t("wallet.lead")),
        offerSection(),
      ].flat();
    },
  };
}
