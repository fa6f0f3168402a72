"""Writing one batch of valid import lines: compare with what is stored, write what differs.

Per batch and record type, one SELECT reads the stored rows of the persons concerned; the
comparison happens here; then one statement per kind of change: INSERT (COPY on PostgreSQL for
larger batches), an executemany UPDATE by primary key, one DELETE. A line that changes nothing
writes nothing, so re-importing a file leaves every row (and every reminder plan) alone.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import Table, bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.database import Base, asyncpg_connection, new_id
from extracts.service import diplomas_with_extracts
from notifications.scheduler import plan_again
from records.imports.lines import (
    DeleteLine,
    DiplomaLine,
    Line,
    PersonLine,
    Problem,
    StudyFinanceLine,
    only_zone,
    record_type,
)
from records.imports.outcome import BatchOutcome, Counts
from records.models import (
    Deadline,
    Diploma,
    DiplomaResult,
    Enrolment,
    Person,
    StudyFinance,
)

# Below this many rows a COPY saves nothing worth its round trips.
COPY_MIN_ROWS = 200


@dataclass(frozen=True, slots=True)
class _Stored:
    id: uuid.UUID
    values: tuple[Any, ...]


PERSON_COLUMNS = ("given_names", "family_name", "date_of_birth", "country_of_residence")


async def apply_batch(
    db: AsyncSession,
    lines: Sequence[tuple[int, Line]],
    *,
    now: datetime,
    outcome: BatchOutcome | None = None,
) -> BatchOutcome:
    """Write a batch of valid lines (each record at most once); the caller commits."""
    outcome = outcome or BatchOutcome()
    customers = {line.customer_number for _, line in lines}
    people = await _stored_persons(db, customers)
    known_before = set(people)
    person_line = await _apply_persons(db, lines, people, outcome, now=now)

    by_type: dict[str, list[tuple[int, Line, uuid.UUID]]] = defaultdict(list)
    for number, line in lines:
        if isinstance(line, PersonLine):
            continue
        customer = line.customer_number
        # A person is known if stored before this batch or created by an earlier line.
        if customer in known_before or person_line.get(customer, number) < number:
            by_type[record_type(line)].append((number, line, people[customer].id))
        else:
            detail = "no such person in the database or on an earlier line"
            outcome.reject(
                number, record_type(line), Problem("customerNumber", "UNKNOWN_PERSON", detail)
            )

    enrolments = by_type["enrolment"]
    await _apply_keyed(db, Enrolment, ENROLMENT_COLUMNS, enrolments, outcome.counts["enrolment"])
    await _apply_diplomas(db, by_type["diploma"], outcome)
    await _apply_study_finance(db, by_type["study_finance"], outcome, now=now)
    deadlines = by_type["deadline"]
    changed = await _apply_keyed(
        db, Deadline, DEADLINE_COLUMNS, deadlines, outcome.counts["deadline"]
    )
    # Whatever changed about a deadline (date, kind, completion, text), its reminders are
    # planned again from scratch at the next tick.
    await plan_again(db, changed)
    outcome.replanned += len(changed)
    return outcome


async def _stored_persons(db: AsyncSession, customers: set[str]) -> dict[str, _Stored]:
    stmt = select(
        Person.customer_number, Person.id, *(getattr(Person, c) for c in PERSON_COLUMNS)
    ).where(Person.customer_number.in_(customers))
    return {row[0]: _Stored(row[1], tuple(row[2:])) for row in await db.execute(stmt)}


async def _apply_persons(
    db: AsyncSession,
    lines: Sequence[tuple[int, Line]],
    people: dict[str, _Stored],
    outcome: BatchOutcome,
    *,
    now: datetime,
) -> dict[str, int]:
    """Insert or update the batch's persons; returns {customer number: its line}."""
    counts = outcome.counts["person"]
    created: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    person_line: dict[str, int] = {}
    for number, line in lines:
        if not isinstance(line, PersonLine):
            continue
        values = (
            line.given_names,
            line.family_name,
            line.date_of_birth,
            line.country_of_residence,
        )
        stored = people.get(line.customer_number)
        if stored is None:
            zone = line.time_zone or only_zone(line.country_of_residence)
            if zone is None:
                detail = f"{line.country_of_residence} has several time zones: name one"
                outcome.reject(number, "person", Problem("timeZone", "REQUIRED", detail))
                continue
            person_id = new_id()
            created.append(
                {
                    "id": person_id,
                    "customer_number": line.customer_number,
                    **dict(zip(PERSON_COLUMNS, values, strict=True)),
                    # Initial values only: afterwards the person chooses them in the app.
                    "preferred_language": line.preferred_language or "en",
                    "time_zone": zone,
                    "created_at": now,
                }
            )
            people[line.customer_number] = _Stored(person_id, values)
            counts.inserted += 1
        elif stored.values != values:
            changed.append({"id": stored.id, **dict(zip(PERSON_COLUMNS, values, strict=True))})
            counts.updated += 1
        else:
            counts.unchanged += 1
        person_line[line.customer_number] = number
    await _insert(db, Person, created)
    await _update(db, Person, changed)
    return person_line


ENROLMENT_COLUMNS = ("institution", "programme", "level", "start_date", "end_date", "status")
DIPLOMA_COLUMNS = ("institution", "programme", "programme_code", "level", "awarded_on")
DEADLINE_COLUMNS = ("kind", "due_at", "description", "completed_at")
FINANCE_COLUMNS = (
    "debt_cents",
    "repayment_scheme",
    "monthly_amount_cents",
    "interest_rate_basis_points",
    "next_due_date",
)
RESULT_COLUMNS = ("subject", "grade", "credits")


@dataclass(slots=True)
class _Keyed:
    """A batch's lines for one record type with a ref, compared with what is stored."""

    created: list[dict[str, Any]] = field(default_factory=list)
    changed: list[dict[str, Any]] = field(default_factory=list)
    gone: list[tuple[int, uuid.UUID]] = field(default_factory=list)  # (line, id) to delete
    ids: dict[int, uuid.UUID] = field(default_factory=dict)  # line -> record id (upserts)
    existed: set[int] = field(default_factory=set)  # lines whose record was stored before
    unchanged: set[int] = field(default_factory=set)  # lines that changed nothing


async def _compare_keyed(
    db: AsyncSession,
    model: Any,
    columns: tuple[str, ...],
    lines: Sequence[tuple[int, Line, uuid.UUID]],
) -> _Keyed:
    found = _Keyed()
    if not lines:
        return found
    person_ids = {person_id for _, _, person_id in lines}
    stmt = select(
        model.person_id, model.ref, model.id, *(getattr(model, c) for c in columns)
    ).where(model.person_id.in_(person_ids))
    stored = {(row[0], row[1]): _Stored(row[2], tuple(row[3:])) for row in await db.execute(stmt)}
    for number, line, person_id in lines:
        ref = getattr(line, "ref", None)
        current = stored.get((person_id, ref))
        if isinstance(line, DeleteLine):
            if current is None:
                found.unchanged.add(number)  # already gone: deleting twice changes nothing
            else:
                found.gone.append((number, current.id))
            continue
        values = tuple(getattr(line, c) for c in columns)
        if current is None:
            record_id = new_id()
            found.created.append(
                {
                    "id": record_id,
                    "person_id": person_id,
                    "ref": ref,
                    **dict(zip(columns, values, strict=True)),
                }
            )
        else:
            record_id = current.id
            found.existed.add(number)
            if current.values != values:
                found.changed.append({"id": record_id, **dict(zip(columns, values, strict=True))})
            else:
                found.unchanged.add(number)
        found.ids[number] = record_id
    return found


async def _apply_keyed(
    db: AsyncSession,
    model: Any,
    columns: tuple[str, ...],
    lines: Sequence[tuple[int, Line, uuid.UUID]],
    counts: Counts,
) -> list[uuid.UUID]:
    """Enrolments and deadlines; returns the ids of the records updated."""
    found = await _compare_keyed(db, model, columns, lines)
    await _insert(db, model, found.created)
    await _update(db, model, found.changed)
    await _delete(db, model, [record_id for _, record_id in found.gone])
    counts.inserted += len(found.created)
    counts.updated += len(found.changed)
    counts.deleted += len(found.gone)
    counts.unchanged += len(found.unchanged)
    return [row["id"] for row in found.changed]


async def _apply_diplomas(
    db: AsyncSession, lines: Sequence[tuple[int, Line, uuid.UUID]], outcome: BatchOutcome
) -> None:
    counts = outcome.counts["diploma"]
    found = await _compare_keyed(db, Diploma, DIPLOMA_COLUMNS, lines)
    # An issued extract keeps its diploma (its status-list bit must stay meaningful).
    kept = await diplomas_with_extracts(db, {record_id for _, record_id in found.gone})
    for number, record_id in found.gone:
        if record_id in kept:
            detail = "this diploma has extracts; they must stay verifiable"
            outcome.reject(number, "diploma", Problem("ref", "HAS_EXTRACTS", detail))
    gone = [record_id for _, record_id in found.gone if record_id not in kept]

    # Results: the file's list is the whole list, compared position by position.
    by_line = {number: line for number, line, _ in lines if isinstance(line, DiplomaLine)}
    stored: dict[uuid.UUID, dict[int, _Stored]] = defaultdict(dict)
    existing = [found.ids[number] for number in found.existed]
    if existing:
        stmt = select(
            DiplomaResult.diploma_id,
            DiplomaResult.position,
            DiplomaResult.id,
            *(getattr(DiplomaResult, c) for c in RESULT_COLUMNS),
        ).where(DiplomaResult.diploma_id.in_(existing))
        for row in await db.execute(stmt):
            stored[row[0]][row[1]] = _Stored(row[2], tuple(row[3:]))
    created: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    removed: list[uuid.UUID] = []
    for number, diploma_id in found.ids.items():
        before = stored.get(diploma_id, {})
        results = by_line[number].results
        differs = False
        for position, result in enumerate(results):
            values = (result.subject, result.grade, result.credits)
            current = before.get(position)
            if current is None:
                created.append(
                    {
                        "id": new_id(),
                        "diploma_id": diploma_id,
                        "position": position,
                        **dict(zip(RESULT_COLUMNS, values, strict=True)),
                    }
                )
                differs = True
            elif current.values != values:
                changed.append({"id": current.id, **dict(zip(RESULT_COLUMNS, values, strict=True))})
                differs = True
        extra = [stored_result.id for p, stored_result in before.items() if p >= len(results)]
        removed.extend(extra)
        if (differs or extra) and number in found.unchanged:
            found.unchanged.discard(number)
            counts.updated += 1

    await _insert(db, Diploma, found.created)
    await _update(db, Diploma, found.changed)
    await _delete(db, Diploma, gone)
    await _insert(db, DiplomaResult, created)
    await _update(db, DiplomaResult, changed)
    await _delete(db, DiplomaResult, removed)
    counts.inserted += len(found.created)
    counts.updated += len(found.changed)
    counts.deleted += len(gone)
    counts.unchanged += len(found.unchanged)


async def _apply_study_finance(
    db: AsyncSession,
    lines: Sequence[tuple[int, Line, uuid.UUID]],
    outcome: BatchOutcome,
    *,
    now: datetime,
) -> None:
    counts = outcome.counts["study_finance"]
    if not lines:
        return
    stmt = select(StudyFinance.person_id, *(getattr(StudyFinance, c) for c in FINANCE_COLUMNS))
    stmt = stmt.where(StudyFinance.person_id.in_({person_id for _, _, person_id in lines}))
    stored = {row[0]: tuple(row[1:]) for row in await db.execute(stmt)}
    created: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    gone: list[uuid.UUID] = []
    for _, line, person_id in lines:
        current = stored.get(person_id)
        if isinstance(line, DeleteLine):
            if current is None:
                counts.unchanged += 1
            else:
                gone.append(person_id)
            continue
        assert isinstance(line, StudyFinanceLine)  # noqa: S101 (grouped by type above)
        values = tuple(getattr(line, c) for c in FINANCE_COLUMNS)
        row = {"person_id": person_id, **dict(zip(FINANCE_COLUMNS, values, strict=True))}
        if current is None:
            created.append({**row, "updated_at": now})
        elif current != values:
            changed.append({**row, "updated_at": now})
        else:
            counts.unchanged += 1
    await _insert(db, StudyFinance, created)
    await _update(db, StudyFinance, changed)
    if gone:
        await db.execute(delete(StudyFinance).where(StudyFinance.person_id.in_(gone)))
    counts.inserted += len(created)
    counts.updated += len(changed)
    counts.deleted += len(gone)


# --- set-based statements ----------------------------------------------------------------------


async def _insert(db: AsyncSession, model: type[Base], rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    table: Table = model.__table__  # type: ignore[assignment]
    driver = await asyncpg_connection(db) if len(rows) >= COPY_MIN_ROWS else None
    if driver is None:
        # Core, not the ORM's bulk insert: that splits the rows into a new executemany
        # wherever the columns that are NULL change (measured: a dozen statements per batch
        # of diploma results instead of one).
        await db.execute(table.insert(), rows)
        return
    # Binary COPY in the session's transaction: no SQL to parse or plan per row.
    columns = [column.name for column in table.columns]
    as_tuple = itemgetter(*columns)
    await driver.copy_records_to_table(
        table.name,
        records=[as_tuple(row) for row in rows],
        columns=columns,
    )


async def _update(db: AsyncSession, model: type[Base], rows: list[dict[str, Any]]) -> None:
    """One executemany UPDATE by primary key (every row names the same columns)."""
    if not rows:
        return
    table: Table = model.__table__  # type: ignore[assignment]
    [key] = [column.name for column in table.primary_key]
    names = [name for name in rows[0] if name != key]
    stmt = (
        update(table)
        .where(table.c[key] == bindparam("_key"))
        .values({name: bindparam(name) for name in names})
    )
    await db.execute(stmt, [{**row, "_key": row[key]} for row in rows])


async def _delete(db: AsyncSession, model: Any, ids: list[uuid.UUID]) -> None:
    if ids:
        await db.execute(delete(model).where(model.id.in_(ids)))
