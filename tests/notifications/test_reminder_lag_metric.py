"""duo_reminder_lag_seconds (issue #15 item 3): a reminder delivered to the real push receiver
shows in the histogram that GET /metrics renders, with the time from its due moment to its
delivery."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.app import create_app
from api.settings import Settings
from notifications.models import PushDelivery, Reminder, ReminderStatus
from tests.api.test_metrics import TOKEN, scrape, value
from tests.notifications.conftest import Receiver
from tests.notifications.support import add_deadline, make_worker, person_without_reminders
from tests.notifications.test_real_receiver import browser_subscription
from tests.support import asgi_client, sign_in

LAG = "duo_reminder_lag_seconds"


async def test_a_delivered_reminder_moves_the_lag_histogram(
    db: AsyncSession,
    push_receiver: Receiver,
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    app = create_app(settings.with_overrides(metrics_token=TOKEN), session_factory=session_factory)
    await app.state["push"].keys()
    planned_at = datetime(2026, 11, 28, 7, 30, tzinfo=UTC)
    person_id = await person_without_reminders(
        db, preferred_language="en", time_zone="Europe/Amsterdam"
    )
    await add_deadline(db, person_id, due_in=timedelta(days=2, hours=1), now=planned_at)
    await db.commit()
    try:
        async with asgi_client(app) as client:
            await sign_in(client, db, person_id)
            await browser_subscription(client, push_receiver)
            await browser_subscription(client, push_receiver)
            before = await scrape(client)

            now = planned_at
            worker, runtime = await make_worker(settings, session_factory, clock=lambda: now)
            try:
                assert (await worker.scan()).deliveries == 2
                reminder = await db.scalar(
                    select(Reminder).where(
                        Reminder.person_id == person_id, Reminder.status == ReminderStatus.POSTED
                    )
                )
                assert reminder is not None
                # Sent 90 s after the scan posted it (a queue that waited, say); the reminder was
                # due at its planned local hour, the day before this scan.
                now = planned_at + timedelta(seconds=90)
                lag = (now - reminder.due_at).total_seconds()
                await worker.deliver(list(await db.scalars(select(PushDelivery.id))))
            finally:
                await runtime.close()
            after = await scrape(client)
    finally:
        await app.state["push"].close()

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved(f"{LAG}_count") == 2  # one per device
    assert lag > 3600  # due at its planned local hour the day before, sent now
    assert moved(f"{LAG}_sum") == pytest.approx(2 * lag)
    assert moved(f"{LAG}_bucket", le="60.0") == 0
    assert moved(f"{LAG}_bucket", le="+Inf") == 2
