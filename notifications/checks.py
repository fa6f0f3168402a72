"""Telling the reminder scheduler to plan deadlines afresh at its next tick (issue #14).

The tick reads only deadlines whose `next_reminder_check_at` has come; whoever changes what a
plan is made from (a deadline's date or completion, a person's time zone, their reminder
preferences) sets it back to long ago here, in the same transaction as the change.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import UTC, datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from records.models import Deadline

# "At the next tick": the same moment as the column's default for a new deadline.
LONG_AGO = datetime(1970, 1, 1, tzinfo=UTC)


async def plan_again(db: AsyncSession, deadline_ids: Collection[uuid.UUID]) -> None:
    """These deadlines changed (an import): the next tick plans their reminders afresh."""
    if deadline_ids:
        await db.execute(
            update(Deadline)
            .where(Deadline.id.in_(deadline_ids))
            .values(next_reminder_check_at=LONG_AGO)
            .execution_options(synchronize_session=False)
        )


async def plan_again_for_persons(db: AsyncSession, person_ids: Collection[uuid.UUID]) -> None:
    """What these persons' plans are made from changed (time zone, reminder preferences): the
    next tick plans their open deadlines afresh."""
    if person_ids:
        await db.execute(
            update(Deadline)
            .where(Deadline.person_id.in_(person_ids), Deadline.completed_at.is_(None))
            .values(next_reminder_check_at=LONG_AGO)
            .execution_options(synchronize_session=False)
        )
