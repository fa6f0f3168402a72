"""The verifier's pages (English and Dutch): start a check, scan the QR code, read the result.

Server-rendered for a desktop or phone browser at an employer or a foreign institution; the
only script polls for the wallet's answer (CSP: `script-src 'self'`, no inline code), and
without it a "Check again" link does the same.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any

import segno

from extracts import sdjwt_vc
from extracts.render import STYLESHEET_PATH
from wallet.presentations import OPTIONAL_CLAIMS, VISIBLE_CLAIMS

SCRIPT_PATH = "/verifier/verifier.js"
LABELS = {path[0]: {"en": en, "nl": nl} for path, en, nl, _ in sdjwt_vc.CLAIMS if len(path) == 1}
TEXT: dict[str, dict[str, str]] = {
    "en": {
        "issuer": "DUO · Dienst Uitvoering Onderwijs",
        "title": "Check a Dutch diploma from a wallet",
        "lead": "The diploma holder shows you their DUO diploma from their digital identity "
        "wallet. Their wallet asks them what to share; DUO checks the answer and shows it here.",
        "other": "Nederlands",
        "always": "Always shown: name, institution, programme, level and date awarded.",
        "ask_more": "Also ask for",
        "start": "Start a check",
        "scan_title": "Scan with the holder's wallet",
        "scan": "Ask the diploma holder to scan this QR code with their wallet app, or to open "
        "the link below on their phone. The request is valid until {until} (UTC).",
        "open_link": "Open in a wallet on this device",
        "qr_alt": "QR code with the request for the holder's wallet",
        "waiting": "Waiting for the wallet's answer…",
        "check_again": "Check again",
        "new": "Start another check",
        "result_title": "Result of the check",
        "valid": "Genuine: a diploma issued by DUO, not changed, not revoked.",
        "revoked": "Revoked by DUO: this diploma credential is no longer valid.",
        "expired": "Expired: ask the holder for a new one.",
        "not_yet_valid": "Not valid yet.",
        "invalid": "Refused: the answer did not pass DUO's checks ({reason}).",
        "tampered": "Refused: the credential's signature does not hold.",
        "unknown_issuer": "Refused: not signed with a DUO key.",
        "declined": "The holder did not share the diploma ({reason}).",
        "disclosed": "What the holder shared",
        "missing": "Asked for but not shared",
        "proof": "What was checked",
        "proof_text": "DUO's signature and the credential's revocation status, at {checked} "
        "(UTC); that the answer was made for this check (audience and one-time number) by "
        "the wallet the diploma was issued to: {bound}.",
        "yes": "yes",
        "no": "no",
        "later": "Keep the result yourself if you need it: DUO deletes it 30 minutes after "
        "the answer. To check again later, start a new check.",
        "result": "Result",
        "grade": "Grade",
        "credits": "Credits (EC)",
        "subject": "Subject",
    },
    "nl": {
        "issuer": "DUO · Dienst Uitvoering Onderwijs",
        "title": "Een Nederlands diploma uit een wallet controleren",
        "lead": "De diplomahouder laat u het DUO-diploma zien uit de eigen digitale "
        "identiteitswallet. De wallet vraagt wat er gedeeld wordt; DUO controleert het "
        "antwoord en toont het hier.",
        "other": "English",
        "always": "Altijd getoond: naam, onderwijsinstelling, opleiding, niveau en datum diploma.",
        "ask_more": "Vraag ook naar",
        "start": "Controle starten",
        "scan_title": "Scannen met de wallet van de houder",
        "scan": "Vraag de diplomahouder deze QR-code met de wallet-app te scannen, of de "
        "link hieronder op de telefoon te openen. Het verzoek is geldig tot {until} (UTC).",
        "open_link": "Openen in een wallet op dit apparaat",
        "qr_alt": "QR-code met het verzoek voor de wallet van de houder",
        "waiting": "Wachten op het antwoord van de wallet…",
        "check_again": "Opnieuw kijken",
        "new": "Nieuwe controle starten",
        "result_title": "Uitslag van de controle",
        "valid": "Echt: een diploma uitgegeven door DUO, niet gewijzigd, niet ingetrokken.",
        "revoked": "Ingetrokken door DUO: dit diplomabewijs is niet meer geldig.",
        "expired": "Verlopen: vraag de houder om een nieuw bewijs.",
        "not_yet_valid": "Nog niet geldig.",
        "invalid": "Geweigerd: het antwoord doorstond de controles van DUO niet ({reason}).",
        "tampered": "Geweigerd: de handtekening van het bewijs klopt niet.",
        "unknown_issuer": "Geweigerd: niet ondertekend met een sleutel van DUO.",
        "declined": "De houder heeft het diploma niet gedeeld ({reason}).",
        "disclosed": "Wat de houder deelde",
        "missing": "Gevraagd maar niet gedeeld",
        "proof": "Wat is gecontroleerd",
        "proof_text": "De handtekening van DUO en of het bewijs is ingetrokken, om {checked} "
        "(UTC); dat het antwoord voor deze controle is gemaakt (ontvanger en eenmalig "
        "nummer) door de wallet waaraan het diploma is uitgegeven: {bound}.",
        "yes": "ja",
        "no": "nee",
        "later": "Bewaar de uitslag zelf als u die nodig hebt: DUO verwijdert hem 30 minuten "
        "na het antwoord. Wilt u later opnieuw controleren, start dan een nieuwe controle.",
        "result": "Resultaat",
        "grade": "Cijfer",
        "credits": "Studiepunten (EC)",
        "subject": "Vak",
    },
}


def language(value: str | None) -> str:
    return value if value in TEXT else "en"


def _page(lang: str, title: str, body: str, *, script: bool = False) -> str:
    t = TEXT[lang]
    other = "nl" if lang == "en" else "en"
    tag = f'<script src="{SCRIPT_PATH}" defer></script>' if script else ""
    return f"""<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{html.escape(title)} · DUO</title>
<link rel="stylesheet" href="{STYLESHEET_PATH}">
{tag}
</head>
<body>
<main class="extract">
<header>
<p class="issuer">{t["issuer"]}</p>
<h1>{html.escape(title)}</h1>
<p class="lang"><a href="?lang={other}" hreflang="{other}" lang="{other}">{t["other"]}</a></p>
</header>
{body}
</main>
</body>
</html>
"""


def start_page(lang: str) -> str:
    t = TEXT[lang]
    boxes = "".join(
        f'<div><input type="checkbox" id="claim-{name}" name="claim" value="{name}">'
        f'<label for="claim-{name}">{LABELS[name][lang]}</label></div>'
        for name in OPTIONAL_CLAIMS
    )
    body = f"""<p class="lead">{t["lead"]}</p>
<form method="post" action="/verifier/requests?lang={lang}">
<p>{t["always"]}</p>
<fieldset><legend>{t["ask_more"]}</legend>{boxes}</fieldset>
<p><button type="submit">{t["start"]}</button></p>
</form>"""
    return _page(lang, t["title"], body)


def pending_page(
    lang: str, *, request_id: str, authorization_request: str, expires_at: datetime
) -> str:
    t, e = TEXT[lang], html.escape
    # Error correction "L": the request goes by value, so the code is large; printed or on a
    # screen it stays readable, and a wallet on the same phone uses the link instead.
    qr = segno.make(authorization_request, error="l")
    until = expires_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    body = f"""<section aria-labelledby="h-scan">
<h2 id="h-scan">{t["scan_title"]}</h2>
<p>{t["scan"].format(until=until)}</p>
<div class="verify">
<img src="{qr.svg_data_uri(scale=3, border=2)}" alt="{t["qr_alt"]}" width="300" height="300">
<div>
<p><a href="{e(authorization_request)}">{t["open_link"]}</a></p>
<p role="status" id="waiting" data-state-url="/verifier/requests/{request_id}/state">
{t["waiting"]}</p>
<p><a href="/verifier/requests/{request_id}?lang={lang}">{t["check_again"]}</a></p>
</div>
</div>
</section>"""
    return _page(lang, t["title"], body, script=True)


def _value(value: Any, lang: str) -> str:
    e = html.escape
    if isinstance(value, list):
        t = TEXT[lang]
        rows = "".join(
            f"<tr><td>{e(str(r.get('subject', '')))}</td><td>{e(str(r.get('grade', '')))}</td>"
            f'<td class="num">{e(str(r.get("credits", "")))}</td></tr>'
            for r in value
            if isinstance(r, dict)
        )
        return (
            f'<table><thead><tr><th scope="col">{t["subject"]}</th><th scope="col">'
            f'{t["grade"]}</th><th scope="col" class="num">{t["credits"]}</th></tr></thead>'
            f"<tbody>{rows}</tbody></table>"
        )
    return e(str(value))


def result_page(lang: str, result: dict[str, Any]) -> str:
    t, e = TEXT[lang], html.escape
    outcome = str(result.get("result"))
    reason = e(str(result.get("reason") or ""))
    verdict = t.get(outcome, t["invalid"]).format(reason=reason)
    css = "valid" if outcome == "valid" else "revoked"
    claims: dict[str, Any] = result.get("claims") or {}
    shown = [n for n in (*VISIBLE_CLAIMS[:2], "birthdate", *VISIBLE_CLAIMS[2:], "programme_code")]
    shown += ["results"]
    rows = "".join(
        f"<dt>{LABELS[name][lang]}</dt><dd>{_value(claims[name], lang)}</dd>"
        for name in shown
        if claims.get(name) not in (None, [])  # no result disclosed: an empty array
    )
    parts = [f'<p class="verdict verdict-{css}" role="status">{verdict}</p>']
    if rows:
        parts.append(
            f'<section aria-labelledby="h-disclosed"><h2 id="h-disclosed">{t["disclosed"]}</h2>'
            f"<dl>{rows}</dl></section>"
        )
    missing = [LABELS[n][lang] for n in result.get("missing") or [] if n in LABELS]
    if missing and outcome != "declined":
        parts.append(
            f'<section aria-labelledby="h-missing"><h2 id="h-missing">{t["missing"]}</h2>'
            f"<ul>{''.join(f'<li>{e(m)}</li>' for m in missing)}</ul></section>"
        )
    if outcome != "declined":
        binding = result.get("holderBinding") or {}
        bound = t["yes"] if binding.get("matchedYourAudienceAndNonce") else t["no"]
        checked = str(result.get("checkedAt") or "").replace("T", " ").rstrip("Z")
        parts.append(
            f'<section aria-labelledby="h-proof"><h2 id="h-proof">{t["proof"]}</h2>'
            f"<p>{t['proof_text'].format(checked=e(checked), bound=bound)}</p></section>"
        )
    parts.append(f"<p>{t['later']}</p>")
    parts.append(f'<p><a href="/verifier?lang={lang}">{t["new"]}</a></p>')
    return _page(lang, t["result_title"], "\n".join(parts))


def message_page(lang: str, message: str) -> str:
    t = TEXT[lang]
    body = (
        f'<p class="verdict verdict-revoked" role="alert">{html.escape(message)}</p>'
        f'<p><a href="/verifier?lang={lang}">{t["new"]}</a></p>'
    )
    return _page(lang, t["title"], body)


SCRIPT = """\
// Polls for the wallet's answer and shows the result as soon as it arrives.
const waiting = document.getElementById("waiting");
if (waiting) {
  const url = waiting.dataset.stateUrl;
  const poll = async () => {
    try {
      const response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
      if (response.ok && (await response.json()).answered) {
        location.reload();
        return;
      }
      if (response.status === 404) {
        location.reload();
        return;
      }
    } catch (error) {
      // Offline for a moment: the next poll tries again.
    }
    setTimeout(poll, 2000);
  };
  setTimeout(poll, 2000);
}
"""
