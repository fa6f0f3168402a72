"""Delivery jobs on pgqueuer: PostgreSQL in production, pgqueuer's in-memory queue for the embedded
SQLite default. The same worker (notifications/worker.py) runs on either.

- `push.deliver` jobs carry up to 500 delivery ids (a scheduler page's worth). On PostgreSQL
  they are enqueued in the same transaction that creates the deliveries (a rollback leaves no
  job, a commit always has one).
- `push.tick` runs every minute on one worker at a time (pgqueuer's scheduler): post due
  reminders, re-queue deliveries whose job was lost or whose worker died, log the counters.
- `housekeeping.daily` (api/housekeeping.py) runs once a day, also on one worker at a time.
The in-memory queue dies with its process; deliveries are rows in the database, so a restart
re-queues every unfinished one before it takes new work.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from pgqueuer import AsyncpgDriver, PgQueuer, Queries
from pgqueuer.adapters.persistence import qb
from pgqueuer.domain.settings import DBSettings
from pgqueuer.domain.types import Channel
from pgqueuer.ports import RepositoryPort
from sqlalchemy import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from api.database import asyncpg_timeouts
from api.settings import Settings

DELIVER = "push.deliver"
TICK = "push.tick"
HOUSEKEEPING = "housekeeping.daily"
# A job's fixed costs (pgqueuer's dequeue and acknowledgement, the claim's planning, commits)
# are spread over this many deliveries: 500 instead of 100 took 15% off a busy worker's CPU
# (bench/reminders.py, issue #14). A worker that dies strands at most two jobs' deliveries
# until their lease runs out (PUSH_LEASE_SECONDS); what was on the wire stays bounded by
# PUSH_CONCURRENCY.
BATCH_SIZE = 500
# Its own PostgreSQL schema keeps pgqueuer's tables out of the application's (and out of
# alembic's comparison with the models); created by migration 0005.
QUEUE_SCHEMA = "pgqueuer"
# Deliveries still pending this long after they were due have lost their job.
OVERDUE_GRACE = timedelta(minutes=15)


def queue_db_settings() -> DBSettings:
    return DBSettings(db_schema=QUEUE_SCHEMA)


def postgres_queries(driver: AsyncpgDriver) -> Queries:
    settings = queue_db_settings()
    return Queries(
        driver,
        qbe=qb.QueryBuilderEnvironment(settings=settings),
        qbq=qb.QueryQueueBuilder(settings=settings),
        qbs=qb.QuerySchedulerBuilder(settings=settings),
    )


@dataclass(frozen=True, slots=True)
class DeliveryJob:
    ids: tuple[uuid.UUID, ...]
    delay_seconds: int = 0


def delivery_jobs(
    ids: Sequence[uuid.UUID], *, delay_seconds: int = 0, size: int = BATCH_SIZE
) -> list[DeliveryJob]:
    return [DeliveryJob(tuple(ids[i : i + size]), delay_seconds) for i in range(0, len(ids), size)]


def _encode(job: DeliveryJob) -> bytes:
    return json.dumps({"ids": [str(i) for i in job.ids]}).encode()


def decode(payload: bytes | None) -> list[uuid.UUID]:
    if not payload:
        return []
    return [uuid.UUID(i) for i in json.loads(payload)["ids"]]


async def _enqueue(queries: RepositoryPort, jobs: Sequence[DeliveryJob]) -> None:
    if not jobs:
        return
    await queries.enqueue(
        [DELIVER] * len(jobs),
        [_encode(j) for j in jobs],
        [0] * len(jobs),
        [timedelta(seconds=j.delay_seconds) if j.delay_seconds else None for j in jobs],
    )


class JobQueue(Protocol):
    # True: jobs are written in the caller's database transaction (before commit).
    transactional: bool

    async def enqueue(self, jobs: Sequence[DeliveryJob], *, db: AsyncSession) -> None: ...


class PostgresJobQueue:
    """Enqueues on the session's own connection, inside its transaction."""

    transactional = True

    async def enqueue(self, jobs: Sequence[DeliveryJob], *, db: AsyncSession) -> None:
        if not jobs:
            return
        connection = await db.connection()
        raw = (await connection.get_raw_connection()).driver_connection
        if raw is None:
            raise RuntimeError("the session has no database connection")
        if not raw.is_in_transaction():
            # SQLAlchemy begins lazily; make sure the jobs land in the same transaction.
            await connection.exec_driver_sql("SELECT 1")
        await _enqueue(postgres_queries(AsyncpgDriver(raw)), jobs)


class MemoryJobQueue:
    """pgqueuer's in-memory queue: jobs are handed over after the commit."""

    transactional = False

    def __init__(self, queries: RepositoryPort) -> None:
        self._queries = queries

    async def enqueue(self, jobs: Sequence[DeliveryJob], *, db: AsyncSession) -> None:
        await _enqueue(self._queries, jobs)


async def commit_with_jobs(db: AsyncSession, queue: JobQueue, jobs: Sequence[DeliveryJob]) -> None:
    if queue.transactional:
        await queue.enqueue(jobs, db=db)
        await db.commit()
    else:
        await db.commit()
        await queue.enqueue(jobs, db=db)


@dataclass(frozen=True, slots=True)
class QueueConnection:
    """A PgQueuer, how to let go of the connection under it, and whether that was lost."""

    pgq: PgQueuer
    close: Callable[[], Awaitable[None]]
    lost: asyncio.Event = field(default_factory=asyncio.Event)


# A new PgQueuer each time (the worker calls it again after its connection was lost).
Connect = Callable[[], Awaitable[QueueConnection]]


async def _keep() -> None:
    """The in-memory queue has no connection to close."""


def memory_queuer() -> tuple[Connect, MemoryJobQueue]:
    """pgqueuer's in-memory queue (the embedded SQLite default): one instance for the process,
    handed out again on every connect."""
    pgq = PgQueuer.in_memory()
    if pgq.queries is None:  # set by PgQueuer's constructor; typed as optional
        raise RuntimeError("pgqueuer built no queries")

    async def connect() -> QueueConnection:
        return QueueConnection(pgq, _keep)

    return connect, MemoryJobQueue(pgq.queries)


def asyncpg_dsn(database_url: str) -> str:
    """pgqueuer talks to asyncpg directly: the SQLAlchemy URL without its driver suffix."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


def postgres_queuer(settings: Settings) -> tuple[Connect, PostgresJobQueue]:
    """PgQueuers on their own asyncpg connection each (they LISTEN for new jobs on it), with
    the server's timeouts: a partition ends in an error, not a hang."""
    import asyncpg

    async def connect() -> QueueConnection:
        connection = await asyncpg.connect(
            asyncpg_dsn(settings.database_url), **asyncpg_timeouts(settings)
        )
        driver = AsyncpgDriver(connection)
        pgq = PgQueuer(
            connection=driver,
            channel=Channel(queue_db_settings().channel),
            queries=postgres_queries(driver),
        )

        async def close() -> None:
            # A connection that is already gone cannot close cleanly: let it go.
            connection.terminate()

        made = QueueConnection(pgq, close)

        def terminated(_: object) -> None:
            # The server or the network closed it: pgqueuer would only notice at its next
            # query (its listener just stops hearing); stop this run now, the worker
            # connects again.
            made.lost.set()
            pgq.shutdown.set()

        connection.add_termination_listener(terminated)
        return made

    return connect, PostgresJobQueue()
