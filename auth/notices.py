"""Security notices posted to the person's inbox (the source of truth; push comes later)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from notifications.models import MessageKind
from notifications.service import post_message


async def announce(db: AsyncSession, person_id: uuid.UUID, event: str, **values: str) -> None:
    """Post a security notice (notifications/messages.py has its texts, by event)."""
    await post_message(db, person_id, kind=MessageKind.SECURITY, key=event, params=values)
