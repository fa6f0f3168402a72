"""The push worker: `push.deliver` jobs, the minute tick and the daily housekeeping, on pgqueuer.

What it promises (issue #12):
- **Transient faults never end it.** The database, Redis or pgqueuer's listening connection
  gone: one warning per outage (api/outages.py), backoff, a new connection, and on. Work in
  hand waits for the database instead of failing. Only a configuration error, a bug or a
  signal ends it.
- **A crash costs little.** A job's deliveries are claimed with a short lease that a heartbeat
  renews while the worker lives, each answer is recorded as soon as it comes (results that
  arrive while one write runs go in the next), and a worker takes only a few jobs at a time.
  After a kill -9, what was in flight can go twice; everything else is taken up by another
  worker within about PUSH_LEASE_SECONDS.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import TypeVar

import structlog
from pgqueuer import Job, PgQueuer
from pgqueuer.domain.errors import FailingListenerError
from pgqueuer.domain.models import Schedule
from pgqueuer.domain.types import QueueExecutionMode
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api import housekeeping, metrics
from api.database import utcnow
from api.outages import (
    Backoff,
    Outages,
    Stopping,
    pause,
    unavailable,
    until_available,
)
from api.settings import Settings
from notifications import deliveries, scheduler
from notifications.deliveries import Claimed
from notifications.jobs import (
    BATCH_SIZE,
    DELIVER,
    HOUSEKEEPING,
    OVERDUE_GRACE,
    TICK,
    Connect,
    DeliveryJob,
    JobQueue,
    QueueConnection,
    commit_with_jobs,
    decode,
    delivery_jobs,
)
from notifications.sender import PushSender, SendResult

log = structlog.get_logger("notifications.worker")

# Sending stops while less than this share of the lease is left unrenewed: the rest of the
# lease is the margin for clock differences between workers.
SAFE_SHARE = 0.8
T = TypeVar("T")
# A worker stopped (SIGTERM) while the database is out waits this long to record what it sent.
RECORD_GRACE_SECONDS = 10.0


def settle_garbage_collector() -> None:
    """For a process that runs a worker, once it has started: the objects made so far (modules,
    mappings, settings) live as long as the process, so the collector stops walking them
    (gc.freeze), and it runs less often on the many short-lived objects of each message. The
    collector was 8% of a busy worker's CPU (py-spy, issue #14); reference counting frees
    almost everything anyway."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


@dataclass(slots=True)
class ScanTotals:
    examined: int = 0
    posted: int = 0
    superseded: int = 0
    deliveries: int = 0


class PushWorker:
    """Runs `push.deliver` jobs and the schedules, reconnecting through outages."""

    def __init__(
        self,
        *,
        settings: Settings,
        session_factory: async_sessionmaker[AsyncSession],
        sender: PushSender,
        queue: JobQueue,
        connect: Connect,
        clock: Callable[[], datetime] = utcnow,
        job_size: int = BATCH_SIZE,
        outages: Outages | None = None,
    ) -> None:
        self.settings = settings
        self.job_size = job_size
        self.session_factory = session_factory
        self.sender = sender
        self.queue = queue
        self.connect = connect
        self.clock = clock
        self.outages = outages or Outages()
        self.policy = deliveries.RetryPolicy.from_settings(settings)
        self.lease = timedelta(seconds=settings.push_lease_seconds)
        self.id = uuid.uuid4()  # the lease owner of everything this worker claims
        self.pgq: PgQueuer | None = None
        self._stopping = asyncio.Event()
        self._abandon = asyncio.Event()  # set RECORD_GRACE_SECONDS after a stop
        # The send counters of the last tick's line; None: no tick has got through yet.
        self._ticked: dict[str, int] | None = None

    # Jobs and schedules

    def attach(self, pgq: PgQueuer) -> None:
        """Register this worker's entrypoint and schedules on a (new) PgQueuer."""

        @pgq.entrypoint(DELIVER)
        async def deliver(job: Job) -> None:
            await self.deliver(decode(job.payload))

        @pgq.schedule(TICK, "* * * * *")
        async def tick(schedule: Schedule) -> None:
            await self.tick()

        # Not push work, but this is the process that runs schedules: one at a time however
        # many workers run, and the embedded server's own worker on SQLite.
        @pgq.schedule(HOUSEKEEPING, housekeeping.SCHEDULE)
        async def chores(schedule: Schedule) -> None:
            try:
                await housekeeping.run(self.session_factory, self.settings)
            except Exception as exc:
                if self.outages.failed(exc, during="housekeeping") is None:
                    raise  # tomorrow's run tries again; an outage was logged once

        self.pgq = pgq

    async def deliver(self, ids: Sequence[uuid.UUID]) -> None:
        """Claim, send, record each answer as it comes. No transaction stays open while the
        network is waited on; the database being out only makes this wait."""
        try:
            claimed = await self._database(lambda: self._claim(ids), self._stopping)
        except Stopping:
            return  # nothing claimed: the job's row goes back to the queue with the worker
        if not claimed:
            return
        lease = _Lease(self, claimed)
        recorder = _Recorder(self, lease)
        async with lease, recorder:
            await self.sender.send_each(
                [c.request for c in claimed],
                lambda index, result: recorder.add(claimed[index], result),
                proceed=lambda index: lease.holds(claimed[index].id),
            )
        unsent = [c.id for c in claimed if c.id not in recorder.answered]
        if unsent:
            # Not sent: the lease could not be renewed in time (the database was out). They
            # are free once it has run out; look again then, not at the minute's sweep.
            log.info("push.unsent_lease_expired", deliveries=len(unsent))
            jobs = delivery_jobs(unsent, delay_seconds=math.ceil(self.lease.total_seconds()))
            with contextlib.suppress(Stopping):
                await self._database(partial(self._enqueue, jobs), self._abandon)

    async def _enqueue(self, jobs: Sequence[DeliveryJob]) -> None:
        async with self.session_factory() as db:
            await commit_with_jobs(db, self.queue, jobs)

    async def _claim(self, ids: Sequence[uuid.UUID]) -> list[Claimed]:
        now = self.clock()
        async with self.session_factory() as db:
            claimed = await deliveries.claim(db, ids, now=now, owner=self.id, lease=self.lease)
            follow_up: list[uuid.UUID] = []
            wait = 0
            if len(claimed) < len(ids):
                # Some are held by another worker. If it died, its lease runs out unrenewed:
                # look again just after that, instead of at the next minute's sweep.
                until = await deliveries.held_elsewhere_until(db, ids, now=now, owner=self.id)
                if until is not None:
                    taken = {c.id for c in claimed}
                    follow_up = [i for i in ids if i not in taken]
                    wait = math.ceil((until - now).total_seconds()) + 1
            jobs = delivery_jobs(follow_up, delay_seconds=wait, size=self.job_size)
            await commit_with_jobs(db, self.queue, jobs)
        return claimed

    async def _record(self, batch: Sequence[tuple[Claimed, SendResult]]) -> None:
        async with self.session_factory() as db:
            recorded = await deliveries.record(
                db,
                [claimed for claimed, _ in batch],
                [result for _, result in batch],
                now=self.clock(),
                policy=self.policy,
                owner=self.id,
            )
            jobs = [
                job
                for wait, retry_ids in recorded.retries.items()
                for job in delivery_jobs(retry_ids, delay_seconds=wait, size=self.job_size)
            ]
            await commit_with_jobs(db, self.queue, jobs)
        # Counted once the record is committed: an attempt that an outage undoes is retried
        # with the same batch, and must not count twice.
        for lag in recorded.lags:
            metrics.REMINDER_LAG.observe(lag)

    async def _renew(self, ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        async with self.session_factory() as db:
            held = await deliveries.renew(db, ids, owner=self.id, until=self.clock() + self.lease)
            await db.commit()
        return held

    async def scan(self) -> ScanTotals:
        """Post every due reminder, a page per transaction; each page's delivery jobs are
        queued as it commits, so they go out while the next pages are planned."""
        totals = ScanTotals()
        now = self.clock()
        while True:
            async with self.session_factory() as db:
                page = await scheduler.scan_page(db, now=now)
                jobs = delivery_jobs(page.delivery_ids, size=self.job_size)
                await commit_with_jobs(db, self.queue, jobs)
            totals.examined += page.examined
            totals.posted += page.posted
            totals.superseded += page.superseded
            totals.deliveries += len(page.delivery_ids)
            # A planned deadline leaves the due range (its next look is later), so the next
            # page starts at the front again; a short page means nothing due is left (or
            # other workers hold the rest, SKIP LOCKED).
            if not page.full:
                return totals

    async def requeue_overdue(self, *, grace: timedelta = OVERDUE_GRACE) -> int:
        async with self.session_factory() as db:
            ids = await deliveries.overdue(db, now=self.clock(), grace=grace)
            await commit_with_jobs(db, self.queue, delivery_jobs(ids, size=self.job_size))
        if ids:
            log.warning("push.requeued_overdue", deliveries=len(ids))
        return len(ids)

    async def tick(self) -> bool:
        """The minute's work; an outage skips it (logged once; False), the next minute tries
        again."""
        try:
            totals = await self.scan()
            requeued = await self.requeue_overdue()
        except Exception as exc:
            if self.outages.failed(exc, during="tick") is None:
                raise
            self._ticked = None  # the next tick that gets through says so
            return False
        self.outages.database.ok()
        sent = self.sender.metrics.snapshot()
        # A line a minute only while there is something to say (reminders posted, messages
        # sent since the last line), and on the first tick that gets through after a start
        # or an outage; an idle minute is a debug line (issue #15 item 7: `make run`).
        busy = totals.posted or totals.superseded or totals.deliveries or requeued
        level = logging.INFO if busy or sent != self._ticked else logging.DEBUG
        self._ticked = sent
        log.log(
            level,
            "push.tick",
            examined=totals.examined,
            posted=totals.posted,
            superseded=totals.superseded,
            deliveries=totals.deliveries,
            sent=sent,
        )
        return True

    # Running

    async def run(self, *, drain: bool = False, with_tick: bool = True) -> None:
        """Work until stop() (or, with drain, until the queue is empty), through outages."""
        quiet = _QuietPgqueuer(self.outages)
        logging.getLogger("pgqueuer").addFilter(quiet)
        try:
            await self._run(drain=drain, with_tick=with_tick)
        except Stopping:
            pass
        finally:
            logging.getLogger("pgqueuer").removeFilter(quiet)

    async def _run(self, *, drain: bool, with_tick: bool) -> None:
        log.info(
            "push.worker_started",
            worker=str(self.id),
            lease_seconds=self.settings.push_lease_seconds,
            jobs_at_once=self.jobs_at_once,
        )
        if not self.queue.transactional:  # a fresh in-memory queue is empty
            await self._database(lambda: self.requeue_overdue(grace=timedelta(0)), self._stopping)
        # Do not wait for the first full minute; if the database is out now, tick as soon as
        # the queue is connected again. On PostgreSQL that first tick runs beside the queue:
        # the jobs of each page it plans go out while it plans the next (issue #14); the
        # in-memory queue and a drain run it first.
        beside = self.queue.transactional and not drain
        ticked = not with_tick or (not beside and await self.tick())
        backoff = Backoff()
        while not self._stopping.is_set():
            try:
                connection = await self.connect()
            except Exception as exc:
                if self.outages.failed(exc, during="connecting the queue") is None:
                    raise
                await pause(backoff.next_delay(), self._stopping)
                continue
            self.attach(connection.pgq)
            first_tick: asyncio.Task[bool] | None = None
            if not ticked:
                if beside:
                    first_tick = asyncio.create_task(self.tick(), name="push-first-tick")
                else:
                    ticked = await self.tick()
            try:
                await self._run_queue(connection, drain=drain, with_tick=with_tick)
                if connection.lost.is_set() and not self._stopping.is_set():
                    raise ConnectionError("the job queue's database connection was lost")
            except Exception as exc:
                if not _transient(exc):
                    raise
                self.outages.failed(exc, during="the queue")
                await pause(backoff.next_delay(), self._stopping)
                continue
            finally:
                if first_tick is not None:
                    ticked = await _finish(first_tick)
                await connection.close()
            return  # stopped, or drained

    async def _run_queue(
        self, connection: QueueConnection, *, drain: bool, with_tick: bool
    ) -> None:
        pgq = connection.pgq
        pgq.shutdown.clear()
        if self._stopping.is_set():
            return
        self.outages.database.ok()  # connected
        lease = timedelta(seconds=self.settings.push_lease_seconds)
        options = {
            # Also how soon a listener that went silent (a partition) is noticed.
            "dequeue_timeout": timedelta(seconds=5 if drain else 10),
            # Bounded claims: one job per dequeue, and only as many at once as keep the
            # sender busy; the rest stay queued for other workers.
            "batch_size": 1,
            "max_concurrent_tasks": self.jobs_at_once,
            "mode": QueueExecutionMode.drain if drain else QueueExecutionMode.continuous,
            # A dead worker's jobs go back to the queue on pgqueuer's side too.
            "heartbeat_timeout": lease,
            # A listener that stops answering ends the run; a new connection replaces it.
            "shutdown_on_listener_failure": True,
        }
        if with_tick:
            await pgq.run(**options)  # type: ignore[arg-type]
        else:
            await pgq.qm.run(**options)  # type: ignore[arg-type]

    @property
    def jobs_at_once(self) -> int:
        """Enough jobs for every send slot with one job in reserve (pgqueuer: at least 2)."""
        return max(2, math.ceil(2 * self.settings.push_concurrency / self.job_size))

    def stop(self) -> None:
        """Finish what is in hand and stop (the signal handlers call this)."""
        self._stopping.set()
        if self.pgq is not None:
            self.pgq.shutdown.set()
        asyncio.get_running_loop().call_later(RECORD_GRACE_SECONDS, self._abandon.set)

    async def _database(self, operation: Callable[[], Awaitable[T]], stopping: asyncio.Event) -> T:
        return await until_available(operation, self.outages, stopping=stopping)


async def _finish(tick: asyncio.Task[bool]) -> bool:
    """The first tick's outcome once the queue run it ran beside has ended (cancelled if still
    planning: the next run or minute takes up what is left)."""
    if not tick.done():
        tick.cancel()
    try:
        return await tick
    except asyncio.CancelledError:
        return False


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, FailingListenerError) or unavailable(exc) is not None


class _QuietPgqueuer(logging.Filter):
    """pgqueuer logs each failed heartbeat, flush and dequeue of an outage (with a traceback);
    the worker logs the outage once (api/outages.py), so those are dropped."""

    def __init__(self, outages: Outages) -> None:
        super().__init__()
        self._outages = outages

    def filter(self, record: logging.LogRecord) -> bool:
        if self._outages.database.down:
            return False
        error = record.exc_info[1] if record.exc_info else None
        return error is None or not _transient(error)


class _Lease:
    """This worker's hold on one job's deliveries while they are unrecorded: renewed every
    third of the lease; `holds` says whether sending one is still safe."""

    def __init__(self, worker: PushWorker, claimed: Sequence[Claimed]) -> None:
        self._worker = worker
        self._seconds = worker.settings.push_lease_seconds
        self._ids = {c.id for c in claimed}
        self._safe_until = time.monotonic() + SAFE_SHARE * self._seconds
        self._done = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def holds(self, delivery_id: uuid.UUID) -> bool:
        return delivery_id in self._ids and time.monotonic() < self._safe_until

    def release(self, ids: Sequence[uuid.UUID]) -> None:
        """Recorded: nothing left to hold."""
        self._ids.difference_update(ids)

    async def __aenter__(self) -> _Lease:
        self._task = asyncio.create_task(self._beat(), name="push-lease")
        return self

    async def __aexit__(self, *_: object) -> None:
        self._done.set()
        if self._task is not None:
            await self._task

    async def _beat(self) -> None:
        while self._ids:
            try:
                await pause(self._seconds / 3, self._done)
            except Stopping:
                return
            renewed_at = time.monotonic()
            try:
                held = await self._worker._renew(list(self._ids))
            except Exception as exc:
                if self._worker.outages.failed(exc, during="lease renewal") is None:
                    log.exception("push.lease_renewal_failed")
                continue  # not renewed: sending stops when the safe part of the lease ends
            self._worker.outages.database.ok()
            lost = self._ids - held
            if lost:
                log.warning("push.lease_lost", deliveries=len(lost))
                self._ids &= held
            self._safe_until = renewed_at + SAFE_SHARE * self._seconds


class _Recorder:
    """Writes outcomes as they come: one write at a time, taking everything that arrived
    while the previous one ran; through an outage it waits, then writes."""

    def __init__(self, worker: PushWorker, lease: _Lease) -> None:
        self._worker = worker
        self._lease = lease
        self._pending: list[tuple[Claimed, SendResult]] = []
        self.answered: set[uuid.UUID] = set()
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    def add(self, claimed: Claimed, result: SendResult) -> None:
        self.answered.add(claimed.id)
        self._pending.append((claimed, result))
        self._wake.set()

    async def __aenter__(self) -> _Recorder:
        self._task = asyncio.create_task(self._run(), name="push-recorder")
        return self

    async def __aexit__(self, *_: object) -> None:
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    await self._worker._database(
                        partial(self._worker._record, batch), self._worker._abandon
                    )
                except Stopping:
                    # Stopped while the database is out: these were sent and not recorded;
                    # their leases run out and they go again (at least once).
                    log.warning("push.results_unrecorded", deliveries=len(batch))
                    return
                self._lease.release([claimed.id for claimed, _ in batch])
            if self._closing:
                return
