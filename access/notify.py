"""Telling the requesting browser that its request changed: one push, if the person allowed it.

The notice says only that there is news (a lock screen shows it to anyone nearby); the app
shows what it is. The same holds for the contact e-mail address, which is kept for such a
notice only and to which this server sends nothing itself. The request's status in the app is
the source of truth: a push that does not arrive loses nothing.
"""

from __future__ import annotations

import json
import uuid

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from access import service
from access.models import AccessRequest
from notifications.sender import Outcome, PushSender, SendResult
from notifications.webpush import PushRequest

log = structlog.get_logger("access.notify")

TEXTS = {
    "en": ("DUO Abroad", "There is news about your request for access. Open the app to see it."),
    "nl": (
        "DUO Abroad",
        "Er is nieuws over uw aanvraag voor toegang. Open de app om het te bekijken.",
    ),
}
URL = "/#/access"
TTL_SECONDS = 7 * 24 * 3600  # news a week old is still news; the app shows it anyway
TOPIC = "access-request"  # RFC 8030 §5.4: a newer notice replaces an undelivered older one


def payload(language: str) -> bytes:
    """The service worker's payload contract (README, "Reminders"), type "access"."""
    title, body = TEXTS.get(language, TEXTS["en"])
    return json.dumps(
        {
            "v": 1,
            "type": "access",
            "title": title,
            "body": body,
            "lang": language if language in TEXTS else "en",
            "url": URL,
            "tag": TOPIC,
            "deadlineId": None,
            "messageId": None,
            "dueAt": None,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()


async def notify_status(
    session_factory: async_sessionmaker[AsyncSession],
    sender: PushSender,
    request_id: uuid.UUID,
) -> SendResult | None:
    """After a decision's commit: push the notice; None when the browser did not allow it.

    No transaction stays open while the push service is waited on. A subscription the push
    service no longer knows (404/410) is forgotten.
    """
    async with session_factory() as db:
        row = await db.get(AccessRequest, request_id)
        if row is None or not (row.push_endpoint and row.push_p256dh and row.push_auth):
            return None
        request = PushRequest(
            endpoint=row.push_endpoint,
            p256dh=row.push_p256dh,
            auth=row.push_auth,
            payload=payload(row.language),
            ttl=TTL_SECONDS,
            topic=TOPIC,
        )
    result = await sender.send(request)
    log.info("access.notified", request=str(request_id), outcome=result.reason)
    if result.outcome is Outcome.GONE:
        async with session_factory() as db:
            await service.clear_push(db, request_id)
            await db.commit()
    return result
