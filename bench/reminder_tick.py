"""The steady minute tick at scale (issue #14): N persons (1,000,000 by default), two open
deadlines each, nothing due. A tick should cost what is due, not what is stored.

- Data (plain SQL on a scratch PostgreSQL database, migrated by this tree): N persons with
  reminder preferences and 2N open deadlines due in 40-70 days, each already planned (its next
  check at its first reminder, days away), and N deliveries of yesterday, all delivered: a
  day between two busy days.
- Measured: the real tick (`PushWorker.scan` and `requeue_overdue`, this code, over its own
  connection pool) timed over repeated ticks, and `EXPLAIN (ANALYZE, BUFFERS)` of the statements
  it runs, whose execution times are the tick's database time.
- Baseline, same run, same data: reading the open deadlines within the reminder horizon (what
  the tick before #14 walked every minute, joined with persons, reminder preferences and its
  checks table; this counts only the deadlines and persons, so it is a floor of that cost).

    .venv/bin/python bench/reminder_tick.py                 # 1,000,000 persons (~2 minutes)
    .venv/bin/python bench/reminder_tick.py --persons 100000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

# Run as a script: the repository root (for `bench.*`) is not on sys.path by itself, and it
# must come before bench/, whose forms.py would shadow forms/.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg

from api.database import create_engine, create_session_factory, utcnow
from api.migrate import upgrade
from api.settings import load_settings
from bench.reminders import SERVER, persons_sql
from bench.scratch import postgres_database
from notifications.jobs import asyncpg_dsn, memory_queuer
from notifications.runtime import PushRuntime
from notifications.worker import PushWorker


def _seed_sql(persons: int) -> list[str]:
    return [
        *persons_sql(persons),
        """INSERT INTO deadlines (id, person_id, ref, kind, due_at, description, completed_at,
              next_reminder_check_at)
            SELECT gen_random_uuid(), id, ref, 'payment', due, 'Pay the monthly amount.', NULL,
              due - interval '3 days'
            FROM persons,
              LATERAL (SELECT 'payment-' || n AS ref,
                              now() + interval '40 days' + (random() * 30) * interval '1 day'
                                AS due
                       FROM generate_series(1, 2) n) AS d""",
        # Yesterday's pushes, one per person, all delivered: the history the sweep must skip.
        """INSERT INTO push_deliveries (id, person_id, status, attempts, next_attempt_at,
              last_status_code, created_at, updated_at, delivered_at)
            SELECT gen_random_uuid(), id, 'delivered', 1, now() - interval '1 day', 201,
              now() - interval '1 day', now() - interval '1 day', now() - interval '1 day'
            FROM persons""",
        "VACUUM ANALYZE",
    ]


async def _measure(url: str, persons: int, ticks: int) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        started = time.perf_counter()
        for statement in _seed_sql(persons):
            await conn.execute(statement)
        seeded = time.perf_counter() - started
        deadlines = await conn.fetchval("SELECT count(*) FROM deadlines")
        print(f"seeded {persons:,} persons, {deadlines:,} open deadlines in {seeded:.0f} s")

        settings = load_settings({**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "WARNING"})
        engine = create_engine(settings.database_url, timeouts=settings, custom_plans=True)
        factory = create_session_factory(engine)
        runtime = PushRuntime(settings, factory)
        connect, queue = memory_queuer()  # a tick with nothing due queues nothing
        worker = PushWorker(
            settings=settings,
            session_factory=factory,
            sender=await runtime.sender(),
            queue=queue,
            connect=connect,
        )
        try:
            await worker.scan()  # warm the pool and the statement caches
            times = []
            for _ in range(ticks):
                started = time.perf_counter()
                totals = await worker.scan()
                await worker.requeue_overdue()
                times.append((time.perf_counter() - started) * 1000)
                if totals.examined:
                    raise RuntimeError(f"something was due: {totals}")
        finally:
            await runtime.close()
            await engine.dispose()

        now = utcnow()
        # The statements of a tick with nothing due: the page read (notifications/scheduler.py)
        # and the overdue sweep (notifications/deliveries.py), with the same conditions.
        page = await _explain(
            conn,
            """SELECT d.id FROM deadlines d JOIN persons p ON p.id = d.person_id
               LEFT JOIN reminder_preferences r ON r.person_id = d.person_id
               WHERE d.next_reminder_check_at <= $1
               ORDER BY d.next_reminder_check_at LIMIT 500 FOR UPDATE OF d SKIP LOCKED""",
            now,
        )
        sweep = await _explain(
            conn,
            """SELECT id FROM push_deliveries
               WHERE status = 'pending'
                     AND next_attempt_at <= $1::timestamptz - interval '15 minutes'
                  OR status = 'sending' AND lease_until < $1
               ORDER BY next_attempt_at LIMIT 10000""",
            now,
        )
        baseline = await _explain(
            conn,
            """SELECT count(*) FROM deadlines d JOIN persons p ON p.id = d.person_id
               WHERE d.completed_at IS NULL AND d.due_at > $1
                 AND d.due_at <= $1::timestamptz + interval '62 days'""",
            now,
        )
    finally:
        await conn.close()

    database_ms = page[0] + sweep[0]
    print()
    print(f"tick with nothing due, {persons:,} persons ({deadlines:,} open deadlines):")
    print(
        f"  whole tick (this code, {ticks} ticks, round trips included): median "
        f"{statistics.median(times):.1f} ms, max {max(times):.1f} ms"
    )
    print(
        f"  database time (EXPLAIN ANALYZE execution): page read {page[0]:.3f} ms + overdue "
        f"sweep {sweep[0]:.3f} ms = {database_ms:.3f} ms (target < 50 ms)"
    )
    print(
        f"  baseline, reading the open deadlines in the horizon (a floor of the tick before "
        f"#14): {baseline[0]:.0f} ms = {baseline[0] / max(database_ms, 0.001):,.0f}x"
    )
    print()
    for title, (_, plan) in (("page read", page), ("overdue sweep", sweep)):
        print(f"EXPLAIN (ANALYZE, BUFFERS), {title}:")
        print("\n".join(f"    {line}" for line in plan))


async def _explain(conn: Any, sql: str, *args: object) -> tuple[float, list[str]]:
    """Execution time in ms (the best of five, warm) and the plan of the last run."""
    best, plan = float("inf"), []
    for _ in range(5):
        async with conn.transaction():
            rows = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", *args)
        plan = [r[0] for r in rows]
        executed = next(line for line in plan if line.startswith("Execution Time"))
        best = min(best, float(executed.split()[2]))
    return best, plan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--ticks", type=int, default=20)
    parser.add_argument("--database", default="duo_bench_reminder_tick")
    args = parser.parse_args()
    database = postgres_database(SERVER, args.database)
    try:
        upgrade(database.url)
        asyncio.run(_measure(database.url, args.persons, args.ticks))
    finally:
        database.drop()


if __name__ == "__main__":
    main()
