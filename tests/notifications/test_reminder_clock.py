"""The minute tick at fixed instants of the day, with the clock injected: what it posts, when,
and what the reminder says ("due in N days" counts calendar days on the person's own clock), in
zones ahead of and behind UTC and across both DST changes. Nothing here reads the wall clock."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.settings import Settings
from notifications.models import InboxMessage, Reminder, ReminderPreferences, ReminderStatus
from tests.notifications.support import add_deadline, make_worker, person_without_reminders


def utc(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


async def posted_reminders(
    db: AsyncSession, deadline_id: uuid.UUID
) -> list[tuple[int, datetime, str]]:
    """(offset, when it was due, the inbox message's subject) of each posted reminder."""
    rows = await db.execute(
        select(Reminder.offset_days, Reminder.due_at, InboxMessage.subject)
        .join(InboxMessage, InboxMessage.id == Reminder.inbox_message_id)
        .where(Reminder.deadline_id == deadline_id, Reminder.status == ReminderStatus.POSTED)
    )
    return [tuple(row) for row in rows.all()]  # type: ignore[misc]


@pytest.mark.parametrize(
    ("now", "zone", "due_in", "posted", "title"),
    [
        # 07:30 UTC: 08:30 in Amsterdam on the 28th, due 09:30 on the 30th.
        (utc(2026, 11, 28, 7, 30), "Europe/Amsterdam", timedelta(days=2, hours=1), 3,
         "Income statement due in 2 days"),
        # The same instant is still the 27th in Los Angeles (23:30); due 00:30 on the 30th.
        (utc(2026, 11, 28, 7, 30), "America/Los_Angeles", timedelta(days=2, hours=1), 3,
         "Income statement due in 3 days"),
        # 23:30 UTC is already the next morning in Tokyo: due 20:30 the same (local) day.
        (utc(2026, 11, 28, 23, 30), "Asia/Tokyo", timedelta(hours=12), 1,
         "Income statement due today"),
        # ...and still the evening before in São Paulo: due 08:30 local tomorrow.
        (utc(2026, 11, 28, 23, 30), "America/Sao_Paulo", timedelta(hours=9), 1,
         "Income statement due tomorrow"),
        # Amsterdam's clocks go back at 01:00 UTC on 25 October 2026: three calendar days
        # before 01:30 CET on the 28th is 01:30 CEST on the 25th, 73 hours, due exactly now.
        (utc(2026, 10, 24, 23, 30), "Europe/Amsterdam", timedelta(hours=73), 3,
         "Income statement due in 3 days"),
        (utc(2026, 10, 24, 23, 29), "Europe/Amsterdam", timedelta(hours=73, minutes=1), None,
         None),
        # ...and go forward at 01:00 UTC on 28 March 2027: 08:30 CET on the 27th is three
        # calendar days before 08:30 CEST on the 30th, only 71 hours.
        (utc(2027, 3, 27, 7, 30), "Europe/Amsterdam", timedelta(hours=71), 3,
         "Income statement due in 3 days"),
        (utc(2027, 3, 27, 7, 29), "Europe/Amsterdam", timedelta(hours=71, minutes=1), None,
         None),
    ],
)  # fmt: skip
async def test_a_tick_at_a_fixed_instant_posts_what_the_persons_clock_says(
    db: AsyncSession,
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    now: datetime,
    zone: str,
    due_in: timedelta,
    posted: int | None,
    title: str | None,
) -> None:
    person_id = await person_without_reminders(db, time_zone=zone, preferred_language="en")
    await db.execute(  # three days and one day before: "not yet" means nothing is due
        update(ReminderPreferences)
        .where(ReminderPreferences.person_id == person_id)
        .values(offsets_days=[3, 1])
    )
    deadline_id = await add_deadline(db, person_id, due_in=due_in, now=now)
    await db.commit()
    worker, runtime = await make_worker(settings, session_factory, clock=lambda: now)
    try:
        await worker.scan()
    finally:
        await runtime.close()
    posts = await posted_reminders(db, deadline_id)
    if posted is None:
        assert posts == []
        return
    [(offset, due_at, subject)] = posts
    assert (offset, subject) == (posted, title)
    assert due_at <= now


async def test_default_quiet_hours_hold_a_reminder_due_at_night_until_the_morning(
    db: AsyncSession, settings: Settings, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    """Due at 02:00 in Amsterdam on 1 December: one day before is inside the default quiet
    hours (22:00 to 08:00), so at 23:30 UTC (00:30 local) nothing goes out; the reminder is due
    at 08:00 local (07:00 UTC) and the 07:30 UTC tick posts it."""
    person_id = await person_without_reminders(
        db, time_zone="Europe/Amsterdam", preferred_language="en"
    )
    await db.execute(delete(ReminderPreferences).where(ReminderPreferences.person_id == person_id))
    night = utc(2026, 11, 29, 23, 30)
    due_in = timedelta(days=1, hours=1, minutes=30)  # 01:00 UTC on 1 December
    deadline_id = await add_deadline(db, person_id, due_in=due_in, now=night)
    await db.commit()
    clock = {"now": night}
    worker, runtime = await make_worker(settings, session_factory, clock=lambda: clock["now"])
    try:
        await worker.scan()
        assert await posted_reminders(db, deadline_id) == []
        clock["now"] = utc(2026, 11, 30, 7, 30)
        await worker.scan()
    finally:
        await runtime.close()
    [(offset, due_at, subject)] = await posted_reminders(db, deadline_id)
    assert (offset, subject) == (1, "Income statement due tomorrow")
    assert due_at == utc(2026, 11, 30, 7, 0)  # 08:00 in Amsterdam: the end of the night
