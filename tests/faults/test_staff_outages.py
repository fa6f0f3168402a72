"""The staff UI through a real database outage (issue #13): the app reaches PostgreSQL through
a TCP proxy that the test kills; staff pages answer a 503 page with Retry-After in the member's
language, at once, and work again when the database is back."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
from litestar import Litestar
from sqlalchemy import delete

from api.outages import CONFIRM_SECONDS
from staff import sessions
from staff.models import Role, StaffMember
from tests.faults.support import Proxy
from tests.faults.test_app_outages import database_proxy, events, proxied_app, timed
from tests.notifications.support import Committed
from tests.staff.support import invite
from tests.support import asgi_client

__all__ = ["database_proxy", "proxied_app"]  # fixtures used here


@pytest.fixture
async def member_token(committed: Committed) -> AsyncIterator[str]:
    """A staff session made (and committed) on the real database; the member goes afterwards."""
    async with committed.factory() as db:
        member_id, _ = await invite(db, "Dirk Outage", frozenset(Role))
        issued = await sessions.create_session(db, staff_id=member_id)
        await db.commit()
    yield issued.token
    async with committed.factory() as db:
        await db.execute(delete(StaffMember).where(StaffMember.id == member_id))
        await db.commit()


async def test_staff_pages_answer_a_503_page_while_the_database_is_out(
    proxied_app: Litestar,
    database_proxy: Proxy,
    member_token: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    async with asgi_client(proxied_app) as client:
        client.cookies.set("duo_staff", member_token, domain="testserver.local")
        assert (await client.get("/staff/activation")).status_code == 200
        database_proxy.kill()

        for language, title in (("nl", "Tijdelijk niet beschikbaar"), ("en", "Temporarily")):
            client.cookies.set("duo_staff_lang", language, domain="testserver.local")
            for path in ("/staff/", "/staff/activation", "/staff/forms", "/staff/admin/staff"):
                answer, seconds = await timed(client.get(path))
                assert answer.status_code == 503, (path, answer.text)
                assert answer.headers["retry-after"] == "5"
                assert answer.headers["content-type"].startswith("text/html")
                assert f'<html lang="{language}">' in answer.text
                assert title in answer.text
                assert seconds < 1.0

        database_proxy.start()
        assert (await client.get("/staff/activation")).status_code == 200
        await asyncio.sleep(CONFIRM_SECONDS + 0.5)
    assert [e["dependency"] for e in events(caplog, "dependency.unavailable")] == ["database"]
    assert [e["dependency"] for e in events(caplog, "dependency.recovered")] == ["database"]
    assert events(caplog, "staff.unexpected_error") == []
