"""A worker never dies of a transient fault (issue #12): `duo-abroad worker` reaches PostgreSQL
through a TCP proxy that the test kills (an outage: connections reset, new ones refused) or
freezes (a partition: nothing answers), with no supervisor to restart it. It logs one warning
per outage, waits, reconnects and finishes the work: every reminder exactly once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from notifications.models import DeliveryStatus
from notifications.vapid import generate_keys
from tests.faults.support import (
    Processes,
    Proxy,
    Worker,
    clear_jobs,
    post_due_reminders,
    seed,
    statuses,
    wait_for,
    worker_env,
)
from tests.notifications.support import Committed, Sink, fake_keys, sleep_then

DEVICES = 20


def devices_at(sink: Sink, prefix: str) -> list[dict[str, str]]:
    keys = fake_keys()  # the sink does not decrypt
    return [{"endpoint": sink.endpoint(f"{prefix}-{i}"), **keys} for i in range(DEVICES)]


def assert_one_outage(worker: Worker) -> None:
    """One warning for the outage, one line when it ended; no error, no traceback."""
    lines = worker.lines()
    unavailable = [x for x in lines if x["event"] == "dependency.unavailable"]
    assert [(x["level"], x["dependency"]) for x in unavailable] == [("warning", "database")], [
        x for x in lines if x["event"] != "push.tick"
    ]
    assert [x["dependency"] for x in lines if x["event"] == "dependency.recovered"] == ["database"]
    assert [x for x in lines if x["level"] in ("error", "critical")] == []
    assert "Traceback" not in worker.log.read_text()


def recovered(worker: Worker) -> Callable[[], Awaitable[bool]]:
    async def logged() -> bool:
        return bool(worker.events("dependency.recovered"))

    return logged


async def start_worker(
    processes: Processes, proxy: Proxy, database_url: str, log: Path, **extra: str
) -> Worker:
    worker = processes.worker(
        worker_env(proxy.url(database_url), generate_keys(), PUSH_LEASE_SECONDS="3", **extra),
        log,
    )
    worker.worker_id()

    async def ticked() -> bool:
        return bool(worker.events("push.tick"))

    await wait_for(ticked, within=30, what="the worker's first tick")
    return worker


async def test_a_worker_rides_out_a_database_outage_without_a_supervisor(
    on_postgres: None,
    committed: Committed,
    engine: AsyncEngine,
    sink: Sink,
    processes: Processes,
    proxies: Callable[[str, int], Proxy],
    database_url: str,
    tmp_path: Path,
) -> None:
    await clear_jobs(engine)
    server = make_url(database_url)
    proxy = proxies(server.host or "127.0.0.1", server.port or 5432)
    worker = await start_worker(processes, proxy, database_url, tmp_path / "worker.log")
    try:
        proxy.kill()  # every connection reset, new ones refused
        # Reminders fall due during the outage (the tick's work, done here on a good line).
        await seed(committed, devices_at(sink, "outage"))
        assert await post_due_reminders(committed) == DEVICES
        await asyncio.sleep(6)  # longer than every timeout and backoff step
        assert worker.process.poll() is None, worker.log.read_text()
        assert sum(sink.received.values()) == 0

        proxy.start()

        async def all_delivered() -> bool:
            return (await statuses(committed))[DeliveryStatus.DELIVERED] == DEVICES

        await wait_for(all_delivered, within=30, what="delivery after the outage")
        await wait_for(recovered(worker), within=15, what="the end of the outage in the log")
        assert worker.process.poll() is None
    finally:
        processes.kill_all()
        await clear_jobs(engine)
    assert sink.accepted == {f"/push/outage-{i}": 1 for i in range(DEVICES)}
    assert_one_outage(worker)


async def test_a_partition_in_the_middle_of_a_batch_loses_and_repeats_nothing(
    on_postgres: None,
    committed: Committed,
    engine: AsyncEngine,
    sink: Sink,
    processes: Processes,
    proxies: Callable[[str, int], Proxy],
    database_url: str,
    tmp_path: Path,
) -> None:
    """The database stops answering while the worker sends (each push takes a second):
    what it sent waits in memory and is recorded when the database is back; what it could not
    send safely (its lease could not be renewed) goes out after. No hang, no exit."""

    async def slow(path: str, attempt: int) -> web.StreamResponse:
        return await sleep_then(201, 1.0)

    sink.behaviour = slow
    await clear_jobs(engine)
    server = make_url(database_url)
    proxy = proxies(server.host or "127.0.0.1", server.port or 5432)
    worker = await start_worker(
        processes, proxy, database_url, tmp_path / "worker.log", PUSH_CONCURRENCY="4"
    )
    try:
        await seed(committed, devices_at(sink, "partition"))
        assert await post_due_reminders(committed) == DEVICES

        async def sending() -> bool:
            return sum(sink.received.values()) >= 2

        await wait_for(sending, within=30, what="the first pushes")
        proxy.freeze()
        await asyncio.sleep(6)  # two leases: what was not sent by then must wait
        assert worker.process.poll() is None, worker.log.read_text()
        proxy.thaw()

        async def all_delivered() -> bool:
            counts: Any = await statuses(committed)
            return bool(counts[DeliveryStatus.DELIVERED] == DEVICES)

        await wait_for(all_delivered, within=60, what="delivery after the partition")
        await wait_for(recovered(worker), within=15, what="the end of the outage in the log")
        assert worker.process.poll() is None
    finally:
        processes.kill_all()
        await clear_jobs(engine)
    assert sink.accepted == {f"/push/partition-{i}": 1 for i in range(DEVICES)}
    assert_one_outage(worker)
    assert worker.events("push.unsent_lease_expired")  # it did stop sending, and caught up
    assert uuid.UUID(worker.events("push.worker_started")[0]["worker"])


async def test_a_worker_started_before_its_database_waits_for_it(
    on_postgres: None,
    processes: Processes,
    proxies: Callable[[str, int], Proxy],
    database_url: str,
    tmp_path: Path,
) -> None:
    server = make_url(database_url)
    proxy = proxies(server.host or "127.0.0.1", server.port or 5432)
    proxy.kill()  # the database is not there yet
    worker = processes.worker(
        worker_env(proxy.url(database_url), generate_keys()), tmp_path / "worker.log"
    )
    try:
        await asyncio.sleep(4)
        assert worker.process.poll() is None, worker.log.read_text()
        proxy.start()

        async def ticked() -> bool:
            return bool(worker.events("push.tick"))

        await wait_for(ticked, within=30, what="the first tick once the database is there")
        await wait_for(recovered(worker), within=15, what="the end of the outage in the log")
    finally:
        processes.kill_all()
    assert_one_outage(worker)


async def test_a_configuration_error_ends_the_worker_with_code_2(
    on_postgres: None, processes: Processes, database_url: str, tmp_path: Path
) -> None:
    """Retrying cannot fix a database that does not exist: the worker says so and exits."""
    missing = make_url(database_url).set(database="duo_no_such_database")
    worker = processes.worker(
        worker_env(missing.render_as_string(hide_password=False), generate_keys()),
        tmp_path / "worker.log",
    )
    assert worker.process.wait(timeout=60) == 2
    output = worker.log.read_text()
    assert "configuration error" in output
    assert "does not exist" in output
    assert "Traceback" not in output
