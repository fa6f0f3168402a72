"""A bad line is reported (line, field, code) and refused; the good lines around it still go in.
Duplicates within a file and records of unknown persons are refused the same way."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from records.models import Deadline, Person
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

C = "IMPBAD0001"  # a well-formed customer number for lines that fail before it matters


def _without(line: dict[str, Any], name: str) -> dict[str, Any]:
    return {k: v for k, v in line.items() if k != name}


BAD_LINES: list[tuple[str, dict[str, Any] | bytes, str, str]] = [
    ("not JSON", b'{"type": "person", "customerNumber": ', "", "INVALID_JSON"),
    ("not UTF-8", b'{"type": "person", "givenNames": "\xff\xfe"}', "", "INVALID_JSON"),
    ("trailing garbage", json.dumps(deadline(C)).encode() + b" x", "", "INVALID_JSON"),
    ("an array", b"[1, 2]", "", "NOT_AN_OBJECT"),
    ("no type", {"customerNumber": C}, "type", "REQUIRED"),
    ("unknown type", {"type": "grade", "customerNumber": C}, "type", "UNKNOWN_TYPE"),
    ("type not a string", {"type": 7}, "type", "UNKNOWN_TYPE"),
    ("missing field", _without(person(C), "dateOfBirth"), "dateOfBirth", "REQUIRED"),
    ("unknown field", {**person(C), "bsn": "123456782"}, "bsn", "UNKNOWN_FIELD"),
    ("wrong type", person(C, givenNames=42), "givenNames", "INVALID_TYPE"),
    ("empty name", person(C, familyName=""), "familyName", "TOO_SHORT"),
    ("name too long", person(C, familyName="x" * 201), "familyName", "TOO_LONG"),
    ("NUL in a name", person(C, givenNames="Wei\u0000"), "givenNames", "INVALID_CHARACTERS"),
    ("lower-case customer", person("imp1"), "customerNumber", "INVALID_FORMAT"),
    ("no such date", person(C, dateOfBirth="1992-02-30"), "dateOfBirth", "INVALID_DATE"),
    ("born tomorrow", person(C, dateOfBirth="2999-01-01"), "dateOfBirth", "INVALID_DATE"),
    (
        "no such country",
        person(C, countryOfResidence="XX"),
        "countryOfResidence",
        "INVALID_COUNTRY",
    ),
    ("no such zone", person(C, timeZone="Mars/Olympus"), "timeZone", "INVALID_TIME_ZONE"),
    ("a path as zone", person(C, timeZone="../../etc/passwd"), "timeZone", "INVALID_TIME_ZONE"),
    ("language", person(C, preferredLanguage="de"), "preferredLanguage", "NOT_ALLOWED"),
    ("level", enrolment(C, level="phd"), "level", "NOT_ALLOWED"),
    ("ends before it starts", enrolment(C, endDate="2009-01-01"), "endDate", "INVALID_DATE"),
    ("ref with a space", enrolment(C, ref="wo 2010"), "ref", "INVALID_FORMAT"),
    (
        "a result without grade",
        diploma(C, results=[{"subject": "Thesis"}]),
        "results[0].grade",
        "REQUIRED",
    ),
    (
        "too many results",
        diploma(C, results=[{"subject": "s", "grade": "8"}] * 101),
        "results",
        "TOO_MANY",
    ),
    ("negative debt", study_finance(C, debtCents=-1), "debtCents", "TOO_SMALL"),
    ("money as float", study_finance(C, debtCents=12.5), "debtCents", "INVALID_TYPE"),
    (
        "huge rate",
        study_finance(C, interestRateBasisPoints=10_001),
        "interestRateBasisPoints",
        "TOO_LARGE",
    ),
    ("no offset", deadline(C, dueAt="2026-12-31T23:59:59"), "dueAt", "INVALID_DATE"),
    ("kind", deadline(C, kind="party"), "kind", "NOT_ALLOWED"),
    ("delete without ref", delete(C, "deadline"), "ref", "REQUIRED"),
    ("delete a person", delete(C, "person"), "record", "NOT_ALLOWED"),
]


@pytest.mark.parametrize(
    ("line", "field", "code"),
    [pytest.param(line, field, code, id=name) for name, line, field, code in BAD_LINES],
)
async def test_a_bad_line_is_refused_with_its_field_and_code(
    session_factory: async_sessionmaker[AsyncSession],
    line: dict[str, Any] | bytes,
    field: str,
    code: str,
) -> None:
    customer = new_customer()
    ran = await run(session_factory, person(customer), line, deadline(customer))
    assert ran.codes() == [(2, field, code)]
    assert ran.rejections[0].detail  # a reason for the report
    assert counts(ran.summary, "person")[0] == 1
    assert counts(ran.summary, "deadline")[0] == 1  # the line after it still went in


async def test_one_report_for_a_file_with_many_problems(
    db: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    customer = new_customer()
    ran = await run(
        session_factory,
        b"\xef\xbb\xbf" + b'{"type": "person", "customerNumber": "%s", "givenNames": "Ayu", '
        b'"familyName": "Lestari", "dateOfBirth": "1994-03-15", '
        b'"countryOfResidence": "ID", "timeZone": "Asia/Jakarta"}' % customer.encode(),
        b"",  # blank lines are skipped, not refused
        b"   ",
        b"{oops",
        deadline(customer, description="x" * 2001),
        deadline(customer, ref="income-2026", kind="income_statement"),
        b'{"type": "deadline", "description": "' + b"x" * 5000 + b'"}',
        batch_lines=2,
        max_line_bytes=3000,
    )
    assert ran.codes() == [
        (4, "", "INVALID_JSON"),
        (5, "description", "TOO_LONG"),
        (7, "", "LINE_TOO_LONG"),
    ]
    assert ran.summary.lines == 5
    assert counts(ran.summary, "person") == (1, 0, 0, 0, 0)
    assert counts(ran.summary, "deadline") == (1, 0, 0, 0, 1)
    assert ran.summary.total.rejected == 3
    total = (
        select(func.count())
        .select_from(Deadline)
        .join(Person)
        .where(Person.customer_number == customer)
    )
    assert await db.scalar(total) == 1


@pytest.mark.parametrize("batch_lines", [1000, 2], ids=["one batch", "across batches"])
async def test_a_record_named_twice_in_a_file_counts_once(
    db: AsyncSession, session_factory: async_sessionmaker[AsyncSession], batch_lines: int
) -> None:
    customer = new_customer()
    ran = await run(
        session_factory,
        person(customer, givenNames="First"),
        deadline(customer),
        person(customer, givenNames="Second"),
        enrolment(customer),
        deadline(customer, description="Another text"),
        delete(customer, "deadline", "payment-2026"),
        deadline(customer, ref="payment-2027"),  # another ref: another deadline
        batch_lines=batch_lines,
    )
    assert ran.codes() == [
        (3, "customerNumber", "DUPLICATE"),
        (5, "ref", "DUPLICATE"),
        (6, "ref", "DUPLICATE"),
    ]
    assert [r.detail for r in ran.rejections] == [
        "same record as line 1",
        "same record as line 2",
        "same record as line 2",
    ]
    stored = await db.scalar(select(Person).where(Person.customer_number == customer))
    assert stored is not None
    assert stored.given_names == "First"  # the first line counts
    descriptions = await db.scalars(
        select(Deadline.description).where(Deadline.person_id == stored.id).order_by(Deadline.ref)
    )
    assert list(descriptions) == [deadline(customer)["description"]] * 2


async def test_records_of_unknown_persons_are_refused(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    known, later, nobody, refused = (new_customer() for _ in range(4))
    await run(session_factory, person(known))  # stored by an earlier import
    ran = await run(
        session_factory,
        deadline(known),
        deadline(later),  # its person comes on a later line
        person(later),
        enrolment(later),
        study_finance(nobody),
        person(refused, dateOfBirth="2999-01-01"),
        diploma(refused),
        delete(nobody, "deadline", "payment-2026"),
    )
    assert ran.codes() == [
        (2, "customerNumber", "UNKNOWN_PERSON"),
        (5, "customerNumber", "UNKNOWN_PERSON"),
        (6, "dateOfBirth", "INVALID_DATE"),
        (7, "customerNumber", "UNKNOWN_PERSON"),
        (8, "customerNumber", "UNKNOWN_PERSON"),
    ]
    assert counts(ran.summary, "deadline") == (1, 0, 0, 0, 2)
    assert counts(ran.summary, "enrolment") == (1, 0, 0, 0, 0)
    # Once the person is there, the same lines go in.
    again = await run(session_factory, deadline(later))
    assert again.rejections == []
    assert counts(again.summary, "deadline") == (1, 0, 0, 0, 0)
