"""Two workers on PostgreSQL, real transactions and the pgqueuer queue: 1,000 due reminders make
exactly 1,000 deliveries, even with both scanning at once and every job queued twice."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, timedelta

import pytest
from pgqueuer import AsyncpgDriver
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from api.database import utcnow
from api.settings import Settings
from notifications.jobs import DELIVER, delivery_jobs, postgres_queries, postgres_queuer
from notifications.models import (
    DeliveryStatus,
    InboxMessage,
    MessageKind,
    PushDelivery,
    PushSubscription,
    Reminder,
    ReminderPreferences,
)
from notifications.runtime import PushRuntime
from notifications.worker import PushWorker
from records.models import Deadline, DeadlineKind, Person
from tests.notifications.support import Committed, Sink, fake_keys

PEOPLE = 1_000


@pytest.fixture
def on_postgres(committed: Committed, is_postgres: bool) -> Committed:
    if not is_postgres:
        pytest.skip("needs PostgreSQL: concurrent workers and the pgqueuer queue")
    return committed


async def clear_jobs(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        raw = (await connection.get_raw_connection()).driver_connection
        await postgres_queries(AsyncpgDriver(raw)).clear_queue(DELIVER)
        await connection.commit()


async def seed(committed: Committed, sink: Sink) -> None:
    """PEOPLE persons, each with one deadline due in two days and one device; no quiet hours."""
    now = utcnow()
    keys = fake_keys()  # the sink does not decrypt
    persons, deadlines, devices, prefs = [], [], [], []
    run = uuid.uuid4().hex[:6]
    for i in range(PEOPLE):
        person_id = uuid.uuid4()
        committed.person_ids.append(person_id)
        persons.append(
            {
                "id": person_id,
                "customer_number": f"W{run}{i:05d}",
                "given_names": "Worker",
                "family_name": f"Test {i}",
                "date_of_birth": date(1990, 1, 1),
                "country_of_residence": "ID",
                "preferred_language": "en",
                "time_zone": "Asia/Jakarta",
                "created_at": now,
            }
        )
        deadlines.append(
            {
                "id": uuid.uuid4(),
                "person_id": person_id,
                "kind": DeadlineKind.PAYMENT,
                "due_at": now + timedelta(days=2, hours=2),
                "description": "Annual repayment.",
                "completed_at": None,
            }
        )
        devices.append(
            {
                "id": uuid.uuid4(),
                "person_id": person_id,
                "endpoint": sink.endpoint(f"{run}-{i}"),
                "p256dh": keys["p256dh"],
                "auth": keys["auth"],
                "created_at": now,
                "last_seen_at": now,
            }
        )
        prefs.append(
            {
                "person_id": person_id,
                "kinds": ["payment"],
                "offsets_days": [3],
                "quiet_start": None,
                "quiet_end": None,
                "updated_at": now,
            }
        )
    async with committed.factory() as db:
        for model, rows in (
            (Person, persons),
            (Deadline, deadlines),
            (PushSubscription, devices),
            (ReminderPreferences, prefs),
        ):
            await db.execute(insert(model), rows)
        await db.commit()


async def test_two_workers_deliver_1000_reminders_exactly_once(
    on_postgres: Committed, engine: AsyncEngine, sink: Sink, settings: Settings
) -> None:
    committed = on_postgres
    await clear_jobs(engine)
    await seed(committed, sink)
    workers: list[PushWorker] = []
    runtimes: list[PushRuntime] = []
    # Short leases: a job for deliveries the other worker holds looks again once they end.
    settings = settings.with_overrides(push_lease_seconds=2)
    try:
        for _ in range(2):
            runtime = PushRuntime(settings, committed.factory)
            connect, queue = postgres_queuer(settings)
            runtimes.append(runtime)
            workers.append(
                PushWorker(
                    settings=settings,
                    session_factory=committed.factory,
                    sender=await runtime.sender(),
                    queue=queue,
                    connect=connect,
                    job_size=20,
                )
            )
        due = (
            select(func.count())
            .select_from(Deadline)
            .where(
                Deadline.next_reminder_check_at <= utcnow(),
                Deadline.completed_at.is_(None),
                Deadline.due_at > utcnow(),
            )
        )
        async with committed.factory() as db:
            waiting = await db.scalar(due)
        # Both scan at once: each reminder is inserted by one of them only, and each deadline
        # is planned by one of them only (SKIP LOCKED pages, issue #14): the second worker
        # shares the work instead of repeating it.
        scans = await asyncio.gather(*(w.scan() for w in workers))
        assert sum(s.examined for s in scans) == waiting
        assert sum(s.posted for s in scans) == PEOPLE
        assert sum(s.deliveries for s in scans) == PEOPLE
        # Every delivery queued a second time: both workers race for the same rows.
        async with committed.factory() as db:
            ids = list(
                await db.scalars(
                    select(PushDelivery.id).where(PushDelivery.person_id.in_(committed.person_ids))
                )
            )
            await workers[0].queue.enqueue(delivery_jobs(ids, size=20), db=db)
            await db.commit()
        await asyncio.wait_for(
            asyncio.gather(*(w.run(drain=True, with_tick=False) for w in workers)),
            timeout=120,
        )
    finally:
        for runtime in runtimes:
            await runtime.close()
        await clear_jobs(engine)

    assert sum(sink.received.values()) == PEOPLE
    assert len(sink.accepted) == PEOPLE
    assert set(sink.accepted.values()) == {1}
    sent = [w.sender.metrics.snapshot().get("delivered", 0) for w in workers]
    assert sum(sent) == PEOPLE
    assert all(n > 0 for n in sent), f"both workers should have sent some: {sent}"
    mine = committed.person_ids
    async with committed.factory() as db:
        statuses = (
            await db.execute(
                select(PushDelivery.status, func.count())
                .where(PushDelivery.person_id.in_(mine))
                .group_by(PushDelivery.status)
            )
        ).all()
        reminders = await db.scalar(
            select(func.count()).select_from(Reminder).where(Reminder.person_id.in_(mine))
        )
        messages = await db.scalar(
            select(func.count()).where(
                InboxMessage.person_id.in_(mine), InboxMessage.kind == MessageKind.REMINDER
            )
        )
    assert dict(statuses) == {DeliveryStatus.DELIVERED: PEOPLE}
    assert reminders == PEOPLE
    assert messages == PEOPLE
