"""Persisted queries: the PWA sends hashes; production refuses anything else."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.app import create_app
from api.persisted import OPERATIONS_DIR, PersistedDocuments
from api.settings import Settings
from tests.support import asgi_client, sign_in

DASHBOARD_HASH = (
    PersistedDocuments.load().by_text[(OPERATIONS_DIR / "Dashboard.graphql").read_text()].sha256
)


def persisted(sha: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha}}


@pytest.fixture
async def prod_client(
    database_url: str, session_factory: async_sessionmaker[AsyncSession]
) -> AsyncIterator[httpx.AsyncClient]:
    """An app configured like production: persisted queries only, no introspection, no IDE."""
    settings = Settings(environment="test", database_url=database_url, allow_adhoc_queries=False)
    app: Litestar = create_app(settings, session_factory=session_factory)
    async with asgi_client(app, "http://testserver.local") as c:
        yield c


async def test_dashboard_by_hash_over_get(
    prod_client: httpx.AsyncClient, db: AsyncSession, person_factory: Any
) -> None:
    me = await person_factory()
    await sign_in(prod_client, db, me.person["id"])
    response = await prod_client.get(
        "/graphql",
        params={"operationName": "Dashboard", "extensions": json.dumps(persisted(DASHBOARD_HASH))},
        headers={"accept": "application/json"},
    )
    assert response.status_code == 200
    person = response.json()["data"]["viewer"]["person"]
    assert person["customerNumber"] == me.person["customer_number"]


async def test_unknown_hash_is_a_clear_400(prod_client: httpx.AsyncClient) -> None:
    response = await prod_client.post("/graphql", json={"extensions": persisted("ab" * 32)})
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    assert "Unknown persisted query" in error["message"]


async def test_malformed_hash_is_a_clear_400(prod_client: httpx.AsyncClient) -> None:
    response = await prod_client.post(
        "/graphql", json={"extensions": {"persistedQuery": {"sha256Hash": 42}}}
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_INVALID"


async def test_text_that_does_not_match_its_hash_is_refused(
    prod_client: httpx.AsyncClient,
) -> None:
    response = await prod_client.post(
        "/graphql",
        json={"query": "{ __typename }", "extensions": persisted(DASHBOARD_HASH)},
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_MISMATCH"


async def test_production_refuses_adhoc_queries(prod_client: httpx.AsyncClient) -> None:
    response = await prod_client.post("/graphql", json={"query": "{ __typename }"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_REQUIRED"


async def test_production_has_no_ide(prod_client: httpx.AsyncClient) -> None:
    response = await prod_client.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 404


async def test_introspection_is_off_without_adhoc_queries(
    database_url: str, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    from api.schema import build_schema

    schema = build_schema(Settings(environment="test", allow_adhoc_queries=False))
    result = await schema.execute("{ __schema { types { name } } }")
    assert result.errors
    assert "introspection" in result.errors[0].message.lower()


def test_every_operation_is_valid_and_within_limits() -> None:
    """The allowlist is checked at startup with the limits that ad-hoc queries get."""
    from api.schema import build_schema

    docs = PersistedDocuments.load()
    assert "Dashboard" in {d.name for d in docs.by_hash.values()}
    docs.check_against(build_schema(Settings()), Settings())
    with pytest.raises(RuntimeError, match="depth"):
        docs.check_against(build_schema(Settings()), Settings(graphql_max_depth=2))
