"""The edge's answer to an outage met deep inside a request (issue #12): a GraphQL resolver whose
database or Redis call fails answers HTTP 503 with Retry-After and SERVICE_UNAVAILABLE (not a
200 with a masked error), logged once per outage; a bug is still a masked error with its
traceback in the log, and readiness reports each dependency."""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
import pytest
import strawberry
from litestar import Litestar
from litestar.datastructures import State
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.errors import NotFound
from api.gql_errors import DomainErrors
from api.gql_view import make_graphql_controller_class
from api.http import UNAVAILABLE_MESSAGE, exception_handlers
from api.logging import configure_logging
from api.migrate import Revisions, script_revisions
from api.outages import Outages
from api.persisted import PersistedDocuments
from api.schema import DuoSchema
from api.settings import Settings
from tests.support import asgi_client


@strawberry.type
class Query:
    @strawberry.field
    async def reset(self) -> int:
        raise ConnectionResetError("Connection reset by peer")

    @strawberry.field
    async def gone(self) -> int:
        raise asyncpg.ConnectionDoesNotExistError("connection was closed in the middle")

    @strawberry.field
    async def redis(self) -> int:
        raise RedisConnectionError("Error 111 connecting to redis")

    @strawberry.field
    async def missing(self) -> int:
        raise NotFound("No such thing.", field="id")

    @strawberry.field
    async def bug(self) -> int:
        raise KeyError("a bug")


def events(caplog: pytest.LogCaptureFixture, name: str) -> list[dict[str, Any]]:
    return [r.msg for r in caplog.records if isinstance(r.msg, dict) and r.msg.get("event") == name]


@pytest.fixture
def edge(settings: Settings, session_factory: async_sessionmaker[AsyncSession]) -> Litestar:
    """The real GraphQL controller and error handling around a schema that fails on purpose."""
    configure_logging(settings)  # as create_app does
    outages = Outages()
    controller = make_graphql_controller_class(
        schema=DuoSchema(query=Query, extensions=[DomainErrors]),
        settings=settings,
        persisted=PersistedDocuments.load(),
        session_factory=session_factory,
        outages=outages,
    )
    return Litestar(
        route_handlers=[controller],
        exception_handlers=exception_handlers(),
        state=State({"outages": outages}),
    )


@pytest.mark.parametrize("field", ["reset", "gone", "redis"])
async def test_a_resolver_meeting_an_outage_answers_503(
    edge: Litestar, caplog: pytest.LogCaptureFixture, field: str
) -> None:
    caplog.set_level(logging.INFO)
    async with asgi_client(edge) as client:
        responses = [await client.post("/graphql", json={"query": f"{{ {field} }}"}) for _ in "123"]
    for response in responses:
        assert response.status_code == 503, response.text
        assert response.headers["retry-after"] == "5"
        assert response.json() == {
            "errors": [
                {
                    "message": UNAVAILABLE_MESSAGE,
                    "extensions": {"code": "SERVICE_UNAVAILABLE"},
                }
            ]
        }
    warned = events(caplog, "dependency.unavailable")
    assert len(warned) == 1  # once, not per request
    assert warned[0]["dependency"] == ("redis" if field == "redis" else "database")
    assert events(caplog, "graphql.unexpected_error") == []


async def test_expected_errors_and_bugs_keep_their_answers(
    edge: Litestar, caplog: pytest.LogCaptureFixture
) -> None:
    async with asgi_client(edge) as client:
        missing = await client.post("/graphql", json={"query": "{ missing }"})
        bug = await client.post("/graphql", json={"query": "{ bug }"})
    assert missing.status_code == 200
    assert missing.json()["errors"][0]["extensions"] == {"code": "NOT_FOUND", "field": "id"}
    assert bug.status_code == 200
    assert bug.json()["errors"][0]["extensions"] == {"code": "INTERNAL_SERVER_ERROR"}
    assert len(events(caplog, "graphql.unexpected_error")) == 1  # with its traceback
    assert events(caplog, "dependency.unavailable") == []


async def test_readiness_reports_each_dependency(client: Any) -> None:
    response = await client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "migrations": "ok",
        "redis": "not configured",
    }


async def test_a_database_behind_the_code_is_not_ready_one_ahead_is(
    app: Litestar, client: Any
) -> None:
    shipped = script_revisions()
    app.state.revisions = Revisions(  # this code as if it had one more migration
        heads=frozenset({"9999"}), known=shipped.known | {"9999"}
    )
    behind = await client.get("/health/ready")
    assert (behind.status_code, behind.json()["migrations"]) == (503, "behind")
    app.state.revisions = Revisions(heads=frozenset({"0001"}), known=frozenset({"0001"}))
    ahead = await client.get("/health/ready")  # older code during a rolling deploy
    assert (ahead.status_code, ahead.json()["migrations"]) == (200, "ahead")


def test_revisions_are_judged_against_the_shipped_migrations() -> None:
    revisions = Revisions(heads=frozenset({"0006"}), known=frozenset({"0005", "0006"}))
    assert revisions.judge({"0006"}) == "ok"
    assert revisions.judge({"0005"}) == "behind"
    assert revisions.judge(set()) == "behind"  # never migrated
    assert revisions.judge({"0007"}) == "ahead"
