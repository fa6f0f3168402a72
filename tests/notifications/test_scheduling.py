"""The minute tick plans each deadline again only when needed: when its next reminder is due, at
the end of the quiet hours a due one waits for, or when what the plan was made from changed (due
date, time zone, preferences)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.database import utcnow
from api.settings import Settings
from notifications import preferences, scheduler
from notifications.checks import plan_again
from notifications.models import InboxMessage, MessageKind, PushDelivery, Reminder, ReminderStatus
from notifications.reminders import QuietHours, next_check, reminder_moment
from records import service as records
from records.models import Deadline
from tests.notifications.support import (
    add_deadline,
    add_device,
    make_worker,
    person_without_reminders,
)

AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def test_next_check_is_the_next_reminder_or_the_deadline() -> None:
    deadline = datetime(2027, 5, 20, 12, 0, tzinfo=UTC)
    now = datetime(2027, 5, 17, 13, 0, tzinfo=UTC)  # the 3-day reminder was just posted
    kwargs = {"offsets_days": (14, 3, 1), "zone": AMSTERDAM, "quiet": None, "now": now}
    assert next_check(deadline, recorded={14, 3}, **kwargs) == reminder_moment(  # type: ignore[arg-type]
        deadline, 1, AMSTERDAM, None
    )
    assert next_check(deadline, recorded={14, 3, 1}, **kwargs) == deadline  # type: ignore[arg-type]
    # The 3-day reminder is due but waits for the end of the quiet hours (a stopped worker
    # catching up at midnight): look again at 08:00 local, not at every tick until then.
    night = QuietHours(time(22, 0), time(8, 0))
    waiting = {**kwargs, "quiet": night, "now": datetime(2027, 5, 18, 22, 0, tzinfo=UTC)}
    morning = datetime(2027, 5, 19, 6, 0, tzinfo=UTC)  # 08:00 in Amsterdam (summer time)
    assert next_check(deadline, recorded={14}, **waiting) == morning  # type: ignore[arg-type]


async def test_a_tick_looks_again_only_when_something_changed(
    db: AsyncSession, settings: Settings, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    person_id = await person_without_reminders(db, time_zone="Europe/Amsterdam")
    deadline_id = await add_deadline(db, person_id, due_in=timedelta(days=20))
    await db.commit()
    clock = {"now": utcnow()}
    worker, runtime = await make_worker(settings, session_factory, clock=lambda: clock["now"])
    try:
        first = await worker.scan()
        assert (first.examined, first.posted) == (1, 0)  # 14 days before is still 6 days off
        deadline = await db.get(Deadline, deadline_id, populate_existing=True)
        assert deadline is not None
        first_moment = reminder_moment(deadline.due_at, 14, AMSTERDAM, None)
        assert deadline.next_reminder_check_at == first_moment

        assert (await worker.scan()).examined == 0  # nothing changed: not planned again

        await preferences.update_preferences(db, person_id, offsets_days=[7, 3])
        await db.commit()
        moved = await worker.scan()
        assert (moved.examined, moved.posted) == (1, 0)  # preferences changed: planned again
        assert (await worker.scan()).examined == 0

        await records.update_preferences(
            db, person_id, preferred_language=None, time_zone="Asia/Kolkata"
        )
        await db.commit()
        assert (await worker.scan()).examined == 1  # the profile's zone changed
        assert (await worker.scan()).examined == 0

        # Moved, as an import moves it (records/imports/writes.py).
        await db.execute(
            update(Deadline)
            .where(Deadline.id == deadline_id)
            .values(due_at=deadline.due_at - timedelta(days=14))
        )
        await plan_again(db, [deadline_id])
        await db.commit()
        sooner = await worker.scan()  # six days left: the 7-day reminder is due now
        assert (sooner.examined, sooner.posted) == (1, 1)

        clock["now"] = utcnow() + timedelta(days=3, hours=1)  # the 3-day moment has passed
        later = await worker.scan()
        assert (later.examined, later.posted) == (1, 1)
        assert (await worker.scan()).examined == 0
    finally:
        await runtime.close()
    offsets = set(await db.scalars(select(Reminder.offset_days)))
    assert offsets == {7, 3}
    messages = select(func.count()).where(
        InboxMessage.person_id == person_id, InboxMessage.kind == MessageKind.REMINDER
    )
    assert await db.scalar(messages) == 2
    assert uuid.UUID(str(deadline_id))


async def test_a_reminder_held_by_quiet_hours_is_looked_at_again_when_they_end(
    db: AsyncSession, settings: Settings, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    """Catching up at 23:30 in Amsterdam (the worker was down when the 3-day reminder fell due):
    nothing goes out in the quiet hours (22:00 to 08:00), the ticks of the night do not plan the
    deadline again, and the 08:00 tick posts it."""
    person_id = await person_without_reminders(db, time_zone="Europe/Amsterdam")
    await preferences.update_preferences(
        db, person_id, offsets_days=[3, 2], quiet_hours=QuietHours(time(22, 0), time(8, 0))
    )
    night = datetime(2026, 11, 29, 22, 30, tzinfo=UTC)  # 23:30 local
    deadline_id = await add_deadline(db, person_id, due_in=timedelta(days=2, hours=12), now=night)
    await db.commit()
    clock = {"now": night}
    worker, runtime = await make_worker(settings, session_factory, clock=lambda: clock["now"])
    try:
        held = await worker.scan()
        assert (held.examined, held.posted) == (1, 0)
        deadline = await db.get(Deadline, deadline_id, populate_existing=True)
        assert deadline is not None
        morning = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)  # 08:00 local
        assert deadline.next_reminder_check_at == morning
        for minutes in (1, 60, 500):
            clock["now"] = night + timedelta(minutes=minutes)
            assert (await worker.scan()).examined == 0  # not every minute of the night
        clock["now"] = morning
        posted = await worker.scan()
        assert (posted.examined, posted.posted) == (1, 1)
    finally:
        await runtime.close()
    offsets = set(
        await db.scalars(select(Reminder.offset_days).where(Reminder.deadline_id == deadline_id))
    )
    assert offsets == {3}


async def test_a_reminder_another_scanner_posted_first_is_skipped_with_its_message_and_pushes(
    db: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between a page's reading and its writing another scanner posts the same reminder
    (deadline, date, offset): this page posts nothing of it, and leaves no inbox message and no
    delivery behind (the single-statement PostgreSQL write and the portable one alike)."""
    person_id = await person_without_reminders(db, time_zone="Europe/Amsterdam")
    await add_device(db, person_id, "https://push.example.net/first-scanner-race")
    now = utcnow()
    deadline_id = await add_deadline(db, person_id, due_in=timedelta(days=2), now=now)
    await db.flush()
    decide = scheduler._plan

    async def raced(session: AsyncSession, rows: Any, *, now: datetime) -> Any:
        plans = await decide(session, rows, now=now)
        [post] = [p for p in plans.posts if p["deadline_id"] == deadline_id]
        await session.execute(
            insert(Reminder).values(
                person_id=person_id,
                deadline_id=deadline_id,
                deadline_at=post["deadline_at"],
                offset_days=post["offset_days"],
                status=ReminderStatus.POSTED,
                due_at=post["due_at"],
                language="en",
                inbox_message_id=None,
            )
        )
        return plans

    monkeypatch.setattr(scheduler, "_plan", raced)
    messages_before = await db.scalar(
        select(func.count()).select_from(InboxMessage).where(InboxMessage.person_id == person_id)
    )
    page = await scheduler.scan_page(db, now=now)
    assert page.posted == 0
    assert page.delivery_ids == []
    assert page.superseded == 1  # the 14-day one, due as well, is still recorded as stale
    messages_after = await db.scalar(
        select(func.count()).select_from(InboxMessage).where(InboxMessage.person_id == person_id)
    )
    assert messages_after == messages_before
    deliveries = await db.scalar(
        select(func.count()).select_from(PushDelivery).where(PushDelivery.person_id == person_id)
    )
    assert deliveries == 0
    offsets = dict(
        (
            await db.execute(
                select(Reminder.offset_days, Reminder.status).where(
                    Reminder.deadline_id == deadline_id
                )
            )
        ).all()
    )
    assert offsets == {3: ReminderStatus.POSTED, 14: ReminderStatus.SUPERSEDED}
