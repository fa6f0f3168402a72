"""Helpers for the import tests: JSON Lines records with sensible defaults, running an import."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import count
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from records.imports.outcome import Rejection, Summary
from records.imports.service import run_import

_numbers: Iterator[int] = count(1)


def new_customer() -> str:
    return f"IMP{next(_numbers):07d}"


def person(customer: str, **fields: Any) -> dict[str, Any]:
    return {
        "type": "person",
        "customerNumber": customer,
        "givenNames": "Wei",
        "familyName": "Zhang",
        "dateOfBirth": "1992-05-17",
        "countryOfResidence": "JP",  # one time zone: Asia/Tokyo
        **fields,
    }


def enrolment(customer: str, ref: str = "wo-2010", **fields: Any) -> dict[str, Any]:
    return {
        "type": "enrolment",
        "customerNumber": customer,
        "ref": ref,
        "institution": "Universiteit Leiden",
        "programme": "MSc International Relations",
        "level": "wo",
        "startDate": "2010-09-01",
        "endDate": "2012-07-10",
        "status": "completed",
        **fields,
    }


def diploma(customer: str, ref: str = "wo-2010", **fields: Any) -> dict[str, Any]:
    return {
        "type": "diploma",
        "customerNumber": customer,
        "ref": ref,
        "institution": "Universiteit Leiden",
        "programme": "MSc International Relations",
        "programmeCode": "60785",
        "level": "wo",
        "awardedOn": "2012-07-10",
        "results": [
            {"subject": "Theories of International Relations", "grade": "7.5", "credits": 10},
            {"subject": "Research Methods", "grade": "8.0", "credits": 5},
            {"subject": "Master Thesis", "grade": "7.0", "credits": 20},
        ],
        **fields,
    }


def study_finance(customer: str, **fields: Any) -> dict[str, Any]:
    return {
        "type": "study_finance",
        "customerNumber": customer,
        "debtCents": 2_345_600,
        "repaymentScheme": "sf35",
        "monthlyAmountCents": 5_585,
        "interestRateBasisPoints": 46,
        "nextDueDate": "2027-01-01",
        **fields,
    }


def deadline(customer: str, ref: str = "payment-2026", **fields: Any) -> dict[str, Any]:
    return {
        "type": "deadline",
        "customerNumber": customer,
        "ref": ref,
        "kind": "payment",
        "dueAt": "2026-12-31T22:59:59Z",
        "description": "Annual repayment for people abroad: pay before 31 December.",
        **fields,
    }


def delete(customer: str, record: str, ref: str | None = None) -> dict[str, Any]:
    line = {"type": "delete", "customerNumber": customer, "record": record}
    return line if ref is None else {**line, "ref": ref}


def jsonl(*lines: dict[str, Any] | bytes) -> bytes:
    """One line per entry: dicts as JSON, bytes exactly as given."""
    return b"".join(
        (line if isinstance(line, bytes) else json.dumps(line).encode()) + b"\n" for line in lines
    )


@dataclass
class Ran:
    summary: Summary
    rejections: list[Rejection]

    def codes(self) -> list[tuple[int, str, str]]:
        return [(r.line, r.field, r.code) for r in self.rejections]


async def run(
    session_factory: async_sessionmaker[AsyncSession],
    *lines: dict[str, Any] | bytes,
    now: datetime | None = None,
    **options: Any,
) -> Ran:
    rejections: list[Rejection] = []
    summary = await run_import(
        session_factory,
        io.BytesIO(jsonl(*lines)),
        now=now,
        on_rejection=rejections.append,
        **options,
    )
    return Ran(summary, rejections)


def counts(summary: Summary, kind: str) -> tuple[int, int, int, int, int]:
    """(inserted, updated, unchanged, deleted, rejected) of one record type."""
    c = summary.counts[kind]
    return (c.inserted, c.updated, c.unchanged, c.deleted, c.rejected)
