"""Delivery against a push service that misbehaves for a while (429, 500, timeouts, 410, 413):
every reminder ends delivered exactly once or recorded as failed; none is sent twice."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import timedelta
from typing import Any

from aiohttp import web
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.database import utcnow
from api.settings import Settings
from notifications import deliveries
from notifications.jobs import delivery_jobs
from notifications.models import DeliveryStatus, PushDelivery, PushSubscription
from notifications.texts import topic_for
from records.models import Deadline
from tests.notifications.support import (
    FAST_RETRIES,
    Committed,
    Sink,
    add_deadline,
    add_device,
    make_worker,
    person_without_reminders,
    sleep_then,
)

# What each device's push service does, by the device token's prefix.
SCRIPTS: dict[str, Any] = {
    "ok": [],
    "busy": [429, 429],  # Retry-After: 1, twice, then fine
    "flaky": [500, 503],
    "slow": ["timeout"],
    "down": ["timeout", 500, 500, 500, 500, 500],  # never recovers: failed after 4 attempts
    "gone": [410],
    "huge": [413],
}


async def scripted(path: str, attempt: int) -> web.StreamResponse:
    script = SCRIPTS[path.rsplit("/", 1)[-1].split("-")[0]]
    step = script[attempt - 1] if attempt <= len(script) else 201
    if step == "timeout":
        # Answer after the sender has given up: the service never took the message.
        return await sleep_then(500, FAST_RETRIES["push_timeout_seconds"] + 0.3)
    if step == 429:
        return web.Response(status=429, headers={"Retry-After": "1"})
    return web.Response(status=step)


async def people_with_devices(
    committed: Committed, sink: Sink, tokens: list[str]
) -> dict[str, uuid.UUID]:
    """One person per token, each with one deadline two days out and one device."""
    devices = {}
    async with committed.factory() as db:
        for token in tokens:
            person_id = await person_without_reminders(db)
            committed.person_ids.append(person_id)
            await add_deadline(db, person_id, due_in=timedelta(days=2, hours=2))
            devices[token] = await add_device(db, person_id, sink.endpoint(token))
        await db.commit()
    return devices


async def deliveries_of(committed: Committed) -> list[tuple[str | None, PushDelivery]]:
    async with committed.factory() as db:
        rows = await db.execute(
            select(PushSubscription.endpoint, PushDelivery)
            .outerjoin(PushSubscription, PushSubscription.id == PushDelivery.subscription_id)
            .where(PushDelivery.person_id.in_(committed.person_ids))
        )
        return [(endpoint, delivery) for endpoint, delivery in rows.all()]


async def test_every_reminder_is_delivered_once_or_recorded_failed(
    committed: Committed, sink: Sink, settings: Settings
) -> None:
    sink.behaviour = scripted
    tokens = [f"{kind}-{i}" for kind in SCRIPTS for i in range(3)]
    await people_with_devices(committed, sink, tokens)
    fast = settings.with_overrides(**FAST_RETRIES)
    worker, runtime = await make_worker(fast, committed.factory)
    try:
        scanned = await worker.scan()
        assert scanned.deliveries == len(tokens)
        # The in-memory queue (the embedded default) runs the jobs and the delayed retries.
        await asyncio.wait_for(worker.run(drain=True, with_tick=False), timeout=60)
    finally:
        await runtime.close()

    rows = await deliveries_of(committed)
    by_kind: dict[str, Counter[DeliveryStatus]] = {}
    for endpoint, delivery in rows:
        kind = (endpoint or "gone-").rsplit("/", 1)[-1].split("-")[0]
        by_kind.setdefault(kind, Counter())[delivery.status] += 1
    assert by_kind == {
        "ok": {DeliveryStatus.DELIVERED: 3},
        "busy": {DeliveryStatus.DELIVERED: 3},
        "flaky": {DeliveryStatus.DELIVERED: 3},
        "slow": {DeliveryStatus.DELIVERED: 3},
        "down": {DeliveryStatus.FAILED: 3},
        "gone": {DeliveryStatus.GONE: 3},  # and the subscription was removed
        "huge": {DeliveryStatus.REJECTED: 3},
    }
    attempts = {d.id: d.attempts for _, d in rows}
    assert sorted(attempts.values()).count(4) >= 3  # "down": the whole allowance, no more
    # Nothing accepted twice; everything delivered was accepted exactly once.
    assert set(sink.accepted.values()) == {1}
    assert len(sink.accepted) == 12
    assert all(sink.received[f"/push/busy-{i}"] == 3 for i in range(3))
    assert all(sink.received[f"/push/huge-{i}"] == 1 for i in range(3))  # never retried
    assert runtime.metrics.snapshot() == {
        "delivered": 12,
        "gone": 3,
        "payload_too_large": 3,
        "rate_limited": 6,
        "server_error": 2 * 3 + 3 * 3,  # flaky: 2 each; down: 3 each after a timeout
        "timeout": 3 + 3,
    }


async def test_the_request_says_what_push_services_need(
    db: AsyncSession,
    sink: Sink,
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    person_id = await person_without_reminders(db)
    deadline_id = await add_deadline(db, person_id, due_in=timedelta(hours=20))
    await add_device(db, person_id, sink.endpoint("headers"))
    await db.commit()
    worker, runtime = await make_worker(settings, session_factory)
    try:
        await worker.scan()
        await worker.deliver(list(await db.scalars(select(PushDelivery.id))))
    finally:
        await runtime.close()
    headers = sink.headers["/push/headers"]
    assert headers["content-type"] == "application/octet-stream"
    assert headers["content-encoding"] == "aes128gcm"
    assert headers["topic"] == topic_for(deadline_id)
    assert len(headers["topic"]) <= 32
    assert headers["urgency"] == "high"  # due within a day and a half
    assert 19 * 3600 < int(headers["ttl"]) <= 20 * 3600  # until the deadline, no longer
    assert headers["authorization"].startswith("vapid t=")


async def test_a_worker_that_dies_mid_send_loses_nothing_and_doubles_nothing(
    committed: Committed, sink: Sink, settings: Settings
) -> None:
    """Worker A claims and dies before sending. Worker B, told about the same deliveries at once,
    leaves them alone (A's lease); after the lease, the overdue sweep hands them to B, which
    sends each exactly once."""
    await people_with_devices(committed, sink, [f"ok-{i}" for i in range(5)])
    settings = settings.with_overrides(push_lease_seconds=1)  # B looks again after 2 s
    worker, runtime = await make_worker(settings, committed.factory)
    lease = timedelta(seconds=settings.push_lease_seconds)
    try:
        await worker.scan()
        ids = [d.id for _, d in await deliveries_of(committed)]
        async with committed.factory() as session:
            dead = uuid.uuid4()
            claimed = await deliveries.claim(session, ids, now=utcnow(), owner=dead, lease=lease)
            await session.commit()
        assert len(claimed) == 5  # ...and A dies here

        await worker.deliver(ids)  # a duplicate job: nothing to take
        assert sum(sink.received.values()) == 0

        later = utcnow() + lease + timedelta(seconds=1)
        worker.clock = lambda: later
        assert await worker.requeue_overdue() == 5
        await asyncio.wait_for(worker.run(drain=True, with_tick=False), timeout=30)
        await worker.deliver(ids)  # and once more: all final now
    finally:
        await runtime.close()
    assert sink.accepted == {f"/push/ok-{i}": 1 for i in range(5)}
    assert {d.status for _, d in await deliveries_of(committed)} == {DeliveryStatus.DELIVERED}


async def test_duplicate_jobs_for_the_same_deliveries_send_each_once(
    committed: Committed, sink: Sink, settings: Settings
) -> None:
    await people_with_devices(committed, sink, [f"ok-{i}" for i in range(20)])
    worker, runtime = await make_worker(settings, committed.factory)
    try:
        await worker.scan()  # queues one job for the 20
        ids = [d.id for _, d in await deliveries_of(committed)]
        async with committed.factory() as session:
            await worker.queue.enqueue(delivery_jobs(ids) * 3, db=session)
        await asyncio.wait_for(worker.run(drain=True, with_tick=False), timeout=30)
    finally:
        await runtime.close()
    assert sink.accepted == {f"/push/ok-{i}": 1 for i in range(20)}


async def test_a_retry_that_would_come_after_the_deadline_is_recorded_expired(
    db: AsyncSession,
    sink: Sink,
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async def always_busy(path: str, attempt: int) -> web.StreamResponse:
        return web.Response(status=429, headers={"Retry-After": "7200"})

    sink.behaviour = always_busy
    person_id = await person_without_reminders(db)
    await add_deadline(db, person_id, due_in=timedelta(hours=1))
    await add_device(db, person_id, sink.endpoint("late"))
    await db.commit()
    worker, runtime = await make_worker(settings, session_factory)
    try:
        await worker.scan()
        await worker.deliver(list(await db.scalars(select(PushDelivery.id))))
    finally:
        await runtime.close()
    delivery = await db.scalar(select(PushDelivery).execution_options(populate_existing=True))
    assert delivery is not None
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (
        DeliveryStatus.EXPIRED,
        1,
        429,
    )


async def test_a_push_for_a_deadline_moved_meanwhile_is_cancelled_not_sent(
    db: AsyncSession,
    sink: Sink,
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    person_id = await person_without_reminders(db)
    deadline_id = await add_deadline(db, person_id, due_in=timedelta(days=2, hours=2))
    await add_device(db, person_id, sink.endpoint("moved"))
    await db.commit()
    worker, runtime = await make_worker(settings, session_factory)
    try:
        assert (await worker.scan()).posted == 1
        # An import moves the deadline before the push goes out: its text names the old date.
        due_at = await db.scalar(select(Deadline.due_at).where(Deadline.id == deadline_id))
        assert due_at is not None
        await db.execute(
            update(Deadline)
            .where(Deadline.id == deadline_id)
            .values(due_at=due_at + timedelta(days=7))
        )
        await db.commit()
        await worker.deliver(list(await db.scalars(select(PushDelivery.id))))
    finally:
        await runtime.close()
    delivery = await db.scalar(select(PushDelivery).execution_options(populate_existing=True))
    assert delivery is not None
    assert (delivery.status, delivery.last_error) == (DeliveryStatus.CANCELLED, "deadline moved")
    assert sink.received == {}
