"""The minute tick plans each deadline again only when needed: when its next reminder is due, or
when what the plan was made from changed (due date, time zone, preferences)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.database import utcnow
from api.settings import Settings
from notifications import preferences
from notifications.models import InboxMessage, MessageKind, Reminder, ReminderCheck
from notifications.reminders import QuietHours, next_check, reminder_moment
from records.models import Deadline, Person
from tests.notifications.support import add_deadline, make_worker, person_without_reminders

AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def test_next_check_is_the_next_reminder_or_the_deadline() -> None:
    deadline = datetime(2027, 5, 20, 12, 0, tzinfo=UTC)
    now = datetime(2027, 5, 17, 13, 0, tzinfo=UTC)  # the 3-day reminder was just posted
    kwargs = {"offsets_days": (14, 3, 1), "zone": AMSTERDAM, "quiet": None, "now": now}
    assert next_check(deadline, recorded={14, 3}, **kwargs) == reminder_moment(  # type: ignore[arg-type]
        deadline, 1, AMSTERDAM, None
    )
    assert next_check(deadline, recorded={14, 3, 1}, **kwargs) == deadline  # type: ignore[arg-type]
    # Due but waiting for the end of quiet hours: look again at the next tick.
    night = QuietHours(time(0, 0), time(23, 59))
    waiting = {**kwargs, "quiet": night, "now": datetime(2027, 5, 19, 23, 0, tzinfo=UTC)}
    assert next_check(deadline, recorded={14, 3}, **waiting) == waiting["now"]  # type: ignore[arg-type]


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
        check = await db.get(ReminderCheck, deadline_id, populate_existing=True)
        assert check is not None
        deadline = await db.get(Deadline, deadline_id)
        assert deadline is not None
        assert check.next_check_at == reminder_moment(deadline.due_at, 14, AMSTERDAM, None)

        assert (await worker.scan()).examined == 0  # nothing changed: not planned again

        await preferences.update_preferences(db, person_id, offsets_days=[7, 3])
        await db.commit()
        moved = await worker.scan()
        assert (moved.examined, moved.posted) == (1, 0)  # preferences changed: planned again
        assert (await worker.scan()).examined == 0

        await db.execute(
            update(Person).where(Person.id == person_id).values(time_zone="Asia/Kolkata")
        )
        await db.commit()
        assert (await worker.scan()).examined == 1  # the profile's zone changed

        await db.execute(
            update(Deadline)
            .where(Deadline.id == deadline_id)
            .values(due_at=deadline.due_at - timedelta(days=14))
        )
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
