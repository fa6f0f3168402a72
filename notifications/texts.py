"""What a reminder says, in English or Dutch, and the JSON payload the service worker receives.

The payload (version 1) is the contract with pwa/sw.js:

    {"v": 1, "type": "reminder" | "test",
     "title": str, "body": str, "lang": "en" | "nl",
     "url": str,            # same-origin path to open on click, e.g. "/#deadlines"
     "tag": str,            # Notification tag: a newer reminder for a deadline replaces the older
     "deadlineId": str | null, "messageId": str | null,  # the inbox message it mirrors
     "dueAt": ISO 8601 UTC | null}

The service worker must always show a notification for it (userVisibleOnly).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from notifications.vapid import b64url
from records.models import DeadlineKind
from records.texts import deadline_description

_KIND = {
    "en": {
        DeadlineKind.PAYMENT: "Payment",
        DeadlineKind.INCOME_STATEMENT: "Income statement",
        DeadlineKind.APPLICATION: "Application",
        DeadlineKind.DOCUMENT: "Documents",
    },
    "nl": {
        DeadlineKind.PAYMENT: "Betaling",
        DeadlineKind.INCOME_STATEMENT: "Inkomensverklaring",
        DeadlineKind.APPLICATION: "Aanvraag",
        DeadlineKind.DOCUMENT: "Documenten",
    },
}
_MONTHS = {
    "en": [
        "January", "February", "March", "April", "May", "June",
        "July", "August", "September", "October", "November", "December",
    ],
    "nl": [
        "januari", "februari", "maart", "april", "mei", "juni",
        "juli", "augustus", "september", "oktober", "november", "december",
    ],
}  # fmt: skip
_WEEKDAYS = {
    "en": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
    "nl": ["maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag", "zondag"],
}
DEADLINES_URL = "/#deadlines"


@dataclass(frozen=True, slots=True)
class Text:
    title: str
    body: str


def when(days: int, language: str) -> str:
    if language == "nl":
        return {0: "vandaag", 1: "morgen"}.get(days, f"nog {days} dagen")
    return {0: "today", 1: "tomorrow"}.get(days, f"in {days} days")


def format_moment(moment: datetime, zone: ZoneInfo, language: str) -> str:
    local = moment.astimezone(zone)
    weekday = _WEEKDAYS[language][local.weekday()]
    month = _MONTHS[language][local.month - 1]
    return f"{weekday} {local.day} {month} {local.year}, {local:%H:%M} ({zone.key})"


def reminder_text(
    *,
    kind: DeadlineKind,
    description: str,
    deadline: datetime,
    days_left: int,
    zone: ZoneInfo,
    language: str,
) -> Text:
    language = language if language in _KIND else "en"
    moment = format_moment(deadline, zone, language)
    if language == "nl":
        return Text(
            title=f"{_KIND['nl'][kind]}: {when(days_left, 'nl')}",
            body=f"{deadline_description(kind, description, 'nl')} Uiterlijk {moment}.",
        )
    return Text(
        title=f"{_KIND['en'][kind]} due {when(days_left, 'en')}",
        body=f"{description} Deadline: {moment}.",
    )


def health_text(language: str) -> Text:
    if language == "nl":
        return Text("Testmelding van DUO Abroad", "Meldingen werken op dit apparaat.")
    return Text("Test notification from DUO Abroad", "Notifications work on this device.")


def topic_for(deadline_id: uuid.UUID) -> str:
    """RFC 8030 §5.4: at most 32 characters of the base64url alphabet; 22 for a UUID."""
    return b64url(deadline_id.bytes)


def tag_for(deadline_id: uuid.UUID) -> str:
    return f"deadline-{deadline_id}"


def reminder_payload(
    *,
    title: str,
    body: str,
    language: str,
    deadline_id: uuid.UUID,
    message_id: uuid.UUID | None,
    due_at: datetime,
) -> bytes:
    return _encode(
        {
            "v": 1,
            "type": "reminder",
            "title": title,
            "body": body,
            "lang": language,
            "url": DEADLINES_URL,
            "tag": tag_for(deadline_id),
            "deadlineId": str(deadline_id),
            "messageId": str(message_id) if message_id else None,
            "dueAt": due_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        }
    )


def health_payload(*, text: Text, language: str, tag: str) -> bytes:
    return _encode(
        {
            "v": 1,
            "type": "test",
            "title": text.title,
            "body": text.body,
            "lang": language,
            "url": "/",
            "tag": tag,
            "deadlineId": None,
            "messageId": None,
            "dueAt": None,
        }
    )


# A push service must take 4,096 bytes of encrypted body (RFC 8030 §7.2): with the encryption
# overhead that leaves ~3,990 for the JSON. A long description is shortened, not refused (413).
MAX_PAYLOAD_BYTES = 3_500


def _encode(payload: dict[str, object]) -> bytes:
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    body = str(payload["body"]).encode("utf-8")
    while len(data) > MAX_PAYLOAD_BYTES and body:
        # JSON escapes make the text a little longer than its bytes: cut, measure again.
        body = body[: max(0, len(body) - (len(data) - MAX_PAYLOAD_BYTES) - 3)]
        shortened = body.decode("utf-8", errors="ignore").rstrip() + "…"
        data = json.dumps(
            {**payload, "body": shortened}, ensure_ascii=False, separators=(",", ":")
        ).encode("utf-8")
    return data


INBOX_URL = "/#inbox"


def message_payload(*, title: str, body: str, language: str, message_id: uuid.UUID) -> bytes:
    """An inbox message (a form decision) pushed to a device: its subject and a pointer."""
    return _encode(
        {
            "v": 1,
            "type": "message",
            "title": title,
            "body": body,
            "lang": language,
            "url": INBOX_URL,
            "tag": f"message-{message_id}",
            "deadlineId": None,
            "messageId": str(message_id),
            "dueAt": None,
        }
    )
