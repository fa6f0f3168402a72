"""Helpers shared by the tests: realistic people, sessions, GraphQL calls."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, cast

import httpx
from litestar import Litestar
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from auth.sessions import create_session
from records.demo import Bundle, insert_bundles, make_bundle

if TYPE_CHECKING:
    from httpx._transports.asgi import _ASGIApp

TODAY = date(2026, 11, 28)
_counter = iter(range(1_000_000, 9_999_999))


async def add_person(db: AsyncSession, **person: Any) -> Bundle:
    """Insert one realistic demo person (a fresh customer number each call) and flush."""
    bundle = make_bundle(next(_counter), today=TODAY)
    bundle.person.update(person)
    await insert_bundles(db, [bundle])
    await db.flush()
    return bundle


async def sign_in(client: httpx.AsyncClient, db: AsyncSession, person_id: uuid.UUID) -> str:
    """Create a session through the service layer (the only way tests may) and set the cookie."""
    issued = await create_session(db, person_id=person_id, absolute_timeout=timedelta(hours=12))
    await db.commit()
    client.cookies.set("duo_session", issued.token, domain="testserver.local")
    return issued.token


async def gql(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None
) -> Any:
    response = await client.post("/graphql", json={"query": query, "variables": variables or {}})
    assert response.status_code == 200, response.text
    return response.json()


def error_codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


def asgi_client(app: Litestar, base_url: str = "http://testserver.local") -> httpx.AsyncClient:
    """An HTTP client that calls the app in-process, on the test's own event loop.

    (asyncpg connections belong to one loop; Litestar's AsyncTestClient uses another thread.)
    """
    transport = httpx.ASGITransport(app=cast("_ASGIApp", app))
    return httpx.AsyncClient(transport=transport, base_url=base_url)


async def count_statements(
    client: httpx.AsyncClient, connection: AsyncConnection, query: str
) -> tuple[int, dict[str, Any]]:
    """POST a GraphQL query; how many SQL statements it ran (savepoints aside), and the body."""
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.startswith(("SAVEPOINT", "RELEASE", "ROLLBACK")):
            statements.append(statement)

    sync = connection.sync_connection
    assert sync is not None
    event.listen(sync, "before_cursor_execute", record)
    try:
        body: dict[str, Any] = (await client.post("/graphql", json={"query": query})).json()
    finally:
        event.remove(sync, "before_cursor_execute", record)
    return len(statements), body
