"""Two helpdesk members at once, on PostgreSQL: real committed transactions that race.

Like tests/auth/test_races.py these use the engine directly (not the rolled-back test
transaction), so that two connections really wait for and see each other's commits.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import pytest
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from access import review
from access.errors import AccessError
from access.models import AccessRequest, AccessRequestEvent, EventKind, RequestStatus
from api.database import utcnow
from api.settings import Settings
from auth.models import AuditEvent
from records.models import Person
from tests.access.test_review import submitted
from tests.support import add_person

SETTINGS = Settings(environment="test")
Committed = tuple[async_sessionmaker[AsyncSession], uuid.UUID, uuid.UUID]


@pytest.fixture
async def committed(engine: AsyncEngine, is_postgres: bool) -> AsyncIterator[Committed]:
    """A submitted request and a person, committed; removed again afterwards."""
    if not is_postgres:
        pytest.skip("needs PostgreSQL's concurrent transactions (SQLite serialises writers)")
    factory = async_sessionmaker(engine, expire_on_commit=False)
    async with factory() as db:
        bundle = await add_person(db)
        row = await submitted(db, at=utcnow() - timedelta(hours=1))
        await db.commit()
    request_id, person_id = row.id, bundle.person["id"]
    try:
        yield factory, request_id, person_id
    finally:
        async with factory() as db:
            await db.execute(delete(AccessRequest).where(AccessRequest.id == request_id))
            await db.execute(delete(AuditEvent).where(AuditEvent.person_id == person_id))
            await db.execute(delete(AuditEvent).where(AuditEvent.action.like("access_request.%")))
            await db.execute(delete(Person).where(Person.id == person_id))
            await db.commit()


async def _race(
    factory: async_sessionmaker[AsyncSession],
    *steps: Callable[[AsyncSession], Awaitable[object]],
) -> list[str]:
    """Run each step in its own transaction at the same time; "ok" or the refusal's code."""
    gate = asyncio.Barrier(len(steps))

    async def run(step: Callable[[AsyncSession], Awaitable[object]]) -> str:
        async with factory() as db:
            # Both transactions are open (and have read) before either writes.
            await db.execute(select(1))
            await gate.wait()
            try:
                await step(db)
            except AccessError as exc:
                await db.rollback()
                return exc.code
            await db.commit()
            return "ok"

    return list(await asyncio.gather(*(run(step) for step in steps)))


async def test_two_members_approving_and_refusing_at_once_decide_once(
    committed: Committed,
) -> None:
    factory, request_id, person_id = committed
    alice, bob = uuid.uuid4(), uuid.uuid4()
    results = await _race(
        factory,
        lambda db: review.approve(
            db, request_id, staff_id=alice, person_id=person_id, settings=SETTINGS
        ),
        lambda db: review.refuse(db, request_id, staff_id=bob, reason="Not the same person."),
    )
    assert sorted(results) == ["ALREADY_DECIDED", "ok"]
    async with factory() as db:
        row = await db.get(AccessRequest, request_id)
        decisions = (
            await db.scalars(
                select(AccessRequestEvent.kind).where(
                    AccessRequestEvent.request_id == request_id,
                    AccessRequestEvent.kind.in_([EventKind.APPROVED, EventKind.REFUSED]),
                )
            )
        ).all()
    assert row is not None
    assert len(decisions) == 1
    winner = "approved" if results[0] == "ok" else "refused"
    assert row.status is RequestStatus(winner)
    assert row.decided_by == (alice if winner == "approved" else bob)


async def test_two_members_claiming_at_once_one_gets_a_conflict(committed: Committed) -> None:
    factory, request_id, _ = committed
    alice, bob = uuid.uuid4(), uuid.uuid4()
    results = await _race(
        factory,
        lambda db: review.claim(db, request_id, staff_id=alice),
        lambda db: review.claim(db, request_id, staff_id=bob),
    )
    assert sorted(results) == ["CLAIM_CONFLICT", "ok"]
    async with factory() as db:
        holder = await db.scalar(
            select(AccessRequest.claimed_by).where(AccessRequest.id == request_id)
        )
    assert holder == (alice if results[0] == "ok" else bob)


async def test_the_same_member_approving_twice_at_once_approves_once(
    committed: Committed,
) -> None:
    """A double click, two tabs: one decision, one audit entry."""
    factory, request_id, person_id = committed
    alice = uuid.uuid4()

    def approve(db: AsyncSession) -> Awaitable[object]:
        return review.approve(
            db, request_id, staff_id=alice, person_id=person_id, settings=SETTINGS
        )

    assert sorted(await _race(factory, approve, approve)) == ["ALREADY_DECIDED", "ok"]
    async with factory() as db:
        audits = (
            await db.scalars(
                select(AuditEvent.id).where(AuditEvent.action == "access_request.approved")
            )
        ).all()
    assert len(audits) == 1
