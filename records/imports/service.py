"""Importing records from a JSON Lines file (README: "Importing records"): stream, validate,
and write in batches.

`run_import` reads the file a line at a time and owns the transactions, one per batch of lines,
so memory stays flat and an interrupted import keeps what it committed (running the same file
again finishes it: an import is idempotent). records/imports/writes.py writes a batch.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import datetime
from typing import BinaryIO

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.database import begin_write, utcnow
from records.imports.lines import Line, Problem, decode, key, peek_type, record_type
from records.imports.outcome import BatchOutcome, Rejection, Summary
from records.imports.seen import SeenKeys
from records.imports.writes import apply_batch

log = structlog.get_logger("records.import")

BATCH_LINES = 5000
MAX_LINE_BYTES = 256 * 1024
# Rows inserted by this import after which PostgreSQL's statistics are refreshed; doubled each
# time (see _refresh_statistics).
FIRST_ANALYZE_ROWS = 10_000
ANALYZED_TABLES = (
    "persons",
    "enrolments",
    "diplomas",
    "diploma_results",
    "study_finance",
    "deadlines",
)
# One import writes at a time (two would both insert the same new record); the number is
# arbitrary but fixed, pg_advisory_xact_lock's key space being shared by the whole database.
IMPORT_LOCK = 7_301_130_001


class ImportInterrupted(Exception):
    """The database failed while writing a batch: lines before `line` are committed."""

    def __init__(self, summary: Summary, line: int) -> None:
        super().__init__(f"import stopped at line {line}")
        self.summary = summary
        self.line = line


# --- reading -----------------------------------------------------------------------------------


def read_lines(source: BinaryIO, *, max_bytes: int) -> Iterator[tuple[int, bytes | None, int]]:
    """(line number, the line or None when longer than max_bytes, bytes consumed)."""
    number = 0
    while raw := source.readline(max_bytes + 1):
        number += 1
        consumed = len(raw)
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]  # a UTF-8 byte order mark, as some Windows tools write
        if len(raw) > max_bytes and not raw.endswith(b"\n"):
            # Never hold an over-long line: skip to its end in small reads.
            while rest := source.readline(65536):
                consumed += len(rest)
                if rest.endswith(b"\n"):
                    break
            yield number, None, consumed
            continue
        yield number, raw, consumed


async def run_import(
    session_factory: async_sessionmaker[AsyncSession],
    source: BinaryIO,
    *,
    now: datetime | None = None,
    on_rejection: Callable[[Rejection], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
    on_batch: Callable[[Summary], Awaitable[None]] | None = None,
    batch_lines: int = BATCH_LINES,
    max_line_bytes: int = MAX_LINE_BYTES,
) -> Summary:
    """Import every line of `source`; rejections go to `on_rejection` in line order,
    `on_progress` hears how many more bytes were read, `on_batch` what has been done after each
    committed batch. Commits once per batch."""
    now = now or utcnow()
    today = now.date()
    summary = Summary()
    seen = SeenKeys()
    batch: list[tuple[int, Line]] = []
    refused = BatchOutcome()  # lines refused while reading the current batch
    read = 0
    analyze_at = FIRST_ANALYZE_ROWS

    async def flush() -> None:
        nonlocal refused, read, analyze_at
        outcome = BatchOutcome()
        unique = _first_of_each(batch, seen, outcome)
        if unique:
            started = time.perf_counter()
            try:
                async with session_factory() as db:
                    await _lock(db)
                    outcome = await apply_batch(db, unique, now=now, outcome=outcome)
                    await db.commit()
            except Exception as exc:
                raise ImportInterrupted(summary, line=batch[0][0]) from exc
            if summary.total.inserted + outcome_inserted(outcome) >= analyze_at:
                await _refresh_statistics(session_factory)
                analyze_at *= 2
            summary.write_seconds += time.perf_counter() - started
        for name, counts in (*refused.counts.items(), *outcome.counts.items()):
            summary.counts[name].add(counts)
        summary.replanned += outcome.replanned
        if on_rejection is not None:
            for rejection in sorted((*refused.rejections, *outcome.rejections), key=_by_line):
                on_rejection(rejection)
        if on_progress is not None and read:
            on_progress(read)
        batch.clear()
        refused, read = BatchOutcome(), 0
        if on_batch is not None:
            await on_batch(summary)

    began = time.perf_counter()
    try:
        for number, raw, consumed in read_lines(source, max_bytes=max_line_bytes):
            read += consumed
            if raw is None:
                summary.lines += 1
                detail = f"longer than {max_line_bytes} bytes"
                refused.reject(number, None, Problem("", "LINE_TOO_LONG", detail))
            elif raw.strip():
                summary.lines += 1
                decoded = decode(raw, today=today)
                if isinstance(decoded, Problem):
                    refused.reject(number, peek_type(raw), decoded)
                else:
                    batch.append((number, decoded))
            if len(batch) >= batch_lines or len(refused.rejections) >= batch_lines:
                await flush()
        await flush()
    finally:
        seen.close()
        summary.seconds = time.perf_counter() - began
    total = summary.total
    log.info(
        "records.import.done",
        lines=summary.lines,
        inserted=total.inserted,
        updated=total.updated,
        unchanged=total.unchanged,
        deleted=total.deleted,
        rejected=total.rejected,
        replanned=summary.replanned,
        seconds=round(summary.seconds, 1),
    )
    return summary


def outcome_inserted(outcome: BatchOutcome) -> int:
    return sum(counts.inserted for counts in outcome.counts.values())


async def _refresh_statistics(session_factory: async_sessionmaker[AsyncSession]) -> None:
    """PostgreSQL plans each batch's lookups from table statistics, which autovacuum refreshes
    only now and then: a large import outruns it, the planner keeps believing the tables are
    nearly empty, picks sequential scans, and the import slows down with the square of its size
    (measured: bench/import.py). Analyzing whenever the import has doubled what it inserted
    keeps them index lookups, at log2(n) short ANALYZEs per import."""
    async with session_factory() as db:
        if db.get_bind().dialect.name != "postgresql":
            return
        await db.execute(text(f"ANALYZE {', '.join(ANALYZED_TABLES)}"))
        await db.commit()


def _by_line(rejection: Rejection) -> int:
    return rejection.line


def _first_of_each(
    batch: Sequence[tuple[int, Line]], seen: SeenKeys, outcome: BatchOutcome
) -> list[tuple[int, Line]]:
    """The batch without lines whose record an earlier line of the file already named."""
    first: dict[str, int] = {}
    keys: list[str] = []
    for number, line in batch:
        line_key = key(line)
        keys.append(line_key)
        first.setdefault(line_key, number)
    earlier = seen.add(list(first.items()))
    unique = []
    for (number, line), line_key in zip(batch, keys, strict=True):
        before = earlier.get(line_key) or (first[line_key] if first[line_key] < number else None)
        if before is None:
            unique.append((number, line))
        else:
            problem = Problem(_key_field(line), "DUPLICATE", f"same record as line {before}")
            outcome.reject(number, record_type(line), problem)
    return unique


def _key_field(line: Line) -> str:
    return "ref" if getattr(line, "ref", None) else "customerNumber"


async def _lock(db: AsyncSession) -> None:
    # One batch at a time across processes: PostgreSQL by an advisory lock held until commit,
    # SQLite by taking the write lock up front.
    if db.get_bind().dialect.name == "postgresql":
        await db.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": IMPORT_LOCK})
    else:
        await begin_write(db)
