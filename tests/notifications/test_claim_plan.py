"""A job's claim looks its deliveries up by primary key, however many are pending (issue #14).

Right after a burst is planned, the statistics still say few deliveries are pending; with an OR
of (status, time) conditions PostgreSQL then took the (status, next_attempt_at) index and read
every pending delivery for each job of 100 (100,000 rows per claim at 100,000 pending), so each
claim cost more the larger the backlog.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import insert, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.database import utcnow
from notifications.deliveries import claim_statement
from notifications.models import DeliveryStatus, PushDelivery
from tests.notifications.support import person_without_reminders

BACKLOG = 3_000


async def test_a_claim_reads_its_own_deliveries_not_the_backlog(
    db: AsyncSession, is_postgres: bool
) -> None:
    if not is_postgres:
        pytest.skip("the query plan is PostgreSQL's")
    person_id = await person_without_reminders(db)
    now = utcnow()
    ids = [uuid.uuid4() for _ in range(BACKLOG)]
    await db.execute(
        insert(PushDelivery),
        [
            {
                "id": i,
                "person_id": person_id,
                "reminder_id": None,
                "subscription_id": None,
                "status": DeliveryStatus.DELIVERED,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
                "updated_at": now,
            }
            for i in ids
        ],
    )
    # Statistics taken while nothing is pending (yesterday's pushes, all delivered); then a
    # burst is planned.
    await db.execute(text("ANALYZE push_deliveries"))
    await db.execute(
        update(PushDelivery).where(PushDelivery.id.in_(ids)).values(status=DeliveryStatus.PENDING)
    )
    # A table this small is cheapest to read whole; what matters is which index a large one
    # would be read by, so the planner chooses between indexes only.
    await db.execute(text("SET LOCAL enable_seqscan = off"))
    statement = claim_statement(
        ids[:100], now=now, owner=uuid.uuid4(), lease=timedelta(seconds=30)
    ).compile(dialect=db.get_bind().dialect, compile_kwargs={"render_postcompile": True})
    params = statement.construct_params()
    positional = tuple(params[name] for name in statement.positiontup or ())
    connection = await db.connection()
    plan = "\n".join(
        row[0]
        for row in (
            await connection.exec_driver_sql(
                f"EXPLAIN (ANALYZE, COSTS OFF) {statement}", positional
            )
        ).all()
    )
    assert "Index Cond: (id = ANY" in plan, plan  # by primary key
    assert "ix_push_deliveries_status_next" not in plan, plan
    assert "Rows Removed by Filter" not in plan, plan  # nothing else read
