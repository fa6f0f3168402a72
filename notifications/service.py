"""The inbox (post, list and mark messages), reminders and the test push.

Every read is scoped by person_id.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from api.database import utcnow
from api.errors import NotFound
from api.pagination import Page, check_page_size, paginate
from notifications import subscriptions
from notifications.messages import PUSH_BODY, render
from notifications.models import (
    DeliveryStatus,
    InboxMessage,
    MessageKind,
    PushDelivery,
    PushSubscription,
    Reminder,
    ReminderStatus,
)
from notifications.sender import Outcome, PushSender, SendResult
from notifications.texts import health_payload, health_text, message_payload
from notifications.webpush import PushRequest
from records.models import Person
from records.texts import language_or_default

log = structlog.get_logger("notifications")


async def post_message(
    db: AsyncSession,
    person_id: uuid.UUID,
    *,
    kind: MessageKind,
    key: str | None = None,
    params: Mapping[str, Any] | None = None,
    subject: str = "",
    body: str = "",
) -> InboxMessage:
    """Post to the inbox: a catalogued message by key (rendered when read) or a free text."""
    if key is not None:
        person = await db.get(Person, person_id)
        text = render(key, params, person.preferred_language if person else "en")
        if text is None:
            raise ValueError(f"unknown message {key!r}")
        subject, body = text.title, text.body
    message = InboxMessage(
        person_id=person_id,
        kind=kind,
        text_key=key,
        params=dict(params) if params is not None else None,
        subject=subject,
        body=body,
    )
    db.add(message)
    await db.flush()
    return message


async def list_messages(
    db: AsyncSession, person_id: uuid.UUID, *, first: int, after: str | None
) -> Page[InboxMessage]:
    return await paginate(
        db,
        select(InboxMessage).where(InboxMessage.person_id == person_id),
        order_column=InboxMessage.created_at,
        id_column=InboxMessage.id,
        first=first,
        after=after,
        descending=True,
    )


async def count_unread(db: AsyncSession, person_id: uuid.UUID) -> int:
    stmt = select(func.count()).where(
        InboxMessage.person_id == person_id, InboxMessage.read_at.is_(None)
    )
    return int(await db.scalar(stmt) or 0)


async def mark_read(db: AsyncSession, person_id: uuid.UUID, message_id: uuid.UUID) -> InboxMessage:
    message = await db.scalar(
        select(InboxMessage).where(
            InboxMessage.id == message_id, InboxMessage.person_id == person_id
        )
    )
    if message is None:
        raise NotFound("No such message.", field="id")
    if message.read_at is None:
        message.read_at = utcnow()
        await db.flush()
    return message


# --- Push: reminders as the person sees them, and the test push ("push health") ----------------


async def list_reminders(
    db: AsyncSession, person_id: uuid.UUID, *, first: int
) -> Sequence[Reminder]:
    """Posted reminders, newest first, with each device's delivery (two statements in all)."""
    check_page_size(first)
    stmt = (
        select(Reminder)
        .where(Reminder.person_id == person_id, Reminder.status == ReminderStatus.POSTED)
        .options(selectinload(Reminder.deliveries))
        .order_by(Reminder.created_at.desc(), Reminder.id.desc())
        .limit(first)
    )
    return (await db.scalars(stmt)).all()


_STATUS = {
    Outcome.DELIVERED: DeliveryStatus.DELIVERED,
    Outcome.GONE: DeliveryStatus.GONE,
    Outcome.REJECTED: DeliveryStatus.REJECTED,
    Outcome.RETRY: DeliveryStatus.FAILED,  # one attempt: the inbox has it anyway
}


@dataclass(frozen=True, slots=True)
class PushCheck:
    result: SendResult
    tag: str  # the notification tag in the payload: the service worker can report its arrival
    sent_at: datetime
    device_name: str | None


async def send_test_push(
    db: AsyncSession,
    person_id: uuid.UUID,
    *,
    sender: PushSender,
    subscription_id: uuid.UUID | None = None,
    endpoint: str | None = None,
) -> PushCheck:
    """Push a test notification to one of the person's own devices, now, and record how it went.

    One attempt, no retries: the person is waiting for the answer and can press again.
    """
    device = await subscriptions.get_subscription(
        db, person_id, subscription_id=subscription_id, endpoint=endpoint
    )
    person = await db.get(Person, person_id)
    language = person.preferred_language if person and person.preferred_language == "nl" else "en"
    tag = f"test-{uuid.uuid4()}"
    result = await sender.send(
        PushRequest(
            endpoint=device.endpoint,
            p256dh=device.p256dh,
            auth=device.auth,
            payload=health_payload(text=health_text(language), language=language, tag=tag),
            ttl=300,  # a test that arrives an hour later answers nothing
            urgency="high",
        )
    )
    now = utcnow()
    db.add(_single_attempt(person_id, device, result, at=now))
    await db.flush()
    if result.outcome is Outcome.GONE:
        await subscriptions.remove_gone(db, [device.id])
    return PushCheck(result=result, tag=tag, sent_at=now, device_name=device.device_name)


def _single_attempt(
    person_id: uuid.UUID, device: PushSubscription, result: SendResult, *, at: datetime
) -> PushDelivery:
    """The record of a push sent once, outside the reminder queue (a test push, a notice)."""
    status = _STATUS[result.outcome]
    return PushDelivery(
        person_id=person_id,
        reminder_id=None,
        subscription_id=device.id,
        device_name=device.device_name,
        status=status,
        attempts=1,
        next_attempt_at=at,
        last_status_code=result.status_code,
        last_error=None if status == DeliveryStatus.DELIVERED else result.reason,
        created_at=at,
        updated_at=at,
        delivered_at=at if status == DeliveryStatus.DELIVERED else None,
    )


# --- Push: an inbox message to every device of its person (#13: form decisions) ---------------

MESSAGE_TTL_SECONDS = 7 * 24 * 3600  # a week-old notice is still news; the inbox has it anyway


async def push_message(
    session_factory: async_sessionmaker[AsyncSession],
    sender: Callable[[], Awaitable[PushSender]],
    message_id: uuid.UUID,
    *,
    now: datetime | None = None,
) -> list[SendResult]:
    """After the commit that posted it: push an inbox message to each of its person's devices.

    In the person's language (#16 item 1); a lock screen shows the subject and a pointer to the
    app, never the body (a rejection's reason). One attempt per device, recorded like a test
    push; no transaction stays open while push services are waited on; 404/410 forget the device.
    The inbox is the source of truth: a push that does not arrive loses nothing.
    """
    now = now or utcnow()
    async with session_factory() as db:
        message = await db.get(InboxMessage, message_id)
        if message is None:
            return []
        person = await db.get(Person, message.person_id)
        language = language_or_default(person.preferred_language if person else None)
        text = render(message.text_key, message.params, language)
        title = text.title if text else message.subject
        devices = (
            await db.scalars(
                select(PushSubscription).where(
                    PushSubscription.person_id == message.person_id,
                    or_(PushSubscription.expires_at.is_(None), PushSubscription.expires_at > now),
                )
            )
        ).all()
        if not devices:
            return []
        payload = message_payload(
            title=title, body=PUSH_BODY[language], language=language, message_id=message.id
        )
        person_id = message.person_id
    push = await sender()
    results = await asyncio.gather(
        *(
            push.send(
                PushRequest(
                    endpoint=device.endpoint,
                    p256dh=device.p256dh,
                    auth=device.auth,
                    payload=payload,
                    ttl=MESSAGE_TTL_SECONDS,
                )
            )
            for device in devices
        )
    )
    done = utcnow()
    async with session_factory() as db:
        db.add_all(
            _single_attempt(person_id, device, result, at=done)
            for device, result in zip(devices, results, strict=True)
        )
        await db.flush()
        await subscriptions.remove_gone(
            db,
            [d.id for d, r in zip(devices, results, strict=True) if r.outcome is Outcome.GONE],
        )
        await db.commit()
    log.info(
        "push.message_sent",
        message=str(message_id),
        devices=len(devices),
        delivered=sum(r.outcome is Outcome.DELIVERED for r in results),
    )
    return list(results)
