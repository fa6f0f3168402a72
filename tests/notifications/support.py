"""Helpers for the push tests: people with deadlines and devices, a scriptable push service."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.database import utcnow
from api.settings import Settings
from notifications.jobs import memory_queuer
from notifications.models import PushSubscription, ReminderPreferences
from notifications.runtime import PushRuntime
from notifications.vapid import b64url
from notifications.worker import PushWorker
from records.models import Deadline, DeadlineKind
from tests.support import add_person

FAST_RETRIES = {
    "push_timeout_seconds": 0.5,
    "push_max_attempts": 4,
    "push_retry_base_seconds": 0.2,
    "push_retry_cap_seconds": 1.0,
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def fake_keys() -> dict[str, str]:
    """A valid p256dh/auth pair, for receivers that do not decrypt."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    point = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    return {"p256dh": b64url(point), "auth": b64url(uuid.uuid4().bytes)}


async def person_without_reminders(
    db: AsyncSession, *, time_zone: str = "Europe/Amsterdam", **person: Any
) -> uuid.UUID:
    """A demo person whose own demo deadlines are completed, with reminders every day of the
    week and no quiet hours, in a zone the test chooses (the demo's zone depends on how many
    persons were made before: "due in 2 days" would depend on the order and hour of the run)."""
    bundle = await add_person(db, time_zone=time_zone, **person)
    person_id: uuid.UUID = bundle.person["id"]
    await db.execute(
        update(Deadline).where(Deadline.person_id == person_id).values(completed_at=utcnow())
    )
    await set_preferences(db, person_id)
    return person_id


async def set_preferences(
    db: AsyncSession, person_id: uuid.UUID, *, offsets: list[int] | None = None
) -> None:
    await db.execute(
        insert(ReminderPreferences).values(
            person_id=person_id,
            kinds=[k.value for k in DeadlineKind],
            offsets_days=offsets or [14, 3, 1],
            quiet_start=None,
            quiet_end=None,
            time_zone=None,
            language=None,
            updated_at=utcnow(),
        )
    )


async def add_deadline(
    db: AsyncSession,
    person_id: uuid.UUID,
    *,
    due_in: timedelta = timedelta(days=2),
    kind: DeadlineKind = DeadlineKind.INCOME_STATEMENT,
    description: str = "Send proof of your income of last year.",
    now: datetime | None = None,
) -> uuid.UUID:
    """A deadline `due_in` after `now` (the test's clock; the wall clock when not given)."""
    deadline_id = uuid.uuid4()
    await db.execute(
        insert(Deadline).values(
            id=deadline_id,
            person_id=person_id,
            kind=kind,
            due_at=(now or utcnow()) + due_in,
            description=description,
            completed_at=None,
        )
    )
    return deadline_id


async def add_device(
    db: AsyncSession, person_id: uuid.UUID, endpoint: str, keys: dict[str, str] | None = None
) -> uuid.UUID:
    keys = keys or fake_keys()
    device_id = uuid.uuid4()
    now = utcnow()
    await db.execute(
        insert(PushSubscription).values(
            id=device_id,
            person_id=person_id,
            endpoint=endpoint,
            p256dh=keys["p256dh"],
            auth=keys["auth"],
            device_name="test device",
            created_at=now,
            last_seen_at=now,
        )
    )
    return device_id


async def make_worker(
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    *,
    clock: Callable[[], datetime] = utcnow,
) -> tuple[PushWorker, PushRuntime]:
    """A worker on an in-memory queue; close the runtime afterwards."""
    runtime = PushRuntime(settings, session_factory)
    connect, queue = memory_queuer()
    worker = PushWorker(
        settings=settings,
        session_factory=session_factory,
        sender=await runtime.sender(),
        queue=queue,
        connect=connect,
        clock=clock,
    )
    return worker, runtime


@dataclass
class Committed:
    factory: async_sessionmaker[AsyncSession]
    person_ids: list[uuid.UUID] = field(default_factory=list)


Behaviour = Callable[[str, int], Awaitable[web.StreamResponse]]


async def accept(path: str, attempt: int) -> web.StreamResponse:
    return web.Response(status=201)


@dataclass
class Sink:
    """A push service on 127.0.0.1 that does not decrypt: it counts, and answers as scripted.

    `accepted` counts the requests it answered with 201 per endpoint path: a message the
    service took. A duplicate is a path accepted twice.
    """

    behaviour: Behaviour = accept
    received: Counter[str] = field(default_factory=Counter)
    accepted: Counter[str] = field(default_factory=Counter)
    headers: dict[str, dict[str, str]] = field(default_factory=dict)  # lower-case names
    _runner: web.AppRunner | None = None
    port: int = 0

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        await request.read()
        self.received[path] += 1
        self.headers[path] = {k.lower(): v for k, v in request.headers.items()}
        response = await self.behaviour(path, self.received[path])
        if response.status == 201:
            self.accepted[path] += 1
        return response

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/push/{token}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        self.port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, backlog=1024).start()
        return f"http://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def endpoint(self, token: str) -> str:
        return f"http://127.0.0.1:{self.port}/push/{token}"


async def sleep_then(status: int, seconds: float) -> web.StreamResponse:
    await asyncio.sleep(seconds)
    return web.Response(status=status)
