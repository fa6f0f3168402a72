"""The GraphQL contract in graphql/ and the PWA's hashes are exported from code, not hand-edited."""

from __future__ import annotations

from api.persisted import OPERATIONS_MODULE, operations_module
from api.schema import schema_sdl
from api.settings import PROJECT_ROOT


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
