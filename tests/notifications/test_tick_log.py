"""The minute tick's log line (issue #15 item 7): a newcomer's `make run` does not print a
line every minute while nothing happens. The first tick that gets through says the worker is
at work; after that a line only for a minute that posted reminders or sent messages."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.settings import Settings
from tests.notifications.support import add_deadline, make_worker, person_without_reminders


def tick_levels(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.levelname
        for r in caplog.records
        if isinstance(r.msg, dict) and r.msg.get("event") == "push.tick"
    ]


async def test_idle_ticks_are_debug_lines_and_busy_ones_info(
    app: Litestar,  # configures logging, as a server does
    db: AsyncSession,
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="notifications.worker")
    now = datetime(2026, 11, 28, 7, 30, tzinfo=UTC)
    worker, runtime = await make_worker(settings, session_factory, clock=lambda: now)
    try:
        assert await worker.tick()  # the first: the worker is at work
        now += timedelta(minutes=1)
        assert await worker.tick()  # nothing to do
        now += timedelta(minutes=1)
        assert await worker.tick()
        person_id = await person_without_reminders(db, time_zone="Europe/Amsterdam")
        await add_deadline(db, person_id, due_in=timedelta(days=2, hours=1), now=now)
        await db.commit()
        now += timedelta(minutes=1)
        assert await worker.tick()  # posts its reminder
        now += timedelta(minutes=1)
        assert await worker.tick()
    finally:
        await runtime.close()
    assert tick_levels(caplog) == ["INFO", "DEBUG", "DEBUG", "INFO", "DEBUG"]
