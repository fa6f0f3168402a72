"""Human-readable extracts in English and Dutch: the texts, and the HTML (under the app's CSP).

Rendered from the signed payload only, never from the live records: the rendering of an
extract is as immutable as the extract. The QR code carries a short address, DUO's check of
this extract (/v/<extract id>): a small code that a phone camera reads at print size (#16 item
10), where the whole JWS made a dense one. The JWS stays available as a file for offline checks.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

import segno

from extracts.verify import Result, Verification

# Bump when the output of this module or extracts.pdf changes: part of the renderings' ETags.
RENDER_VERSION = "2"
STYLESHEET_PATH = "/extracts/extract.css"
# The short address fits a version 4 or 5 code at error level M (15% may be damaged).
QR_ERROR = "m"

MONTHS = {
    "en": "January February March April May June July August September October November December",
    "nl": "januari februari maart april mei juni juli augustus september oktober november december",
}
LEVELS = {
    "en": {
        "vo": "Secondary education (VO)",
        "mbo": "Secondary vocational education (MBO)",
        "hbo": "Higher professional education (HBO, university of applied sciences)",
        "wo": "University education (WO, research university)",
    },
    "nl": {
        "vo": "Voortgezet onderwijs (vo)",
        "mbo": "Middelbaar beroepsonderwijs (mbo)",
        "hbo": "Hoger beroepsonderwijs (hbo)",
        "wo": "Wetenschappelijk onderwijs (wo)",
    },
}
TEXT: dict[str, dict[str, str]] = {
    "en": {
        "issuer": "DUO · Dienst Uitvoering Onderwijs · the Netherlands",
        "title": "Diploma extract",
        "lead": "An extract from the Dutch diploma register, digitally signed by DUO.",
        "other": "Nederlands",
        "holder": "Holder",
        "name": "Name",
        "dob": "Date of birth",
        "diploma": "Diploma",
        "institution": "Institution",
        "programme": "Programme",
        "code": "Programme code",
        "level": "Level",
        "awarded": "Date of award",
        "results": "Results",
        "subject": "Subject",
        "grade": "Grade",
        "credits": "Credits (ECTS)",
        "verify": "Verification",
        "verify_how": "To check this extract, scan the QR code or open {page}: DUO's page shows "
        "whether it is genuine, unchanged and still valid. Only that check counts: a printed or "
        "on-screen copy proves nothing by itself.",
        "checked_title": "What DUO checked",
        "checked": "DUO checked this extract on {at}: the digital signature is DUO's, the "
        "content has not changed since DUO signed it on {issued}, and DUO has not revoked it.",
        "proves_title": "What this proves",
        "proves": "DUO's diploma register holds this diploma for the person named, as it was on "
        "{issued}. It does not prove who is showing it to you: compare the name and date of "
        "birth with an identity document.",
        "again_title": "Checking again later",
        "again_link": "Open this link again until {expires}: every visit checks the extract "
        "anew, revocation included. After that, ask the holder for a new link or for their "
        "printed extract: its QR code leads to DUO's check.",
        "again_page": "Open {page} again (the address in the QR code on the printed extract): "
        "every visit checks the extract anew, revocation included, until its end date.",
        "id": "Extract id",
        "issued": "Issued",
        "valid_until": "Valid until",
        "no_expiry": "no end date",
        "key": "Signing key (kid)",
        "qr_alt": "QR code that opens DUO's verification page with this extract",
        "downloads": "Downloads",
        "download_pdf": "PDF",
        "download_jws": "Signed extract (.jws)",
    },
    "nl": {
        "issuer": "DUO · Dienst Uitvoering Onderwijs · Nederland",
        "title": "Diploma-uittreksel",
        "lead": "Een uittreksel uit het Nederlandse diplomaregister, "
        "digitaal ondertekend door DUO.",
        "other": "English",
        "holder": "Houder",
        "name": "Naam",
        "dob": "Geboortedatum",
        "diploma": "Diploma",
        "institution": "Onderwijsinstelling",
        "programme": "Opleiding",
        "code": "Opleidingscode",
        "level": "Niveau",
        "awarded": "Datum diploma",
        "results": "Resultaten",
        "subject": "Vak",
        "grade": "Cijfer",
        "credits": "Studiepunten (EC)",
        "verify": "Controle",
        "verify_how": "Om dit uittreksel te controleren: scan de QR-code of open {page}. De "
        "pagina van DUO laat zien of het echt, ongewijzigd en nog geldig is. Alleen die controle "
        "telt: een afdruk of schermkopie bewijst op zich niets.",
        "checked_title": "Wat DUO heeft gecontroleerd",
        "checked": "DUO heeft dit uittreksel gecontroleerd op {at}: de digitale handtekening is "
        "van DUO, de inhoud is niet veranderd sinds DUO het ondertekende op {issued}, en DUO "
        "heeft het niet ingetrokken.",
        "proves_title": "Wat dit bewijst",
        "proves": "Het diplomaregister van DUO bevat dit diploma voor de genoemde persoon, zoals "
        "op {issued}. Het bewijst niet wie het u laat zien: vergelijk de naam en geboortedatum "
        "met een identiteitsbewijs.",
        "again_title": "Later opnieuw controleren",
        "again_link": "Open deze link opnieuw tot {expires}: bij elk bezoek wordt het uittreksel "
        "opnieuw gecontroleerd, ook op intrekking. Vraag daarna de houder om een nieuwe link of "
        "om het afgedrukte uittreksel: de QR-code daarop leidt naar de controle van DUO.",
        "again_page": "Open {page} opnieuw (het adres in de QR-code op het afgedrukte "
        "uittreksel): bij elk bezoek wordt het uittreksel opnieuw gecontroleerd, ook op "
        "intrekking, tot de einddatum.",
        "id": "Uittreksel-id",
        "issued": "Afgegeven",
        "valid_until": "Geldig tot",
        "no_expiry": "geen einddatum",
        "key": "Ondertekeningssleutel (kid)",
        "qr_alt": "QR-code die de controlepagina van DUO met dit uittreksel opent",
        "downloads": "Downloads",
        "download_pdf": "PDF",
        "download_jws": "Ondertekend uittreksel (.jws)",
    },
}
VERDICTS: dict[str, dict[Result, str]] = {
    "en": {
        Result.VALID: "Verified: issued by DUO, unchanged and not revoked (checked {at}).",
        Result.REVOKED: "Revoked: DUO has withdrawn this extract. Do not rely on it.",
        Result.EXPIRED: "Expired: this extract is past its end date. Ask the holder for a new one.",
        Result.TAMPERED: "Not verified: the signature does not match the content.",
        Result.UNKNOWN_ISSUER: "Not verified: signed with a key DUO does not publish.",
    },
    "nl": {
        Result.VALID: "Gecontroleerd: afgegeven door DUO, ongewijzigd en niet ingetrokken "
        "(gecontroleerd {at}).",
        Result.REVOKED: "Ingetrokken: DUO heeft dit uittreksel ingetrokken. Vertrouw er niet op.",
        Result.EXPIRED: "Verlopen: dit uittreksel is niet meer geldig. "
        "Vraag de houder om een nieuw.",
        Result.TAMPERED: "Niet gecontroleerd: de handtekening past niet bij de inhoud.",
        Result.UNKNOWN_ISSUER: "Niet gecontroleerd: ondertekend met een sleutel die DUO niet "
        "publiceert.",
    },
}

STYLESHEET = """\
:root { color-scheme: light; --ink: #1a1a1a; --muted: #555; --line: #c8ccd0; --accent: #154273; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--ink); background: #f3f4f6; }
.extract { max-width: 46rem; margin: 0 auto; padding: 1.5rem; background: #fff; }
.issuer { margin: 0; color: var(--accent); font-weight: 600; }
h1 { margin: .25rem 0; font-size: 1.75rem; }
h2 { margin: 1.5rem 0 .5rem; font-size: 1.15rem; color: var(--accent);
  border-bottom: 1px solid var(--line); }
.lead { margin: 0; color: var(--muted); }
.lang { margin-top: .5rem; }
a { color: var(--accent); }
dl { display: grid; grid-template-columns: minmax(9rem, max-content) 1fr; gap: .25rem 1rem;
  margin: 0; }
dt { color: var(--muted); }
dd { margin: 0; overflow-wrap: anywhere; }
table { width: 100%; border-collapse: collapse; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid var(--line); }
td.num, th.num { text-align: right; }
.verify { display: grid; grid-template-columns: auto 1fr; gap: 1rem; align-items: start; }
.verify-checked { display: block; }
.verify h3 { margin: .75rem 0 .25rem; font-size: 1rem; }
.verify img { width: 16rem; max-width: 100%; height: auto; image-rendering: pixelated; }
.verdict { margin: 1rem 0; padding: .75rem 1rem; border-left: .4rem solid; font-weight: 600; }
.verdict-valid { border-color: #0a7d32; background: #e8f5ec; }
.verdict-revoked, .verdict-expired, .verdict-tampered, .verdict-unknown_issuer {
  border-color: #b00020; background: #fdecee; }
.kid { font-family: ui-monospace, monospace; font-size: .85em; }
@media (max-width: 36rem) {
  .verify, dl { grid-template-columns: 1fr; }
}
@media print { body { background: #fff; } .lang, .downloads { display: none; } }
"""


def _date(value: str | None, lang: str) -> str:
    if not value:
        return ""
    day = date.fromisoformat(value[:10])
    month = MONTHS[lang].split()[day.month - 1]
    return f"{day.day} {month} {day.year}"


def _moment(timestamp: Any, lang: str) -> str:
    if not isinstance(timestamp, int | float):
        return ""
    moment = datetime.fromtimestamp(timestamp, UTC)
    return f"{_date(moment.date().isoformat(), lang)}, {moment:%H:%M} UTC"


def verification_url(public_origin: str, extract_id: str) -> str:
    """Where the QR code leads: DUO's check of this extract (extracts/routes.py, /v/<id>)."""
    return f"{public_origin}/v/{extract_id}"


def qr_code(public_origin: str, extract_id: str) -> segno.QRCode:
    return segno.make(verification_url(public_origin, extract_id), error=QR_ERROR)


def fields(payload: Mapping[str, Any], lang: str) -> dict[str, Any]:
    holder = payload.get("holder", {})
    diploma = payload.get("diploma", {})
    level = str(diploma.get("level", ""))
    return {
        "name": holder.get("name", ""),
        "dob": _date(holder.get("dateOfBirth"), lang),
        "institution": diploma.get("institution", ""),
        "programme": diploma.get("programme", ""),
        "code": diploma.get("programmeCode") or "—",
        "level": LEVELS[lang].get(level, level),
        "awarded": _date(diploma.get("awardedOn"), lang),
        "results": diploma.get("results", []),
        "id": str(payload.get("jti", "")),
        "issued": _moment(payload.get("iat"), lang),
        "valid_until": _moment(payload.get("exp"), lang) or TEXT[lang]["no_expiry"],
    }


def render_html(
    payload: Mapping[str, Any],
    *,
    jws: str,
    kid: str,
    lang: str,
    public_origin: str,
    verification: Verification | None = None,
    link_expires_at: datetime | None = None,
    downloads: Mapping[str, str] | None = None,
) -> str:
    """A complete page; no inline script or style (the app's CSP forbids both).

    With a verification it is a verifier's page (a share link, or the QR code's /v/<id>):
    what was checked, what that proves and how to check again, and no QR code to scan from
    the screen it is on. Without, the holder's copy to print, with the QR code.
    """
    t, f, e = TEXT[lang], fields(payload, lang), html.escape
    other = "nl" if lang == "en" else "en"
    has_credits = any(r.get("credits") is not None for r in f["results"])
    rows = "\n".join(
        f"<tr><td>{e(str(r.get('subject', '')))}</td><td>{e(str(r.get('grade', '')))}</td>"
        + (f'<td class="num">{e(str(r.get("credits") or ""))}</td>' if has_credits else "")
        + "</tr>"
        for r in f["results"]
    )
    credits_head = f'<th scope="col" class="num">{t["credits"]}</th>' if has_credits else ""
    check_url = e(verification_url(public_origin, f["id"]))
    check_link = f'<a href="{check_url}">{check_url}</a>'
    verdict = ""
    if verification is not None:
        at = verification.checked_at.strftime("%Y-%m-%d %H:%M UTC")
        message = VERDICTS[lang][verification.result].format(at=at)
        verdict = (
            f'<p class="verdict verdict-{verification.result.value}" role="status">{e(message)}</p>'
        )
        at_text = _moment(verification.checked_at.timestamp(), lang)
        again = (
            t["again_link"].format(expires=e(_moment(link_expires_at.timestamp(), lang)))
            if link_expires_at is not None
            else t["again_page"].format(page=check_link)
        )
        checked = (
            f"<h3>{t['checked_title']}</h3>"
            f"<p>{e(t['checked'].format(at=at_text, issued=f['issued']))}</p>"
            if verification.result is Result.VALID
            else ""
        )
        how = (
            f"{checked}<h3>{t['proves_title']}</h3>"
            f"<p>{e(t['proves'].format(issued=f['issued']))}</p>"
            f"<h3>{t['again_title']}</h3><p>{again}</p>"
        )
        qr_image = ""
    else:
        how = f"<p>{t['verify_how'].format(page=check_link)}</p>"
        qr = qr_code(public_origin, f["id"])
        qr_image = (
            f'<img src="{qr.svg_data_uri(scale=4, border=4)}" alt="{t["qr_alt"]}" '
            'width="240" height="240">'
        )
    links = ""
    if downloads:
        items = "".join(
            f'<li><a href="{e(url)}">{e(t[label])}</a></li>' for label, url in downloads.items()
        )
        links = f'<section class="downloads"><h2>{t["downloads"]}</h2><ul>{items}</ul></section>'
    dl = "".join(
        f"<dt>{t[k]}</dt><dd>{e(str(f[k]))}</dd>"
        for k in ("institution", "programme", "code", "level", "awarded")
    )
    return f"""<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{t["title"]} · {e(f["name"])}</title>
<link rel="stylesheet" href="{STYLESHEET_PATH}">
</head>
<body>
<main class="extract">
<header>
<p class="issuer">{t["issuer"]}</p>
<h1>{t["title"]}</h1>
<p class="lead">{t["lead"]}</p>
<p class="lang"><a href="?lang={other}" hreflang="{other}" lang="{other}">{t["other"]}</a></p>
</header>
{verdict}
<section aria-labelledby="h-holder">
<h2 id="h-holder">{t["holder"]}</h2>
<dl><dt>{t["name"]}</dt><dd>{e(f["name"])}</dd><dt>{t["dob"]}</dt><dd>{e(f["dob"])}</dd></dl>
</section>
<section aria-labelledby="h-diploma">
<h2 id="h-diploma">{t["diploma"]}</h2>
<dl>{dl}</dl>
</section>
<section aria-labelledby="h-results">
<h2 id="h-results">{t["results"]}</h2>
<table>
<thead><tr><th scope="col">{t["subject"]}</th><th scope="col">{t["grade"]}</th>
{credits_head}</tr></thead>
<tbody>
{rows}
</tbody>
</table>
</section>
<section aria-labelledby="h-verify">
<h2 id="h-verify">{t["verify"]}</h2>
<div class="{"verify" if qr_image else "verify verify-checked"}">
{qr_image}
<div>
{how}
<dl>
<dt>{t["id"]}</dt><dd>{e(f["id"])}</dd>
<dt>{t["issued"]}</dt><dd>{e(f["issued"])}</dd>
<dt>{t["valid_until"]}</dt><dd>{e(f["valid_until"])}</dd>
<dt>{t["key"]}</dt><dd class="kid">{e(kid)}</dd>
</dl>
</div>
</div>
</section>
{links}
</main>
</body>
</html>
"""


def render_message_page(title: str, message: str, *, lang: str = "en") -> str:
    """A minimal page for a browser that opened a share link that no longer works."""
    e = html.escape
    return f"""<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{e(title)}</title>
<link rel="stylesheet" href="{STYLESHEET_PATH}">
</head>
<body>
<main class="extract">
<p class="issuer">{TEXT[lang]["issuer"]}</p>
<h1>{e(title)}</h1>
<p class="verdict verdict-revoked" role="alert">{e(message)}</p>
</main>
</body>
</html>
"""
