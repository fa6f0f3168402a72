"""The planning stage alone (issue #14), on the embedded SQLite default and on PostgreSQL: how
many due reminders the scheduler posts per second, in one process, nothing sent.

Both databases get the same data through the same portable inserts: N persons in three time
zones, reminder preferences 3 and 1 days before, one deadline each whose 3-day reminder is due
(spread over an hour) and one device each. Then the scheduler's pages run until nothing is due:
reading, deciding in Python, writing reminders, inbox messages and deliveries (PostgreSQL: one
statement per page; SQLite: executemany per table). The PostgreSQL figure is the baseline: the
production path, measured in the same run.

    .venv/bin/python bench/reminder_plan.py --persons 20000
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

# Run as a script: the repository root (for `bench.*`) is not on sys.path by itself, and it
# must come before bench/, whose forms.py would shadow forms/.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert

from api.database import create_engine, create_session_factory, utcnow
from api.migrate import upgrade
from bench.reminders import SERVER
from bench.scratch import ScratchDatabase, postgres_database, sqlite_database
from notifications import scheduler
from notifications.models import PushSubscription, ReminderPreferences
from records.models import Deadline, DeadlineKind, Person

CHUNK = 5_000


async def _seed(url: str, persons: int) -> None:
    engine = create_engine(url)
    now = utcnow()
    zones = ["Europe/Amsterdam", "Asia/Jakarta", "America/New_York"]
    rows: dict[str, list[dict[str, object]]] = {"p": [], "r": [], "d": [], "s": []}
    tables = {"p": Person, "r": ReminderPreferences, "d": Deadline, "s": PushSubscription}

    async def flush() -> None:
        async with engine.begin() as conn:
            for key in ("p", "r", "d", "s"):  # persons first: the others point at them
                if rows[key]:
                    await conn.execute(insert(tables[key]), rows[key])
                    rows[key] = []

    for n in range(persons):
        person_id = uuid.uuid4()
        rows["p"].append(
            {
                "id": person_id,
                "customer_number": f"P{n:09d}",
                "given_names": "Bench",
                "family_name": f"Person {n}",
                "date_of_birth": now.date().replace(year=1995),
                "country_of_residence": "NL",
                "preferred_language": "nl" if n % 2 else "en",
                "time_zone": zones[n % 3],
            }
        )
        rows["r"].append(
            {
                "person_id": person_id,
                "kinds": [k.value for k in DeadlineKind],
                "offsets_days": [3, 1],
                "quiet_start": None,
                "quiet_end": None,
                "time_zone": None,
                "language": None,
            }
        )
        rows["d"].append(
            {
                "id": uuid.uuid4(),
                "person_id": person_id,
                "ref": "due-soon",
                "kind": DeadlineKind.INCOME_STATEMENT,
                "due_at": now + timedelta(days=2, hours=6, seconds=random.randint(0, 3600)),
                "description": "Send proof of your income of last year.",
                "completed_at": None,
            }
        )
        rows["s"].append(
            {
                "id": uuid.uuid4(),
                "person_id": person_id,
                "endpoint": f"https://push.example.net/bench/{person_id}",
                "p256dh": "B" + "A" * 86,
                "auth": "A" * 22,
                "device_name": "bench phone",
            }
        )
        if len(rows["p"]) == CHUNK:
            await flush()
    await flush()
    await engine.dispose()


async def _plan(url: str) -> tuple[int, float, float]:
    """Every due reminder posted, page by page as the worker's tick does: (posted, wall, cpu)."""
    engine = create_engine(url)
    factory = create_session_factory(engine)
    now = utcnow()
    posted = 0
    started, cpu = time.perf_counter(), time.process_time()
    while True:
        async with factory() as db:
            page = await scheduler.scan_page(db, now=now)
            await db.commit()
        posted += page.posted
        if not page.full:
            break
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    await engine.dispose()
    return posted, wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=20_000)
    args = parser.parse_args()
    results = {}
    databases: dict[str, Callable[[], ScratchDatabase]] = {
        "PostgreSQL": lambda: postgres_database(SERVER, "duo_bench_reminder_plan"),
        "SQLite": lambda: sqlite_database("duo-bench-plan-"),
    }
    for label, make in databases.items():
        database = make()
        try:
            upgrade(database.url)
            asyncio.run(_seed(database.url, args.persons))
            results[label] = asyncio.run(_plan(database.url))
        finally:
            database.drop()
        posted, wall, cpu = results[label]
        print(
            f"{label:<11} {posted:,} reminders posted in {wall:.1f} s = "
            f"{posted / wall:,.0f}/s (this process's CPU {cpu:.1f} s)",
            flush=True,
        )
    pg, lite = results["PostgreSQL"], results["SQLite"]
    print(
        f"planning stage alone, {args.persons:,} due: SQLite takes "
        f"{lite[1] / pg[1]:.1f}x PostgreSQL's time (baseline: PostgreSQL, same run)"
    )


if __name__ == "__main__":
    main()
