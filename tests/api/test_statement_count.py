"""The dashboard's SQL statement count does not grow with the size of a person's lists."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from api.database import utcnow
from api.persisted import OPERATIONS_DIR
from records.models import (
    Deadline,
    DeadlineKind,
    Diploma,
    DiplomaResult,
    EducationLevel,
    Enrolment,
    EnrolmentStatus,
)
from tests.support import count_statements, sign_in

DASHBOARD = (OPERATIONS_DIR / "Dashboard.graphql").read_text()


async def _grow(db: AsyncSession, person_id: uuid.UUID, n: int) -> None:
    """Give the person n diplomas (3 results each), n enrolments and n open deadlines."""
    diplomas = [
        {
            "id": uuid.uuid4(),
            "person_id": person_id,
            "institution": "Universiteit Leiden",
            "programme": f"Programme {i}",
            "programme_code": None,
            "level": EducationLevel.WO,
            "awarded_on": date(2010, 1, 1) + timedelta(days=i),
        }
        for i in range(n)
    ]
    await db.execute(insert(Diploma), diplomas)
    await db.execute(
        insert(DiplomaResult),
        [
            {
                "id": uuid.uuid4(),
                "diploma_id": d["id"],
                "position": p,
                "subject": f"S{p}",
                "grade": "8.0",
                "credits": 5,
            }
            for d in diplomas
            for p in range(3)
        ],
    )
    await db.execute(
        insert(Enrolment),
        [
            {
                "id": uuid.uuid4(),
                "person_id": person_id,
                "institution": "Hogeschool Utrecht",
                "programme": f"P{i}",
                "level": EducationLevel.HBO,
                "start_date": date(2000, 9, 1) + timedelta(days=i),
                "end_date": None,
                "status": EnrolmentStatus.ENROLLED,
            }
            for i in range(n)
        ],
    )
    await db.execute(
        insert(Deadline),
        [
            {
                "id": uuid.uuid4(),
                "person_id": person_id,
                "kind": DeadlineKind.PAYMENT,
                "due_at": utcnow() + timedelta(days=i + 1),
                "description": "pay",
                "completed_at": None,
            }
            for i in range(n)
        ],
    )
    await db.commit()


@pytest.mark.parametrize("size", [50])
async def test_dashboard_statement_count_is_constant(
    client: httpx.AsyncClient,
    db: AsyncSession,
    connection: AsyncConnection,
    person_factory: Any,
    size: int,
) -> None:
    small = await person_factory()
    large = await person_factory()
    await _grow(db, small.person["id"], 1)
    await _grow(db, large.person["id"], size)

    await sign_in(client, db, small.person["id"])
    small_count, small_body = await count_statements(client, connection, DASHBOARD)
    await sign_in(client, db, large.person["id"])
    large_count, large_body = await count_statements(client, connection, DASHBOARD)

    assert "errors" not in large_body
    viewer = large_body["data"]["viewer"]
    assert len(viewer["diplomas"]) >= size
    assert len(viewer["enrolments"]) >= size
    assert len(viewer["deadlines"]["nodes"]) == 20  # first page
    assert small_body["data"]["viewer"]["diplomas"]
    assert small_count == large_count
    assert large_count <= 10
