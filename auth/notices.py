"""Security notices posted to the person's inbox (the source of truth; push comes later)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from notifications.models import MessageKind
from notifications.service import post_message
from records.models import Person

_TEXTS: dict[str, dict[str, tuple[str, str]]] = {
    "passkey.added": {
        "en": (
            "A passkey was added to your account",
            "A new passkey named “{name}” can now sign in to your DUO Abroad account. "
            "If this was not you, remove it under Security and contact DUO.",
        ),
        "nl": (
            "Er is een passkey toegevoegd aan je account",
            "Met de nieuwe passkey “{name}” kun je nu inloggen op DUO Abroad. "
            "Was jij dit niet? Verwijder hem onder Beveiliging en neem contact op met DUO.",
        ),
    },
    "passkey.revoked": {
        "en": (
            "A passkey was removed from your account",
            "The passkey “{name}” can no longer sign in to your account.",
        ),
        "nl": (
            "Er is een passkey verwijderd van je account",
            "Met de passkey “{name}” kun je niet meer inloggen op je account.",
        ),
    },
    "recovery.used": {
        "en": (
            "Your recovery key was used",
            "Your account was recovered with your recovery key and a new passkey “{name}” was "
            "added. You received a new recovery key. If this was not you, contact DUO now.",
        ),
        "nl": (
            "Je herstelsleutel is gebruikt",
            "Je account is hersteld met je herstelsleutel en er is een nieuwe passkey “{name}” "
            "toegevoegd. Je hebt een nieuwe herstelsleutel gekregen. Was jij dit niet? "
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
            "DUO heeft je passkeys verwijderd",
            "Een DUO-medewerker heeft alle passkeys en herstelsleutels van je account verwijderd "
            "en je overal afgemeld. Reden: {reason}\n\nVraag DUO om een nieuwe activeringscode "
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
            "DUO heeft een aanvraag voor toegang tot je account goedgekeurd",
            "Na controle van een identiteitsbewijs en een video heeft DUO een aanvraag "
            "goedgekeurd om een passkey op een nieuw apparaat aan je account toe te voegen. "
            "Was jij dit niet? Neem dan direct contact op met DUO.",
        ),
    },
    "recovery.renewed": {
        "en": (
            "You have a new recovery key",
            "Your previous recovery key no longer works. Keep the new one somewhere safe.",
        ),
        "nl": (
            "Je hebt een nieuwe herstelsleutel",
            "Je vorige herstelsleutel werkt niet meer. Bewaar de nieuwe op een veilige plek.",
        ),
    },
}


async def announce(db: AsyncSession, person_id: uuid.UUID, event: str, **values: str) -> None:
    person = await db.get(Person, person_id)
    language = (
        person.preferred_language if person and person.preferred_language in ("en", "nl") else "en"
    )
    subject, body = _TEXTS[event][language]
    await post_message(
        db, person_id, kind=MessageKind.SECURITY, subject=subject, body=body.format(**values)
    )
