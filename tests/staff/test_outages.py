"""Staff pages through outages and bugs: a page in the member's language (503 with Retry-After
for the database or Redis, 500 for anything else), never the API's JSON body (issue #13 §3).

These fail where the session factory is called, the way an unreachable server fails there;
tests/faults/test_staff_outages.py cuts a real PostgreSQL connection."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from litestar import Litestar
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.app import create_app
from api.settings import Settings
from staff.models import Role
from tests.staff.support import signed_in_member
from tests.support import asgi_client


class Breakable:
    """The suite's session factory until `fail_with` is set; then every call raises it."""

    def __init__(self, factory: async_sessionmaker[AsyncSession]) -> None:
        self.factory = factory
        self.fail_with: BaseException | None = None

    def __call__(self, **kwargs: Any) -> AsyncSession:
        if self.fail_with is not None:
            raise self.fail_with
        return self.factory(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.factory, name)


@pytest.fixture
def breakable(session_factory: async_sessionmaker[AsyncSession]) -> Breakable:
    return Breakable(session_factory)


@pytest.fixture
async def staff_client(
    settings: Settings, breakable: Breakable
) -> AsyncIterator[httpx.AsyncClient]:
    app: Litestar = create_app(settings, session_factory=breakable)  # type: ignore[arg-type]
    async with asgi_client(app) as client:
        yield client


def events(caplog: pytest.LogCaptureFixture, name: str) -> list[dict[str, Any]]:
    return [r.msg for r in caplog.records if isinstance(r.msg, dict) and r.msg["event"] == name]


def unexpected(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return events(caplog, "staff.unexpected_error") + events(caplog, "http.unexpected_error")


OUTAGES = [
    pytest.param(ConnectionRefusedError(111, "Connection refused"), id="database"),
    pytest.param(RedisConnectionError("Error 111 connecting to 127.0.0.1:6379."), id="redis"),
]


@pytest.mark.parametrize("error", OUTAGES)
async def test_an_outage_answers_a_503_page_in_the_members_language(
    staff_client: httpx.AsyncClient,
    breakable: Breakable,
    db: AsyncSession,
    error: BaseException,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    member = await signed_in_member(db, staff_client, frozenset(Role))
    assert (await staff_client.get("/staff/activation")).status_code == 200
    breakable.fail_with = error

    for path in ("/staff/", "/staff/activation?country=ID", "/staff/forms", "/staff/audit"):
        answer = await staff_client.get(path)
        assert answer.status_code == 503, (path, answer.text)
        assert answer.headers["retry-after"] == "5"
        assert answer.headers["content-type"].startswith("text/html")
        assert answer.headers["cache-control"] == "no-store"
        assert '<html lang="nl">' in answer.text
        assert "Tijdelijk niet beschikbaar" in answer.text
        assert f'href="{path.replace("&", "&amp;")}"' in answer.text  # "try again": the page
        assert "SERVICE_UNAVAILABLE" not in answer.text

    staff_client.cookies.set("duo_staff_lang", "en", domain="testserver.local")
    posted = await staff_client.post(
        "/staff/admin/staff/invite", data={"name": "Eve", "roles": "forms", "_csrf": member.csrf}
    )
    assert posted.status_code == 503
    assert posted.headers["retry-after"] == "5"
    assert '<html lang="en">' in posted.text
    assert "Temporarily unavailable" in posted.text
    assert "may not have been saved" in posted.text  # a post is not repeated from a link
    assert "Try again" not in posted.text

    breakable.fail_with = None
    assert (await staff_client.get("/staff/activation")).status_code == 200
    # Noted as an outage (one warning), not logged as a bug with a traceback per request.
    assert unexpected(caplog) == []
    assert len(events(caplog, "dependency.unavailable")) == 1


async def test_a_bug_answers_a_500_page_and_is_logged(
    staff_client: httpx.AsyncClient,
    breakable: Breakable,
    db: AsyncSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await signed_in_member(db, staff_client, frozenset({Role.HELPDESK}))
    breakable.fail_with = RuntimeError("a bug, with a secret detail")

    answer = await staff_client.get("/staff/persons")

    assert answer.status_code == 500
    assert answer.headers["content-type"].startswith("text/html")
    assert "retry-after" not in answer.headers
    assert "Er ging iets mis" in answer.text
    assert "secret detail" not in answer.text
    [logged] = unexpected(caplog)
    assert isinstance(logged["exc_info"], RuntimeError)  # the whole story, in the log only


async def test_a_mistyped_staff_address_answers_a_page_not_json(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    await signed_in_member(db, client, frozenset({Role.HELPDESK}))
    for path in ("/staff/nonexistent", "/staff/activation/not-a-uuid", "/staff/persons/1/x"):
        answer = await client.get(path)
        assert answer.status_code == 404, path
        assert answer.headers["content-type"].startswith("text/html"), path
        assert "Deze pagina bestaat niet in de backoffice" in answer.text
        assert 'href="/staff/"' in answer.text
    wrong_method = await client.delete("/staff/activation")
    assert wrong_method.status_code == 405
    assert wrong_method.headers["content-type"].startswith("text/html")
    assert "GET" in wrong_method.headers["allow"]
    # The passkey ceremonies and the API keep their JSON errors.
    for path in ("/staff/auth/nonexistent", "/graphql/nonexistent"):
        api = await client.get(path)
        assert api.status_code in (404, 405), path
        assert api.headers["content-type"].startswith("application/json"), path
