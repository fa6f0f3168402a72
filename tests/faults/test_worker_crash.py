"""A worker killed with SIGKILL in the middle of its batch costs little (issue #12): two
`duo-abroad worker` processes, 1,000 due reminders to 1,000 devices at the real push receiver
(npm web-push-testing, which decrypts every message as a browser would). Nothing is lost, only
what the dead worker had in flight (sent, answer not yet recorded) arrives twice, and the
survivor finishes the dead one's work within the bound (2 minutes)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import httpx
from pgqueuer import AsyncpgDriver
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from api.database import utcnow
from notifications.jobs import (
    DELIVER,
    PostgresJobQueue,
    commit_with_jobs,
    delivery_jobs,
    postgres_queries,
)
from notifications.models import (
    DeliveryStatus,
    PushDelivery,
    PushSubscription,
    ReminderPreferences,
)
from notifications.scheduler import scan_page
from notifications.vapid import VapidKeys, b64url, generate_keys
from records.models import Deadline, DeadlineKind, Person
from tests.faults.support import Processes
from tests.notifications.conftest import Receiver
from tests.notifications.support import Committed

PEOPLE = 1_000
CONCURRENCY = 32
LEASE_SECONDS = 6  # the default is 30: a test does not wait for it


async def clear_jobs(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        raw = (await connection.get_raw_connection()).driver_connection
        await postgres_queries(AsyncpgDriver(raw)).clear_queue(DELIVER)
        await connection.commit()


async def subscribe_all(receiver: Receiver, keys: VapidKeys) -> list[dict[str, str]]:
    """PEOPLE subscriptions at the receiver, as browsers would make them."""
    limit = asyncio.Semaphore(16)

    async def one(client: httpx.AsyncClient) -> dict[str, str]:
        async with limit:
            response = await client.post(
                "/subscribe",
                json={"applicationServerKey": keys.public_key, "userVisibleOnly": "true"},
            )
        data = response.json()["data"]
        return {"endpoint": data["endpoint"], **data["keys"], "hash": data["clientHash"]}

    async with httpx.AsyncClient(base_url=receiver.base, timeout=30) as client:
        return list(await asyncio.gather(*(one(client) for _ in range(PEOPLE))))


async def received(receiver: Receiver, hashes: list[str]) -> Counter[str]:
    """How many messages the receiver decrypted for each subscription."""
    limit = asyncio.Semaphore(16)

    async def one(client: httpx.AsyncClient, client_hash: str) -> tuple[str, int]:
        async with limit:
            response = await client.post("/get-notifications", json={"clientHash": client_hash})
        return client_hash, len(response.json()["data"]["messages"])

    async with httpx.AsyncClient(base_url=receiver.base, timeout=30) as client:
        counts = await asyncio.gather(*(one(client, h) for h in hashes))
    return Counter(dict(counts))


async def seed(committed: Committed, devices: list[dict[str, str]]) -> None:
    """One person per device, each with a payment due in two days (reminded 3 days before:
    due now), no quiet hours."""
    now = utcnow()
    run = uuid.uuid4().hex[:6]
    persons, deadlines, subscriptions, preferences = [], [], [], []
    for i, device in enumerate(devices):
        person_id = uuid.uuid4()
        committed.person_ids.append(person_id)
        persons.append(
            {
                "id": person_id,
                "customer_number": f"K{run}{i:05d}",
                "given_names": "Crash",
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
        subscriptions.append(
            {
                "id": uuid.uuid4(),
                "person_id": person_id,
                "endpoint": device["endpoint"],
                "p256dh": device["p256dh"],
                "auth": device["auth"],
                "created_at": now,
                "last_seen_at": now,
            }
        )
        preferences.append(
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
            (PushSubscription, subscriptions),
            (ReminderPreferences, preferences),
        ):
            await db.execute(insert(model), rows)
        await db.commit()


async def post_due_reminders(committed: Committed) -> int:
    """The scan of the minute tick, here (the workers' own ran before the data was there)."""
    posted, after = 0, None
    while True:
        async with committed.factory() as db:
            page = await scan_page(db, now=utcnow(), after=after)
            await commit_with_jobs(db, PostgresJobQueue(), delivery_jobs(page.delivery_ids))
        posted += page.posted
        if page.next_after is None:
            return posted
        after = page.next_after


async def statuses(committed: Committed) -> Counter[DeliveryStatus]:
    async with committed.factory() as db:
        rows = await db.execute(
            select(PushDelivery.status, func.count())
            .where(PushDelivery.person_id.in_(committed.person_ids))
            .group_by(PushDelivery.status)
        )
        return Counter(dict(rows.tuples().all()))


async def unrecorded_of(committed: Committed, worker: uuid.UUID) -> list[str]:
    """The endpoints of the deliveries `worker` holds without a recorded answer."""
    async with committed.factory() as db:
        rows = await db.scalars(
            select(PushSubscription.endpoint)
            .join(PushDelivery, PushDelivery.subscription_id == PushSubscription.id)
            .where(
                PushDelivery.lease_owner == worker,
                PushDelivery.status == DeliveryStatus.SENDING,
            )
        )
        return list(rows)


async def test_a_worker_killed_mid_batch_loses_nothing_and_repeats_only_what_was_in_flight(
    on_postgres: None,
    committed: Committed,
    engine: AsyncEngine,
    push_receiver: Receiver,
    processes: Processes,
    database_url: str,
    tmp_path: Path,
) -> None:
    await clear_jobs(engine)
    keys = generate_keys()
    scalar = keys.private_key.private_numbers().private_value.to_bytes(32, "big")
    env = {
        "DATABASE_URL": database_url,
        "DUO_ENV": "test",
        "VAPID_PRIVATE_KEY": b64url(scalar),
        "VAPID_SUBJECT": "mailto:ops@duo.example",
        "PUSH_CONCURRENCY": str(CONCURRENCY),
        "PUSH_LEASE_SECONDS": str(LEASE_SECONDS),
        "LOG_JSON": "1",
    }
    try:
        # The workers start (and find nothing due) while the browsers subscribe.
        doomed = processes.worker(env, tmp_path / "doomed.log")
        survivor = processes.worker(env, tmp_path / "survivor.log")
        devices = await subscribe_all(push_receiver, keys)
        by_endpoint = {d["endpoint"]: d["hash"] for d in devices}
        await seed(committed, devices)
        doomed_id = doomed.worker_id()
        survivor.worker_id()
        # What their minute tick would do: post the due reminders, queue their jobs.
        assert await post_due_reminders(committed) == PEOPLE

        # Kill it once it has a batch in hand and has sent part of it.
        deadline = time.monotonic() + 60
        while True:
            delivered = (await statuses(committed))[DeliveryStatus.DELIVERED]
            held = await unrecorded_of(committed, doomed_id)
            if delivered >= 100 and held:
                break
            assert delivered < PEOPLE, "everything was delivered before the kill"
            assert time.monotonic() < deadline, "no delivery in a minute"
            await asyncio.sleep(0.02)
        doomed.process.kill()
        killed_at = time.monotonic()
        doomed.process.wait()

        # What it had sent without recording an answer. Its leases were renewed every third of
        # LEASE_SECONDS, so nobody takes over for two thirds of it: look before that.
        await asyncio.sleep(0.5)  # what it wrote to its sockets reaches the receiver
        held = await unrecorded_of(committed, doomed_id)
        before = await received(push_receiver, [by_endpoint[e] for e in held])
        assert time.monotonic() - killed_at < LEASE_SECONDS * 2 / 3, "looked too late"
        in_flight = sum(1 for n in before.values() if n > 0)

        while (await statuses(committed))[DeliveryStatus.DELIVERED] < PEOPLE:
            assert time.monotonic() - killed_at < 120, await statuses(committed)
            await asyncio.sleep(0.2)
        recovered_in = time.monotonic() - killed_at
    finally:
        processes.kill_all()
        await clear_jobs(engine)

    counts = await received(push_receiver, list(by_endpoint.values()))
    lost = [h for h in by_endpoint.values() if counts[h] == 0]
    duplicates = sum(n - 1 for n in counts.values() if n > 1)
    print(
        f"\nkilled holding {len(held)} unrecorded deliveries, {in_flight} of them sent;"
        f" duplicates {duplicates}; all delivered {recovered_in:.1f} s after the kill"
    )
    assert lost == []
    assert await statuses(committed) == {DeliveryStatus.DELIVERED: PEOPLE}
    assert duplicates <= in_flight
    # Only what was on the wire (at most CONCURRENCY) or answered while the previous write of
    # results ran (at most as many again): every answer is recorded as soon as it can be.
    assert in_flight <= 2 * CONCURRENCY
    assert len(held) <= 2 * 100  # bounded claims: two jobs of 100 at most
    assert recovered_in < 120
    assert survivor.events("dependency.unavailable") == []
