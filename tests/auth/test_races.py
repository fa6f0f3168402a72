"""Races between processes: real transactions on PostgreSQL, not the rolled-back test one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from api.settings import Settings
from auth import ceremonies
from auth.activation import issue_code
from auth.audit import RequestMeta
from auth.errors import AuthError
from auth.models import AuditEvent, Passkey
from auth.ratelimit import MemoryRateLimiter
from records.models import Person
from tests.support import add_person
from tests.webauthn_soft import SoftAuthenticator

META = RequestMeta(ip_address="127.0.0.1", user_agent="race")
SETTINGS = Settings(environment="test")


@pytest.fixture
async def committed(
    engine: AsyncEngine, is_postgres: bool
) -> AsyncIterator[tuple[async_sessionmaker[AsyncSession], Any]]:
    if not is_postgres:
        pytest.skip("needs PostgreSQL's concurrent transactions (SQLite serialises writers)")
    factory = async_sessionmaker(engine, expire_on_commit=False)
    async with factory() as db:
        bundle = await add_person(db)
        await db.commit()
    try:
        yield factory, bundle
    finally:
        async with factory() as db:
            await db.execute(delete(AuditEvent).where(AuditEvent.person_id == bundle.person["id"]))
            await db.execute(delete(Person).where(Person.id == bundle.person["id"]))
            await db.commit()


async def test_two_browsers_answering_one_challenge_register_once(
    committed: tuple[async_sessionmaker[AsyncSession], Any],
) -> None:
    factory, bundle = committed
    limiter = MemoryRateLimiter()
    async with factory() as db:
        issued = await issue_code(
            db,
            secret_key=SETTINGS.secret_key,
            customer_number=bundle.person["customer_number"],
            issued_by="staff:test",
        )
        await db.commit()
        started = await ceremonies.start_activation(
            db,
            settings=SETTINGS,
            limiter=limiter,
            code=issued.code,
            date_of_birth=bundle.person["date_of_birth"],
            meta=META,
        )
        await db.commit()
    answers = [
        SoftAuthenticator().create(started.options_json, origin=SETTINGS.public_origin)
        for _ in range(2)
    ]

    async def finish(answer: dict[str, Any]) -> str:
        async with factory() as db:
            try:
                await ceremonies.finish_registration(
                    db,
                    settings=SETTINGS,
                    payload=answer,
                    binding=started.binding,
                    principal=None,
                    previous_session_token=None,
                    meta=META,
                )
            except AuthError as exc:
                await db.commit()
                return exc.code
            await db.commit()
            return "ok"

    results = await asyncio.gather(*(finish(a) for a in answers))
    assert sorted(results) == ["CHALLENGE_INVALID", "ok"]
    async with factory() as db:
        count = await db.scalar(
            select(func.count()).where(Passkey.person_id == bundle.person["id"])
        )
    assert count == 1
