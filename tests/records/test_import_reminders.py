"""Imported deadlines drive reminders: an unchanged re-import leaves their plans alone, a changed
deadline is planned again, and a deadline moved later is reminded of again for its new date."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.database import utcnow
from notifications import scheduler
from notifications.models import Reminder
from notifications.reminders import reminder_moment
from records.models import Deadline, Person
from tests.notifications.support import set_preferences
from tests.records.import_support import deadline, new_customer, person, run

TOKYO = "Asia/Tokyo"


def _at(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def _scan(
    session_factory: async_sessionmaker[AsyncSession], now: datetime
) -> scheduler.ScanPage:
    async with session_factory() as db:
        page = await scheduler.scan_page(db, now=now)
        await db.commit()
    return page


async def _imported_person(
    db: AsyncSession, session_factory: async_sessionmaker[AsyncSession], customer: str
) -> uuid.UUID:
    await run(session_factory, person(customer, countryOfResidence="JP"))
    person_id = await db.scalar(select(Person.id).where(Person.customer_number == customer))
    assert person_id is not None
    await set_preferences(db, person_id)  # 14, 3 and 1 days before; no quiet hours
    await db.commit()
    return person_id


async def test_only_a_changed_deadline_is_planned_again(
    db: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    now = utcnow()
    customer = new_customer()
    await _imported_person(db, session_factory, customer)
    line = deadline(customer, dueAt=_at(now + timedelta(days=20)))
    await run(session_factory, line, now=now)
    assert (await _scan(session_factory, now)).examined == 1  # new: planned once
    assert (await _scan(session_factory, now)).examined == 0

    same = await run(session_factory, line, now=now)
    assert (same.summary.total.changed, same.summary.replanned) == (0, 0)
    assert (await _scan(session_factory, now)).examined == 0  # nothing to plan again

    text = await run(session_factory, {**line, "description": "Pay before 31 December."})
    assert text.summary.replanned == 1
    assert (await _scan(session_factory, now)).examined == 1

    sooner = await run(session_factory, {**line, "dueAt": _at(now + timedelta(days=6))})
    assert sooner.summary.replanned == 1
    page = await _scan(session_factory, now)
    assert (page.examined, page.posted) == (1, 1)  # six days left: a reminder now


async def test_a_deadline_moved_later_is_reminded_of_again(
    db: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    now = utcnow()
    customer = new_customer()
    await _imported_person(db, session_factory, customer)
    line = deadline(customer, dueAt=_at(now + timedelta(days=2)))
    await run(session_factory, line, now=now)
    page = await _scan(session_factory, now)
    assert page.posted == 1  # the 3-day reminder (the 14-day one superseded)

    extended = now + timedelta(days=30)
    await run(session_factory, {**line, "dueAt": _at(extended)}, now=now)
    assert (await _scan(session_factory, now)).examined == 1
    check = await db.scalar(
        select(Deadline.next_reminder_check_at).execution_options(populate_existing=True)
    )
    first = reminder_moment(extended, 14, ZoneInfo(TOKYO), None)
    assert first is not None
    assert check == first  # the new date's 14-day reminder is what comes next

    later = await _scan(session_factory, first + timedelta(minutes=1))
    assert later.posted == 1
    reminders = await db.execute(
        select(Reminder.deadline_at, Reminder.offset_days, Reminder.status)
    )
    assert sorted((at, offset, status.value) for at, offset, status in reminders) == [
        (now + timedelta(days=2), 3, "posted"),
        (now + timedelta(days=2), 14, "superseded"),
        (extended, 14, "posted"),  # the new date's own reminder
    ]
