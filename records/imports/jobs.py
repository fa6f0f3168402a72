"""Imports that staff start over HTTP: the uploaded file is kept under IMPORT_DIR and imported in
the background by the server process that received it; its row in record_imports says how far
it got, and the rejected lines go to a CSV report beside the file.

A process that stops mid-import leaves a `running` row whose heartbeat no longer moves: after
STALE_AFTER it counts as interrupted and staff can run it again, which is safe because an import
is idempotent (what was committed stays, the rest follows).
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import BinaryIO, TextIO

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.database import utcnow
from api.errors import DomainError, NotFound
from records.imports.outcome import Summary
from records.imports.report import ReportWriter
from records.imports.service import ImportInterrupted, run_import
from records.models import ImportStatus, RecordImport

log = structlog.get_logger("records.import")

# A running import moves its heartbeat with every batch (seconds apart); this long without one,
# the process that ran it is gone.
STALE_AFTER = timedelta(minutes=10)
LISTED = 50
RUNNER_STATE_KEY = "record_imports"  # where create_app keeps the ImportRunner


class ImportStillRunning(DomainError):
    """Only a finished, failed or interrupted import can be run again."""

    code = "CONFLICT"

    def __init__(self) -> None:
        super().__init__("This import is still running.", field="id")


def data_path(directory: Path, import_id: uuid.UUID) -> Path:
    return directory / f"{import_id}.jsonl"


def report_path(directory: Path, import_id: uuid.UUID) -> Path:
    return directory / f"{import_id}-rejected.csv"


def is_interrupted(row: RecordImport, *, now: datetime) -> bool:
    if row.status not in (ImportStatus.QUEUED, ImportStatus.RUNNING):
        return False
    last_sign = row.heartbeat_at or row.created_at
    return last_sign < now - STALE_AFTER


async def create_import(
    db: AsyncSession,
    *,
    import_id: uuid.UUID,
    staff_id: uuid.UUID,
    staff_name: str,
    file_name: str,
    size: int,
    sha256: str,
    now: datetime | None = None,
) -> RecordImport:
    """Record an uploaded file (already stored at data_path) as a queued import."""
    now = now or utcnow()
    row = RecordImport(
        id=import_id,
        staff_id=staff_id,
        staff_name=staff_name[:100],
        file_name=file_name[:255],
        size=size,
        sha256=sha256,
        status=ImportStatus.QUEUED,
        bytes_read=0,
        lines=0,
        changed=0,
        rejected=0,
        created_at=now,
        heartbeat_at=now,
    )
    db.add(row)
    await db.flush()
    return row


async def list_imports(db: AsyncSession, *, limit: int = LISTED) -> Sequence[RecordImport]:
    stmt = select(RecordImport).order_by(RecordImport.created_at.desc()).limit(limit)
    return (await db.scalars(stmt)).all()


async def get_import(db: AsyncSession, import_id: uuid.UUID) -> RecordImport:
    row = await db.get(RecordImport, import_id, populate_existing=True)
    if row is None:
        raise NotFound("No such import.", field="id")
    return row


async def queue_again(
    db: AsyncSession, import_id: uuid.UUID, *, now: datetime | None = None
) -> RecordImport:
    """Put a finished, failed or interrupted import back in the queue (the same file)."""
    now = now or utcnow()
    row = await get_import(db, import_id)
    if row.status in (ImportStatus.QUEUED, ImportStatus.RUNNING) and not is_interrupted(
        row, now=now
    ):
        raise ImportStillRunning()
    row.status = ImportStatus.QUEUED
    row.error = None
    row.heartbeat_at = now
    row.finished_at = None
    await db.flush()
    return row


def _counts(summary: Summary) -> dict[str, dict[str, int]]:
    return {
        name: dataclasses.asdict(counts)
        for name, counts in summary.counts.items()
        if dataclasses.astuple(counts) != (0, 0, 0, 0, 0)
    }


def _open(directory: Path, import_id: uuid.UUID) -> tuple[BinaryIO, TextIO]:
    source = data_path(directory, import_id).open("rb")
    try:
        report = report_path(directory, import_id).open("w", encoding="utf-8", newline="")
    except OSError:
        source.close()
        raise
    return source, report


class ImportRunner:
    """Runs imports as tasks of this process; holds them so that shutdown can stop them."""

    def __init__(self, session_factory: async_sessionmaker[AsyncSession], directory: Path) -> None:
        self.session_factory = session_factory
        self.directory = directory
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, import_id: uuid.UUID) -> None:
        task = asyncio.create_task(self.run(import_id), name=f"records-import-{import_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait(self) -> None:
        """Until every import started here has ended (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        # A cancelled import keeps its committed batches; its heartbeat stops, so staff see it
        # as interrupted after STALE_AFTER and can run it again.
        for task in self._tasks:
            task.cancel()
        await self.wait()

    async def _set(self, import_id: uuid.UUID, **values: object) -> None:
        async with self.session_factory() as db:
            await db.execute(
                update(RecordImport).where(RecordImport.id == import_id).values(**values)
            )
            await db.commit()

    async def run(self, import_id: uuid.UUID) -> None:
        """Import the stored file now; the row tells how it went."""
        now = utcnow()
        await self._set(
            import_id, status=ImportStatus.RUNNING, started_at=now, heartbeat_at=now, error=None
        )
        read = 0

        def progress(more: int) -> None:
            nonlocal read
            read += more

        async def batch(summary: Summary) -> None:
            total = summary.total
            await self._set(
                import_id,
                bytes_read=read,
                lines=summary.lines,
                changed=total.changed,
                rejected=total.rejected,
                counts=_counts(summary),
                heartbeat_at=utcnow(),
            )

        try:
            source, report = _open(self.directory, import_id)
            with source, report:
                summary = await run_import(
                    self.session_factory,
                    source,
                    on_rejection=ReportWriter(report),
                    on_progress=progress,
                    on_batch=batch,
                )
        except ImportInterrupted as exc:
            cause = exc.__cause__
            reason = f"{type(cause).__name__}: {str(cause).splitlines()[0]}" if cause else "?"
            await batch(exc.summary)
            await self._failed(import_id, f"stopped at line {exc.line}: {reason}")
            return
        except OSError as exc:
            await self._failed(import_id, f"file: {exc.strerror or exc}")
            return
        await batch(summary)
        await self._set(import_id, status=ImportStatus.DONE, finished_at=utcnow())

    async def _failed(self, import_id: uuid.UUID, error: str) -> None:
        log.warning("records.import.failed", import_id=str(import_id), error=error)
        await self._set(
            import_id, status=ImportStatus.FAILED, finished_at=utcnow(), error=error[:500]
        )
