"""The GraphQL contract in graphql/ and the PWA's hashes are exported from code, not hand-edited."""

from __future__ import annotations

from api.app import create_app
from api.openapi import DOCUMENT, document
from api.persisted import OPERATIONS_MODULE, operations_module
from api.schema import schema_sdl
from api.settings import PROJECT_ROOT, Settings
from tests.support import asgi_client


def test_exported_sdl_matches_the_code() -> None:
    exported = (PROJECT_ROOT / "graphql" / "schema.graphql").read_text(encoding="utf-8")
    assert exported == schema_sdl(), "graphql/schema.graphql is stale: run `make schema`"


def test_pwa_operation_hashes_match_the_documents() -> None:
    assert OPERATIONS_MODULE.read_text(encoding="utf-8") == operations_module(), (
        "pwa/js/operations.js is stale: run `make schema`"
    )


def test_graphql_directory_holds_no_python() -> None:
    """A Python file there would shadow graphql-core, which Strawberry imports as `graphql`."""
    assert not list((PROJECT_ROOT / "graphql").rglob("*.py"))


def test_exported_openapi_matches_the_routes() -> None:
    """contract/openapi.json is what Litestar generates from the REST routes today."""
    exported = DOCUMENT.read_text(encoding="utf-8")
    assert exported == document(create_app(Settings())), (
        "contract/openapi.json is stale: run `make schema`"
    )


async def test_development_serves_the_openapi_document() -> None:
    async with asgi_client(create_app(Settings())) as client:
        response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    assert response.json()["info"]["title"] == "DUO Abroad REST API"
    assert "/auth/login" in response.json()["paths"]


async def test_elsewhere_no_openapi_is_served() -> None:
    async with asgi_client(create_app(Settings(environment="test"))) as client:
        assert (await client.get("/schema/openapi.json")).status_code == 404
