"""Delivery jobs on pgqueuer: PostgreSQL in production, pgqueuer's in-memory queue for the embedded
SQLite default. The same worker runs on either.

- `push.deliver` jobs carry up to 100 delivery ids. On PostgreSQL they are enqueued in the same
  transaction that creates the deliveries (a rollback leaves no job, a commit always has one).
- `push.tick` runs every minute on one worker at a time (pgqueuer's scheduler): post due
  reminders, re-queue deliveries whose job was lost or whose worker died, log the counters.
- `housekeeping.daily` (api/housekeeping.py) runs once a day, also on one worker at a time.
The in-memory queue dies with its process; deliveries are rows in the database, so a restart
re-queues every unfinished one before it takes new work.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog
from pgqueuer import AsyncpgDriver, Job, PgQueuer, Queries
from pgqueuer.adapters.persistence import qb
from pgqueuer.domain.models import Schedule
from pgqueuer.domain.settings import DBSettings
from pgqueuer.domain.types import Channel, QueueExecutionMode
from pgqueuer.ports import RepositoryPort
from sqlalchemy import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api import housekeeping
from api.database import utcnow
from api.settings import Settings
from notifications import deliveries, scheduler
from notifications.sender import PushSender

log = structlog.get_logger("notifications.jobs")

DELIVER = "push.deliver"
TICK = "push.tick"
HOUSEKEEPING = "housekeeping.daily"
BATCH_SIZE = 100
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


def _decode(payload: bytes | None) -> list[uuid.UUID]:
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


@dataclass(slots=True)
class ScanTotals:
    examined: int = 0
    posted: int = 0
    superseded: int = 0
    deliveries: int = 0


class PushWorker:
    """Runs `push.deliver` jobs and the minute tick on one pgqueuer instance."""

    def __init__(
        self,
        *,
        settings: Settings,
        session_factory: async_sessionmaker[AsyncSession],
        sender: PushSender,
        pgq: PgQueuer,
        queue: JobQueue,
        clock: Callable[[], datetime] = utcnow,
        job_size: int = BATCH_SIZE,
    ) -> None:
        self.settings = settings
        self.job_size = job_size
        self.session_factory = session_factory
        self.sender = sender
        self.pgq = pgq
        self.queue = queue
        self.clock = clock
        self.policy = deliveries.RetryPolicy.from_settings(settings)

        @pgq.entrypoint(DELIVER)
        async def deliver(job: Job) -> None:
            await self.deliver(_decode(job.payload))

        @pgq.schedule(TICK, "* * * * *")
        async def tick(schedule: Schedule) -> None:
            await self.tick()

        # Not push work, but this is the process that runs schedules: one at a time however
        # many workers run, and the embedded server's own worker on SQLite.
        @pgq.schedule(HOUSEKEEPING, housekeeping.SCHEDULE)
        async def chores(schedule: Schedule) -> None:
            await housekeeping.run(self.session_factory, self.settings)

    async def deliver(self, ids: Sequence[uuid.UUID]) -> None:
        """Claim, send, record. No transaction stays open while the network is waited on."""
        async with self.session_factory() as db:
            claimed = await deliveries.claim(db, ids, now=self.clock())
            await db.commit()
        if not claimed:
            return
        results = await self.sender.send_many([c.request for c in claimed])
        async with self.session_factory() as db:
            recorded = await deliveries.record(
                db, claimed, results, now=self.clock(), policy=self.policy
            )
            jobs = [
                job
                for wait, retry_ids in recorded.retries.items()
                for job in delivery_jobs(retry_ids, delay_seconds=wait, size=self.job_size)
            ]
            await commit_with_jobs(db, self.queue, jobs)

    async def scan(self) -> ScanTotals:
        """Post every due reminder, a page per transaction."""
        totals = ScanTotals()
        after: uuid.UUID | None = None
        now = self.clock()
        while True:
            async with self.session_factory() as db:
                page = await scheduler.scan_page(db, now=now, after=after)
                jobs = delivery_jobs(page.delivery_ids, size=self.job_size)
                await commit_with_jobs(db, self.queue, jobs)
            totals.examined += page.examined
            totals.posted += page.posted
            totals.superseded += page.superseded
            totals.deliveries += len(page.delivery_ids)
            if page.next_after is None:
                return totals
            after = page.next_after

    async def requeue_overdue(self, *, grace: timedelta = OVERDUE_GRACE) -> int:
        async with self.session_factory() as db:
            ids = await deliveries.overdue(db, now=self.clock(), grace=grace)
            await commit_with_jobs(db, self.queue, delivery_jobs(ids, size=self.job_size))
        if ids:
            log.warning("push.requeued_overdue", deliveries=len(ids))
        return len(ids)

    async def tick(self) -> None:
        totals = await self.scan()
        await self.requeue_overdue()
        log.info(
            "push.tick",
            examined=totals.examined,
            posted=totals.posted,
            superseded=totals.superseded,
            deliveries=totals.deliveries,
            sent=self.sender.metrics.snapshot(),
        )

    async def run(
        self, *, drain: bool = False, with_tick: bool = True, batch_size: int = 10
    ) -> None:
        """Work until stop() (or, with drain, until the queue is empty).

        `batch_size` jobs are taken per dequeue, at most twice that run at once (each up to
        `job_size` deliveries, all sharing the sender's concurrency limit).
        """
        if not self.queue.transactional:
            await self.requeue_overdue(grace=timedelta(0))  # a fresh in-memory queue is empty
        if with_tick:
            await self.tick()  # do not wait for the first full minute
        mode = QueueExecutionMode.drain if drain else QueueExecutionMode.continuous
        options = {
            "dequeue_timeout": timedelta(seconds=5 if drain else 30),
            "batch_size": batch_size,
            "max_concurrent_tasks": 2 * batch_size,
            "mode": mode,
        }
        if with_tick:
            await self.pgq.run(**options)  # type: ignore[arg-type]
        else:
            await self.pgq.qm.run(**options)  # type: ignore[arg-type]

    def stop(self) -> None:
        self.pgq.shutdown.set()


def memory_queuer() -> tuple[PgQueuer, MemoryJobQueue]:
    pgq = PgQueuer.in_memory()
    if pgq.queries is None:  # set by PgQueuer's constructor; typed as optional
        raise RuntimeError("pgqueuer built no queries")
    return pgq, MemoryJobQueue(pgq.queries)


def asyncpg_dsn(database_url: str) -> str:
    """pgqueuer talks to asyncpg directly: the SQLAlchemy URL without its driver suffix."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


async def postgres_queuer(database_url: str) -> tuple[PgQueuer, PostgresJobQueue, Any]:
    """A PgQueuer on its own asyncpg connection (it LISTENs for new jobs on it)."""
    import asyncpg

    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    driver = AsyncpgDriver(connection)
    pgq = PgQueuer(
        connection=driver,
        channel=Channel(queue_db_settings().channel),
        queries=postgres_queries(driver),
    )
    return pgq, PostgresJobQueue(), connection
