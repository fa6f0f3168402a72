"""The inbox (post, list and mark messages), reminders and the test push.

Every read is scoped by person_id.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from api.database import utcnow
from api.errors import NotFound
from api.pagination import Page, check_page_size, paginate
from notifications import subscriptions
from notifications.messages import render
from notifications.models import (
    DeliveryStatus,
    InboxMessage,
    MessageKind,
    PushDelivery,
    Reminder,
    ReminderStatus,
)
from notifications.sender import Outcome, PushSender, SendResult
from notifications.texts import health_payload, health_text
from notifications.webpush import PushRequest
from records.models import Person


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
    status = {
        Outcome.DELIVERED: DeliveryStatus.DELIVERED,
        Outcome.GONE: DeliveryStatus.GONE,
        Outcome.REJECTED: DeliveryStatus.REJECTED,
        Outcome.RETRY: DeliveryStatus.FAILED,
    }[result.outcome]
    db.add(
        PushDelivery(
            person_id=person_id,
            reminder_id=None,
            subscription_id=device.id,
            device_name=device.device_name,
            status=status,
            attempts=1,
            next_attempt_at=now,
            last_status_code=result.status_code,
            last_error=None if status == DeliveryStatus.DELIVERED else result.reason,
            created_at=now,
            updated_at=now,
            delivered_at=now if status == DeliveryStatus.DELIVERED else None,
        )
    )
    await db.flush()
    if result.outcome is Outcome.GONE:
        await subscriptions.remove_gone(db, [device.id])
    return PushCheck(result=result, tag=tag, sent_at=now, device_name=device.device_name)
