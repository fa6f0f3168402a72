"""`duo-abroad import` at a million lines: lines/s per stage, the idempotent second pass, and two
baselines measured in the same run.

What it does, per database (a temporary SQLite file, and PostgreSQL with --database-url):
  1. generates a JSON Lines file of demo persons and their records (records/demo.py, every
     record type, diplomas with their results) until it holds --lines lines (default 1,000,000);
  2. imports it into an empty, migrated database: parse + validate (reading, msgspec decoding,
     checks, duplicate detection) and write (the database transactions) timed apart, and the
     whole pipeline;
  3. imports the same file again: nothing may change (the idempotent pass);
  4. baselines: `seed-demo` writing the same persons (no parsing, no validation: a ceiling), and
     a naive row-by-row ORM import (json.loads, one SELECT per line, ORM objects, a flush per
     line) on the first --baseline-lines lines.

Usage: .venv/bin/python bench/import.py [--lines 1000000] [--database-url URL] [--no-sqlite]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from api.database import create_engine, create_session_factory, new_id
from api.logging import configure_logging
from api.migrate import upgrade_connection
from api.settings import Settings
from bench.scratch import ScratchDatabase, postgres_database, sqlite_database
from records.demo import Bundle, make_bundle, seed_demo
from records.imports.outcome import Summary
from records.imports.service import run_import
from records.models import (
    Deadline,
    DeadlineKind,
    Diploma,
    DiplomaResult,
    EducationLevel,
    Enrolment,
    EnrolmentStatus,
    Person,
    RepaymentScheme,
    StudyFinance,
)

TODAY = date(2026, 11, 28)
NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


# --- the file ----------------------------------------------------------------------------------


def _day(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def bundle_lines(bundle: Bundle) -> Iterator[dict[str, Any]]:
    """A demo person's records as import lines."""
    p = bundle.person
    customer = p["customer_number"]
    yield {
        "type": "person",
        "customerNumber": customer,
        "givenNames": p["given_names"],
        "familyName": p["family_name"],
        "dateOfBirth": _day(p["date_of_birth"]),
        "countryOfResidence": p["country_of_residence"],
        "preferredLanguage": p["preferred_language"],
        "timeZone": p["time_zone"],
    }
    for e in bundle.enrolments:
        yield {
            "type": "enrolment",
            "customerNumber": customer,
            "ref": e["ref"],
            "institution": e["institution"],
            "programme": e["programme"],
            "level": e["level"].value,
            "startDate": _day(e["start_date"]),
            "endDate": _day(e["end_date"]),
            "status": e["status"].value,
        }
    results: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for r in bundle.results:
        results[r["diploma_id"]].append(
            {"subject": r["subject"], "grade": r["grade"], "credits": r["credits"]}
        )
    for d in bundle.diplomas:
        yield {
            "type": "diploma",
            "customerNumber": customer,
            "ref": d["ref"],
            "institution": d["institution"],
            "programme": d["programme"],
            "programmeCode": d["programme_code"],
            "level": d["level"].value,
            "awardedOn": _day(d["awarded_on"]),
            "results": results[d["id"]],
        }
    if bundle.finance is not None:
        f = bundle.finance
        yield {
            "type": "study_finance",
            "customerNumber": customer,
            "debtCents": f["debt_cents"],
            "repaymentScheme": f["repayment_scheme"].value,
            "monthlyAmountCents": f["monthly_amount_cents"],
            "interestRateBasisPoints": f["interest_rate_basis_points"],
            "nextDueDate": _day(f["next_due_date"]),
        }
    for dl in bundle.deadlines:
        yield {
            "type": "deadline",
            "customerNumber": customer,
            "ref": dl["ref"],
            "kind": dl["kind"].value,
            "dueAt": dl["due_at"].isoformat(),
            "description": dl["description"],
        }


def generate(path: Path, lines: int) -> tuple[int, int]:
    """Write demo persons' lines until `lines`; returns (persons, lines) written."""
    encode = msgspec.json.Encoder().encode
    written = persons = 0
    with path.open("wb") as out:
        while written < lines:
            persons += 1
            for line in bundle_lines(make_bundle(persons, today=TODAY)):
                out.write(encode(line) + b"\n")
                written += 1
    return persons, written


# --- a naive importer, the baseline ------------------------------------------------------------


async def naive_import(factory: async_sessionmaker[AsyncSession], path: Path, limit: int) -> float:
    """What a first version would do: per line json.loads, SELECTs, ORM objects, a flush."""
    started = time.perf_counter()
    with path.open("rb") as source:
        async with factory() as db:
            for number, raw in enumerate(source):
                if number == limit:
                    break
                await _naive_line(db, json.loads(raw))
                await db.flush()
                if number % 1000 == 999:
                    await db.commit()
            await db.commit()
    return time.perf_counter() - started


async def _naive_line(db: AsyncSession, data: dict[str, Any]) -> None:
    kind = data["type"]
    person = await db.scalar(select(Person).where(Person.customer_number == data["customerNumber"]))
    if kind == "person":
        values = {
            "given_names": data["givenNames"],
            "family_name": data["familyName"],
            "date_of_birth": date.fromisoformat(data["dateOfBirth"]),
            "country_of_residence": data["countryOfResidence"],
        }
        if person is None:
            db.add(
                Person(
                    id=new_id(),
                    customer_number=data["customerNumber"],
                    preferred_language=data["preferredLanguage"],
                    time_zone=data["timeZone"],
                    created_at=NOW,
                    **values,
                )
            )
        else:
            for name, value in values.items():
                setattr(person, name, value)
        return
    assert person is not None
    if kind == "enrolment":
        values = {
            "institution": data["institution"],
            "programme": data["programme"],
            "level": EducationLevel(data["level"]),
            "start_date": date.fromisoformat(data["startDate"]),
            "end_date": date.fromisoformat(data["endDate"]) if data["endDate"] else None,
            "status": EnrolmentStatus(data["status"]),
        }
        await _naive_upsert(db, Enrolment, person.id, data["ref"], values)
    elif kind == "deadline":
        values = {
            "kind": DeadlineKind(data["kind"]),
            "due_at": datetime.fromisoformat(data["dueAt"]),
            "description": data["description"],
            "completed_at": None,
        }
        await _naive_upsert(db, Deadline, person.id, data["ref"], values)
    elif kind == "diploma":
        diploma = await db.scalar(
            select(Diploma)
            .where(Diploma.person_id == person.id, Diploma.ref == data["ref"])
            .options(selectinload(Diploma.results))
        )
        if diploma is None:
            diploma = Diploma(id=new_id(), person_id=person.id, ref=data["ref"])
            db.add(diploma)
        diploma.institution = data["institution"]
        diploma.programme = data["programme"]
        diploma.programme_code = data["programmeCode"]
        diploma.level = EducationLevel(data["level"])
        diploma.awarded_on = date.fromisoformat(data["awardedOn"])
        stored = {r.position: r for r in diploma.results}  # a new diploma: none, no SQL
        for position, result in enumerate(data["results"]):
            row = stored.pop(position, None)
            if row is None:
                row = DiplomaResult(id=new_id(), diploma_id=diploma.id, position=position)
                db.add(row)
            row.subject, row.grade, row.credits = (
                result["subject"],
                result["grade"],
                result["credits"],
            )
        for row in stored.values():
            await db.delete(row)
    elif kind == "study_finance":
        finance = await db.get(StudyFinance, person.id)
        if finance is None:
            finance = StudyFinance(person_id=person.id)
            db.add(finance)
        finance.debt_cents = data["debtCents"]
        finance.repayment_scheme = RepaymentScheme(data["repaymentScheme"])
        finance.monthly_amount_cents = data["monthlyAmountCents"]
        finance.interest_rate_basis_points = data["interestRateBasisPoints"]
        finance.next_due_date = date.fromisoformat(data["nextDueDate"])
        finance.updated_at = NOW


async def _naive_upsert(
    db: AsyncSession, model: Any, person_id: Any, ref: str, values: dict[str, Any]
) -> None:
    row = await db.scalar(select(model).where(model.person_id == person_id, model.ref == ref))
    if row is None:
        db.add(model(id=new_id(), person_id=person_id, ref=ref, **values))
    else:
        for name, value in values.items():
            setattr(row, name, value)


# --- measuring ---------------------------------------------------------------------------------


async def migrated(url: str) -> Any:
    engine = create_engine(url)
    async with engine.begin() as conn:
        await upgrade_connection(conn)
    return engine


def stages(label: str, summary: Summary) -> None:
    lines = summary.lines
    reading = summary.seconds - summary.write_seconds
    total = summary.total
    print(
        f"  {label:<22}{lines:>10,} lines {summary.seconds:7.1f} s "
        f"{lines / summary.seconds:>9,.0f} lines/s   "
        f"parse+validate {lines / reading:>9,.0f}/s   write {_rate(lines, summary.write_seconds)}"
        f"   changed {total.changed:,}, unchanged {total.unchanged:,}, rejected {total.rejected:,}"
    )


def _rate(lines: int, seconds: float) -> str:
    return f"{lines / seconds:>9,.0f}/s" if seconds > 0 else "        -"


async def bench(database: ScratchDatabase, base: ScratchDatabase, path: Path, args: Any) -> None:
    persons, lines = args.persons, args.lines_written
    print(f"\n{database.description}")
    engine = await migrated(database.url)
    try:
        factory = create_session_factory(engine)
        with path.open("rb") as source:
            first = await run_import(factory, source, now=NOW)
        stages("import (empty db)", first)
        with path.open("rb") as source:
            again = await run_import(factory, source, now=NOW)
        stages("same file again", again)
        assert again.total.changed == 0, "an unchanged file must change nothing"
        assert first.total.rejected == 0
    finally:
        await engine.dispose()

    engine = await migrated(base.url)
    try:
        factory = create_session_factory(engine)
        started = time.perf_counter()
        async with factory() as db:
            await seed_demo(db, persons=persons, today=TODAY)
        seeded = time.perf_counter() - started
        naive = await naive_import(factory, path, args.baseline_lines)
    finally:
        await engine.dispose()
    print(
        f"  {'baseline seed-demo':<22}{lines:>10,} lines {seeded:7.1f} s "
        f"{lines / seeded:>9,.0f} lines/s   (the same {persons:,} persons as rows, no parsing or "
        "checks; plus an inbox message each)"
    )
    print(
        f"  {'baseline naive ORM':<22}{args.baseline_lines:>10,} lines {naive:7.1f} s "
        f"{args.baseline_lines / naive:>9,.0f} lines/s   (first lines of the file, row by row)"
    )
    ratio = (first.lines / first.seconds) / (args.baseline_lines / naive)
    print(
        f"  import / naive ORM: {ratio:.1f}x;  1,000,000 lines ≈ "
        f"{1_000_000 / (first.lines / first.seconds) / 60:.1f} min (first import), "
        f"{1_000_000 / (again.lines / again.seconds) / 60:.1f} min (again)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--baseline-lines", type=int, default=20_000)
    parser.add_argument(
        "--database-url",
        help="a postgresql+asyncpg:// server URL: the bench creates and drops its own databases "
        "duo_bench_import and duo_bench_import_base there",
    )
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    args = parser.parse_args()
    configure_logging(Settings(environment="test", log_level="WARNING"))

    with tempfile.TemporaryDirectory(prefix="duo-bench-import-") as directory:
        path = Path(directory) / "records.jsonl"
        started = time.perf_counter()
        args.persons, args.lines_written = generate(path, args.lines)
        size = path.stat().st_size
        print(
            f"generated {args.lines_written:,} lines ({args.persons:,} persons, "
            f"{size / 1e6:,.0f} MB) in {time.perf_counter() - started:.1f} s"
        )
        targets: list[tuple[ScratchDatabase, ScratchDatabase]] = []
        if args.database_url:
            targets.append(
                (
                    postgres_database(args.database_url, "duo_bench_import"),
                    postgres_database(args.database_url, "duo_bench_import_base"),
                )
            )
        if not args.no_sqlite:
            targets.append(
                (sqlite_database("duo-bench-import-"), sqlite_database("duo-bench-base-"))
            )
        for database, base in targets:
            try:
                asyncio.run(bench(database, base, path, args))
            finally:
                database.drop()
                base.drop()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak memory of this process: {peak:,.0f} MB (the file is streamed, not loaded)")


if __name__ == "__main__":
    main()
