"""What DUO tells a person in the inbox, by key and parameters, rendered in the reader's language.

An inbox message stores its key and parameters (#16 item 1): it is rendered when it is read, in
the language the person chose then, so a message sent before a switch follows the switch too.
A parameter is a string, or one string per language ({"en": …, "nl": …}: a form's title).
Rows from before keys existed keep their stored subject and body (migration 0017 gave keys to
those it recognised).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from notifications.texts import Text, reminder_text
from records.models import DeadlineKind
from records.texts import language_or_default

Params = Mapping[str, Any]

WELCOME = "welcome"
FORM_PROCESSED = "form.processed"
FORM_REJECTED = "form.rejected"
REMINDER = "reminder"

CATALOGUE: dict[str, dict[str, tuple[str, str]]] = {
    WELCOME: {
        "en": (
            "Welcome to DUO Abroad",
            "Here you can see your records, diplomas and forms, also offline.",
        ),
        "nl": (
            "Welkom bij DUO Abroad",
            "U kunt hier uw gegevens, diploma's en formulieren bekijken, ook offline.",
        ),
    },
    FORM_PROCESSED: {
        "en": (
            "Your form has been processed",
            "DUO has processed your form “{title}”, received on {day} (reference {ref}).",
        ),
        "nl": (
            "Uw formulier is verwerkt",
            "DUO heeft uw formulier “{title}” verwerkt, ontvangen op {day} (kenmerk {ref}).",
        ),
    },
    FORM_REJECTED: {
        "en": (
            "Your form could not be processed",
            "DUO could not process your form “{title}”, received on {day} (reference {ref})."
            "\n\nReason: {reason}",
        ),
        "nl": (
            "Uw formulier kon niet worden verwerkt",
            "DUO kon uw formulier “{title}”, ontvangen op {day} (kenmerk {ref}), niet verwerken."
            "\n\nReden: {reason}",
        ),
    },
    "passkey.added": {
        "en": (
            "A passkey was added to your account",
            "A new passkey named “{name}” can now sign in to your DUO Abroad account. "
            "If this was not you, remove it under Security and contact DUO.",
        ),
        "nl": (
            "Er is een passkey toegevoegd aan uw account",
            "Met de nieuwe passkey “{name}” kunt u nu inloggen op DUO Abroad. "
            "Was u dit niet? Verwijder hem onder Beveiliging en neem contact op met DUO.",
        ),
    },
    "passkey.revoked": {
        "en": (
            "A passkey was removed from your account",
            "The passkey “{name}” can no longer sign in to your account.",
        ),
        "nl": (
            "Er is een passkey verwijderd van uw account",
            "Met de passkey “{name}” kunt u niet meer inloggen op uw account.",
        ),
    },
    "recovery.used": {
        "en": (
            "Your recovery key was used",
            "Your account was recovered with your recovery key and a new passkey “{name}” was "
            "added. You received a new recovery key. If this was not you, contact DUO now.",
        ),
        "nl": (
            "Uw herstelsleutel is gebruikt",
            "Uw account is hersteld met uw herstelsleutel en er is een nieuwe passkey “{name}” "
            "toegevoegd. U hebt een nieuwe herstelsleutel gekregen. Was u dit niet? "
            "Neem dan direct contact op met DUO.",
        ),
    },
    "access.revoked": {
        "en": (
            "DUO removed your passkeys",
            "DUO staff removed every passkey and recovery key of your account and signed you out "
            "everywhere. Reason: {reason}\n\nTo sign in again, ask DUO for a new activation code.",
        ),
        "nl": (
            "DUO heeft uw passkeys verwijderd",
            "Een DUO-medewerker heeft alle passkeys en herstelsleutels van uw account verwijderd "
            "en u overal afgemeld. Reden: {reason}\n\nVraag DUO om een nieuwe activeringscode "
            "om weer in te loggen.",
        ),
    },
    "access.approved": {
        "en": (
            "DUO approved a request for access to your account",
            "After checking an identity document and a video, DUO approved a request to add "
            "a passkey to your account on a new device. If this was not you, contact DUO now.",
        ),
        "nl": (
            "DUO heeft een aanvraag voor toegang tot uw account goedgekeurd",
            "Na controle van een identiteitsbewijs en een video heeft DUO een aanvraag "
            "goedgekeurd om een passkey op een nieuw apparaat aan uw account toe te voegen. "
            "Was u dit niet? Neem dan direct contact op met DUO.",
        ),
    },
    "recovery.renewed": {
        "en": (
            "You have a new recovery key",
            "Your previous recovery key no longer works. Keep the new one somewhere safe.",
        ),
        "nl": (
            "U hebt een nieuwe herstelsleutel",
            "Uw vorige herstelsleutel werkt niet meer. Bewaar de nieuwe op een veilige plek.",
        ),
    },
}

# What a lock screen may show of a message pushed to a device: its subject and a pointer to the
# app, never its body (a rejection's reason, a passkey's name).
PUSH_BODY = {
    "en": "Open DUO Abroad to read the message.",
    "nl": "Open DUO Abroad om het bericht te lezen.",
}


def _value(value: Any, language: str) -> str:
    if isinstance(value, Mapping):
        return str(value.get(language) or value.get("en") or next(iter(value.values()), ""))
    return str(value)


def reminder_params(
    *, kind: DeadlineKind, description: str, deadline: datetime, days_left: int, zone: str
) -> dict[str, Any]:
    return {
        "kind": kind.value,
        "description": description,
        "deadline": deadline.isoformat(),
        "daysLeft": days_left,
        "zone": zone,
    }


def render(key: str | None, params: Params | None, language: str) -> Text | None:
    """The message in this language; None for a key this release does not know."""
    language = language_or_default(language)
    params = params or {}
    if key == REMINDER:
        try:
            zone = ZoneInfo(str(params["zone"]))
            return reminder_text(
                kind=DeadlineKind(params["kind"]),
                description=str(params["description"]),
                deadline=datetime.fromisoformat(str(params["deadline"])),
                days_left=int(params["daysLeft"]),
                zone=zone,
                language=language,
            )
        except (KeyError, ValueError, ZoneInfoNotFoundError):
            return None
    texts = CATALOGUE.get(key or "")
    if texts is None:
        return None
    subject, body = texts[language]
    values = {name: _value(value, language) for name, value in params.items()}
    try:
        return Text(subject.format_map(values), body.format_map(values))
    except (KeyError, IndexError, ValueError):
        return None


def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", template)
    regex = "".join(
        re.escape(part) if i % 2 == 0 else f"(?P<{part}>.*?)" for i, part in enumerate(parts)
    )
    return re.compile(regex, re.DOTALL)


# Earlier Dutch wordings (before every text said "u"), recognised in rows stored before keys
# existed; they are never rendered again.
EARLIER: dict[str, tuple[str, str]] = {
    WELCOME: (
        "Welkom bij DUO Abroad",
        "Je kunt hier je gegevens, diploma's en formulieren bekijken, ook offline.",
    ),
    "passkey.added": (
        "Er is een passkey toegevoegd aan je account",
        "Met de nieuwe passkey “{name}” kun je nu inloggen op DUO Abroad. "
        "Was jij dit niet? Verwijder hem onder Beveiliging en neem contact op met DUO.",
    ),
    "passkey.revoked": (
        "Er is een passkey verwijderd van je account",
        "Met de passkey “{name}” kun je niet meer inloggen op je account.",
    ),
    "recovery.used": (
        "Je herstelsleutel is gebruikt",
        "Je account is hersteld met je herstelsleutel en er is een nieuwe passkey “{name}” "
        "toegevoegd. Je hebt een nieuwe herstelsleutel gekregen. Was jij dit niet? "
        "Neem dan direct contact op met DUO.",
    ),
    "access.revoked": (
        "DUO heeft je passkeys verwijderd",
        "Een DUO-medewerker heeft alle passkeys en herstelsleutels van je account verwijderd "
        "en je overal afgemeld. Reden: {reason}\n\nVraag DUO om een nieuwe activeringscode "
        "om weer in te loggen.",
    ),
    "access.approved": (
        "DUO heeft een aanvraag voor toegang tot je account goedgekeurd",
        "Na controle van een identiteitsbewijs en een video heeft DUO een aanvraag "
        "goedgekeurd om een passkey op een nieuw apparaat aan je account toe te voegen. "
        "Was jij dit niet? Neem dan direct contact op met DUO.",
    ),
    "recovery.renewed": (
        "Je hebt een nieuwe herstelsleutel",
        "Je vorige herstelsleutel werkt niet meer. Bewaar de nieuwe op een veilige plek.",
    ),
}

_KNOWN = [
    (key, language, _pattern(subject), _pattern(body))
    for key, texts in CATALOGUE.items()
    for language, (subject, body) in texts.items()
] + [(key, "nl", _pattern(subject), _pattern(body)) for key, (subject, body) in EARLIER.items()]


def recognise(subject: str, body: str) -> tuple[str, dict[str, str]] | None:
    """The key and parameters of a message stored only as rendered text (before keys existed)."""
    for key, _language, subject_pattern, body_pattern in _KNOWN:
        if subject_pattern.fullmatch(subject) is None:
            continue
        found = body_pattern.fullmatch(body)
        if found is not None:
            return key, found.groupdict()
    return None
