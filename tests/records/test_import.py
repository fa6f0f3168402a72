"""Records come in by import: every type lands where the app reads it, re-importing changes
nothing, changed values update in place, explicit delete lines remove records."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

from sqlalchemy import event, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from api.database import utcnow
from extracts.models import Extract
from records import service as records
from records.models import Deadline, Diploma, Person, StudyFinance
from tests.records.import_support import (
    counts,
    deadline,
    delete,
    diploma,
    enrolment,
    new_customer,
    person,
    run,
    study_finance,
)


async def _person(db: AsyncSession, customer: str) -> Person:
    found = await db.scalar(
        select(Person)
        .where(Person.customer_number == customer)
        .execution_options(populate_existing=True)
    )
    assert found is not None
    return found


@contextmanager
def writes(connection: AsyncConnection) -> Iterator[list[str]]:
    """The INSERT/UPDATE/DELETE statements run on the test's connection meanwhile."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE", "COPY")):
            seen.append(statement)

    sync = connection.sync_connection
    assert sync is not None
    event.listen(sync, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(sync, "before_cursor_execute", record)


async def test_every_record_type_lands_where_the_app_reads_it(
    db: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    customer = new_customer()
    ran = await run(
        session_factory,
        person(customer, preferredLanguage="nl"),
        enrolment(customer),
        enrolment(
            customer,
            ref="hbo-2006",
            level="hbo",
            startDate="2006-09-01",
            endDate=None,
            status="discontinued",
            institution="Saxion",
            programme="Bachelor Hotel Management",
        ),
        diploma(customer),
        study_finance(customer),
        deadline(customer),
    )
    assert ran.rejections == []
    for kind in ("person", "enrolment", "study_finance", "deadline", "diploma"):
        assert counts(ran.summary, kind)[0] == (2 if kind == "enrolment" else 1)
    assert ran.summary.total.changed == 6

    stored = await _person(db, customer)
    assert (stored.given_names, stored.family_name) == ("Wei", "Zhang")
    assert stored.date_of_birth == date(1992, 5, 17)
    assert (stored.country_of_residence, stored.preferred_language) == ("JP", "nl")
    assert stored.time_zone == "Asia/Tokyo"  # Japan has one time zone
    history = await records.list_enrolments(db, stored.id)
    assert [(e.institution, e.end_date) for e in history] == [
        ("Universiteit Leiden", date(2012, 7, 10)),
        ("Saxion", None),
    ]
    [awarded] = await records.list_diplomas(db, stored.id)
    assert awarded.programme_code == "60785"
    assert [(r.subject, r.grade, r.credits) for r in awarded.results] == [
        ("Theories of International Relations", "7.5", 10),
        ("Research Methods", "8.0", 5),
        ("Master Thesis", "7.0", 20),
    ]
    finance = await records.get_study_finance(db, stored.id)
    assert finance is not None
    assert (finance.debt_cents, finance.monthly_amount_cents) == (2_345_600, 5_585)
    page = await records.list_deadlines(
        db, stored.id, first=10, after=None, include_completed=False
    )
    [due] = page.items
    assert due.due_at.isoformat() == "2026-12-31T22:59:59+00:00"


async def test_reimporting_the_same_file_writes_nothing(
    db: AsyncSession,
    session_factory: async_sessionmaker[AsyncSession],
    connection: AsyncConnection,
) -> None:
    customer = new_customer()
    file = (
        person(customer),
        enrolment(customer),
        diploma(customer),
        study_finance(customer),
        deadline(customer),
        delete(customer, "deadline", "never-there"),
    )
    first = await run(session_factory, *file)
    assert first.summary.total.changed == 5
    with writes(connection) as statements:
        again = await run(session_factory, *file)
    assert statements == []
    assert again.summary.total.changed == 0
    assert again.summary.total.unchanged == 6
    assert again.summary.replanned == 0
    assert again.rejections == []


async def test_changed_values_update_the_same_records(
    db: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    customer = new_customer()
    await run(
        session_factory,
        person(customer),
        enrolment(customer, endDate=None, status="enrolled"),
        diploma(customer),
        study_finance(customer),
        deadline(customer),
    )
    person_id = (await _person(db, customer)).id
    [before] = await records.list_diplomas(db, person_id)

    corrected = diploma(customer)
    corrected["results"] = [
        {"subject": "Theories of International Relations", "grade": "8.5", "credits": 10},
        {"subject": "Research Methods", "grade": "8.0", "credits": 5},
    ]
    ran = await run(
        session_factory,
        person(customer, familyName="Zhang-de Vries"),
        enrolment(customer, endDate="2012-07-10", status="completed"),
        corrected,
        study_finance(customer, debtCents=2_000_000),
        deadline(customer),  # unchanged
    )
    assert ran.rejections == []
    assert counts(ran.summary, "person") == (0, 1, 0, 0, 0)
    assert counts(ran.summary, "enrolment") == (0, 1, 0, 0, 0)
    assert counts(ran.summary, "diploma") == (0, 1, 0, 0, 0)
    assert counts(ran.summary, "study_finance") == (0, 1, 0, 0, 0)
    assert counts(ran.summary, "deadline") == (0, 0, 1, 0, 0)

    db.expire_all()  # the import wrote through other sessions
    assert (await _person(db, customer)).family_name == "Zhang-de Vries"
    [history] = await records.list_enrolments(db, person_id)
    assert history.status.value == "completed"
    [after] = await records.list_diplomas(db, person_id)
    assert after.id == before.id  # corrected in place: its extracts keep pointing at it
    assert [(r.subject, r.grade) for r in after.results] == [
        ("Theories of International Relations", "8.5"),
        ("Research Methods", "8.0"),
    ]
    finance = await db.get(StudyFinance, person_id, populate_existing=True)
    assert finance is not None
    assert finance.debt_cents == 2_000_000

    added = diploma(customer)
    added["results"] = [*corrected["results"], {"subject": "Internship", "grade": "goed"}]
    grown = await run(session_factory, added)
    assert counts(grown.summary, "diploma") == (0, 1, 0, 0, 0)
    db.expire_all()
    [last] = await records.list_diplomas(db, person_id)
    assert [r.grade for r in last.results] == ["8.5", "8.0", "goed"]


async def test_the_persons_own_language_and_time_zone_stay_theirs(
    db: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    customer = new_customer()
    line = person(
        customer, countryOfResidence="US", timeZone="America/Chicago", preferredLanguage="nl"
    )
    await run(session_factory, line)
    stored = await _person(db, customer)
    await records.update_preferences(
        db, stored.id, preferred_language="en", time_zone="America/Los_Angeles"
    )
    await db.commit()
    again = await run(session_factory, line)
    assert counts(again.summary, "person") == (0, 0, 1, 0, 0)
    stored = await _person(db, customer)
    assert (stored.preferred_language, stored.time_zone) == ("en", "America/Los_Angeles")


async def test_a_new_person_in_a_country_of_several_zones_needs_one(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    customer = new_customer()
    ran = await run(
        session_factory,
        person(customer, countryOfResidence="ID"),  # Indonesia: four zones
        deadline(customer),
    )
    assert ran.codes() == [(1, "timeZone", "REQUIRED"), (2, "customerNumber", "UNKNOWN_PERSON")]
    fixed = await run(
        session_factory,
        person(customer, countryOfResidence="ID", timeZone="Asia/Makassar"),
        deadline(customer),
    )
    assert fixed.rejections == []


async def test_delete_lines_remove_records_once(
    db: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    customer = new_customer()
    await run(
        session_factory,
        person(customer),
        enrolment(customer),
        diploma(customer),
        diploma(customer, ref="wo-2013", awardedOn="2013-07-01"),
        study_finance(customer),
        deadline(customer),
    )
    stored = await _person(db, customer)
    [kept, _] = await records.list_diplomas(db, stored.id)
    assert kept.ref == "wo-2013"
    await db.execute(
        insert(Extract).values(
            id=uuid.uuid4(),
            person_id=stored.id,
            diploma_id=kept.id,
            version=1,
            language="en",
            created_at=utcnow(),
            kid="test",
            jws="x.y.z",
            payload_sha256="0" * 64,
            status_index=900_000_000 + uuid.uuid4().int % 1_000_000,
        )
    )
    await db.commit()

    removals = (
        delete(customer, "enrolment", "wo-2010"),
        delete(customer, "diploma", "wo-2010"),
        delete(customer, "diploma", "wo-2013"),
        delete(customer, "study_finance"),
        delete(customer, "deadline", "payment-2026"),
    )
    ran = await run(session_factory, *removals)
    assert ran.codes() == [(3, "ref", "HAS_EXTRACTS")]
    for kind in ("enrolment", "study_finance", "deadline"):
        assert counts(ran.summary, kind) == (0, 0, 0, 1, 0)
    assert counts(ran.summary, "diploma") == (0, 0, 0, 1, 1)
    assert await records.list_enrolments(db, stored.id) == []
    assert [d.ref for d in await records.list_diplomas(db, stored.id)] == ["wo-2013"]
    assert await db.get(StudyFinance, stored.id, populate_existing=True) is None
    left = select(func.count()).select_from(Deadline).where(Deadline.person_id == stored.id)
    assert await db.scalar(left) == 0

    again = await run(session_factory, *removals)
    assert again.summary.total.changed == 0  # already gone: nothing to do
    assert (
        await db.scalar(
            select(func.count()).select_from(Diploma).where(Diploma.person_id == stored.id)
        )
        == 1
    )
