"""Fault fixtures: the TCP proxy process a test kills, freezes and restarts; worker processes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
from pgqueuer import AsyncpgDriver
from sqlalchemy import func, insert, make_url, select
from sqlalchemy.ext.asyncio import AsyncEngine

from api.database import utcnow
from api.settings import PROJECT_ROOT
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
from notifications.vapid import VapidKeys, b64url
from records.models import Deadline, DeadlineKind, Person
from tests.notifications.support import Committed, free_port


@dataclass
class Proxy:
    """tests/faults/proxy.py in its own process, always on the same port."""

    target_host: str
    target_port: int
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - our own fixture, fixed arguments
            [sys.executable, "-m", "tests.faults.proxy", str(self.port), self.target_host,
             str(self.target_port)],
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
        )  # fmt: skip
        assert self.process.stdout is not None
        assert self.process.stdout.readline().strip() == b"ready"

    def kill(self) -> None:
        """An outage: every connection through it is cut, new ones are refused."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            if self.process.stdout is not None:
                self.process.stdout.close()
            self.process = None

    def freeze(self) -> None:
        """A partition: connections open (the kernel accepts them), nothing comes back."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)

    def url(self, url: str) -> str:
        """`url` (a database or Redis URL) pointed at this proxy instead."""
        return (
            make_url(url)
            .set(host="127.0.0.1", port=self.port)
            .render_as_string(hide_password=False)
        )


@dataclass
class Worker:
    """A `duo-abroad worker` process and its log."""

    process: subprocess.Popen[bytes]
    log: Path

    def lines(self) -> list[dict[str, Any]]:
        """Its JSON log lines (others, such as tracebacks, are skipped)."""
        found = []
        for line in self.log.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                with contextlib.suppress(json.JSONDecodeError):
                    found.append(json.loads(line))
        return found

    def events(self, name: str) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line.get("event") == name]

    def worker_id(self, timeout: float = 30) -> uuid.UUID:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if started := self.events("push.worker_started"):
                return uuid.UUID(started[0]["worker"])
            assert self.process.poll() is None, self.log.read_text()
            time.sleep(0.05)
        raise AssertionError(f"the worker did not start: {self.log.read_text()}")


@dataclass
class Processes:
    """Processes a test starts; whatever still runs is killed at its end."""

    running: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def worker(self, env: dict[str, str], log: Path) -> Worker:
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "api.cli", "worker"],
                cwd=PROJECT_ROOT,
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.running.append(process)
        return Worker(process, log)

    def kill_all(self) -> None:
        for process in self.running:
            if process.poll() is None:
                process.kill()
                process.wait()


# Small timeouts: a fault is noticed in a second or two, not in the defaults' few seconds.
FAST_FAULTS = {
    "DATABASE_CONNECT_TIMEOUT_SECONDS": "1",
    "DATABASE_STATEMENT_TIMEOUT_SECONDS": "1.5",
    "DATABASE_COMMAND_TIMEOUT_SECONDS": "2",
    "DATABASE_POOL_TIMEOUT_SECONDS": "2",
    "REDIS_TIMEOUT_SECONDS": "0.5",
    "READY_TIMEOUT_SECONDS": "1",
}


def worker_env(database_url: str, keys: VapidKeys, **extra: str) -> dict[str, str]:
    """The environment of a `duo-abroad worker` under test."""
    scalar = keys.private_key.private_numbers().private_value.to_bytes(32, "big")
    return {
        "DATABASE_URL": database_url,
        "DUO_ENV": "test",
        "VAPID_PRIVATE_KEY": b64url(scalar),
        "VAPID_SUBJECT": "mailto:ops@duo.example",
        "LOG_JSON": "1",
        "LOG_LEVEL": "INFO",
        **FAST_FAULTS,
        **extra,
    }


async def wait_for(condition: Callable[[], Awaitable[bool]], *, within: float, what: str) -> float:
    """Poll until `condition` holds; how long that took (fails after `within` seconds)."""
    started = time.monotonic()
    while not await condition():
        if time.monotonic() - started > within:
            raise AssertionError(f"{what}: not within {within} s")
        await asyncio.sleep(0.1)
    return time.monotonic() - started


async def clear_jobs(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        raw = (await connection.get_raw_connection()).driver_connection
        await postgres_queries(AsyncpgDriver(raw)).clear_queue(DELIVER)
        await connection.commit()


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
    posted = 0
    while True:
        async with committed.factory() as db:
            page = await scan_page(db, now=utcnow())
            await commit_with_jobs(db, PostgresJobQueue(), delivery_jobs(page.delivery_ids))
        posted += page.posted
        if not page.full:
            return posted


async def statuses(committed: Committed) -> Counter[DeliveryStatus]:
    async with committed.factory() as db:
        rows = await db.execute(
            select(PushDelivery.status, func.count())
            .where(PushDelivery.person_id.in_(committed.person_ids))
            .group_by(PushDelivery.status)
        )
        return Counter({status: count for status, count in rows.all()})


async def subscribe_all(receiver: str, keys: VapidKeys, count: int) -> list[dict[str, str]]:
    """`count` subscriptions at the web-push-testing receiver at `receiver`, as browsers
    would make them: endpoint, keys, and the hash its API knows them by."""
    limit = asyncio.Semaphore(16)

    async def one(client: httpx.AsyncClient) -> dict[str, str]:
        async with limit:
            response = await client.post(
                "/subscribe",
                json={"applicationServerKey": keys.public_key, "userVisibleOnly": "true"},
            )
        data = response.json()["data"]
        return {"endpoint": data["endpoint"], **data["keys"], "hash": data["clientHash"]}

    async with httpx.AsyncClient(base_url=receiver, timeout=30) as client:
        return list(await asyncio.gather(*(one(client) for _ in range(count))))


async def received(receiver: str, hashes: list[str]) -> Counter[str]:
    """How many messages the receiver decrypted for each subscription."""
    limit = asyncio.Semaphore(16)

    async def one(client: httpx.AsyncClient, client_hash: str) -> tuple[str, int]:
        async with limit:
            response = await client.post("/get-notifications", json={"clientHash": client_hash})
        return client_hash, len(response.json()["data"]["messages"])

    async with httpx.AsyncClient(base_url=receiver, timeout=30) as client:
        counts = await asyncio.gather(*(one(client, h) for h in hashes))
    return Counter(dict(counts))


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
