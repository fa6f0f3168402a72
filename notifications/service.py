"""The inbox: post, list and mark messages. Every read is scoped by person_id."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.database import utcnow
from api.errors import NotFound
from api.pagination import Page, paginate
from notifications.models import InboxMessage, MessageKind


async def post_message(
    db: AsyncSession, person_id: uuid.UUID, *, kind: MessageKind, subject: str, body: str
) -> InboxMessage:
    message = InboxMessage(person_id=person_id, kind=kind, subject=subject, body=body)
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
