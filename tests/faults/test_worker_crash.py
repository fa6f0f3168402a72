"""A worker killed with SIGKILL in the middle of its batch costs little (issue #12): two
`duo-abroad worker` processes, 1,000 due reminders to 1,000 devices at the real push receiver
(npm web-push-testing, which decrypts every message as a browser would). Nothing is lost, only
what the dead worker had in flight (sent, answer not yet recorded) arrives twice, and the
survivor finishes the dead one's work within the bound (2 minutes)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from notifications.jobs import BATCH_SIZE
from notifications.models import DeliveryStatus
from notifications.vapid import generate_keys
from tests.faults.support import (
    Processes,
    clear_jobs,
    post_due_reminders,
    received,
    seed,
    statuses,
    subscribe_all,
    unrecorded_of,
    worker_env,
)
from tests.notifications.conftest import Receiver
from tests.notifications.support import Committed

PEOPLE = 1_000
CONCURRENCY = 32
LEASE_SECONDS = 9  # the default is 30: a test does not wait for it


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
    env = worker_env(
        database_url,
        keys,
        PUSH_CONCURRENCY=str(CONCURRENCY),
        PUSH_LEASE_SECONDS=str(LEASE_SECONDS),
    )
    try:
        # The workers start (and find nothing due) while the browsers subscribe.
        doomed = processes.worker(env, tmp_path / "doomed.log")
        survivor = processes.worker(env, tmp_path / "survivor.log")
        devices = await subscribe_all(push_receiver.base, keys, PEOPLE)
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
            if delivered >= 100 and len(held) >= CONCURRENCY:  # mid-batch: a batch in hand
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
        before = await received(push_receiver.base, [by_endpoint[e] for e in held])
        assert time.monotonic() - killed_at < LEASE_SECONDS * 2 / 3, "looked too late"
        in_flight = sum(1 for n in before.values() if n > 0)

        while (await statuses(committed))[DeliveryStatus.DELIVERED] < PEOPLE:
            assert time.monotonic() - killed_at < 120, await statuses(committed)
            await asyncio.sleep(0.2)
        recovered_in = time.monotonic() - killed_at
    finally:
        processes.kill_all()
        await clear_jobs(engine)

    counts = await received(push_receiver.base, list(by_endpoint.values()))
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
    assert len(held) <= 2 * BATCH_SIZE  # bounded claims: two jobs at most
    assert recovered_in < 120
    assert survivor.events("dependency.unavailable") == []
