"""Abusive queries are refused with a clear error and the server stays healthy."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.support import error_codes, gql, sign_in


async def test_too_deep_query_is_refused(client: httpx.AsyncClient) -> None:
    fields = "nodes { id }"
    for _ in range(12):
        fields = f"... on Query {{ viewer {{ inbox {{ {fields} }} }} }}"
    query = "query { viewer { inbox { nodes { id } } } " + fields + " }"
    body = await gql(client, query)
    assert error_codes(body)
    assert error_codes(body)[0] == "GRAPHQL_VALIDATION_FAILED"
    assert "depth" in body["errors"][0]["message"]


async def test_too_many_aliases_are_refused(client: httpx.AsyncClient) -> None:
    aliases = " ".join(f"a{i}: __typename" for i in range(50))
    body = await gql(client, "{ " + aliases + " }")
    assert error_codes(body) == ["GRAPHQL_VALIDATION_FAILED"]
    assert "aliases" in body["errors"][0]["message"]


async def test_too_many_tokens_are_refused(client: httpx.AsyncClient) -> None:
    body = await gql(client, "{ " + " ".join(["__typename"] * 3000) + " }")
    assert error_codes(body) == ["GRAPHQL_VALIDATION_FAILED"]
    assert "tokens" in body["errors"][0]["message"]


async def test_server_answers_normally_after_abuse(
    client: httpx.AsyncClient, db: AsyncSession, person_factory: Any
) -> None:
    for _ in range(3):
        await gql(client, "{ " + " ".join(f"a{i}: __typename" for i in range(50)) + " }")
    assert (await client.get("/health/live")).status_code == 200
    me = await person_factory()
    await sign_in(client, db, me.person["id"])
    body = await gql(client, "{ viewer { person { givenNames } } }")
    assert body["data"]["viewer"]["person"]["givenNames"] == me.person["given_names"]


async def test_syntax_errors_are_reported_not_masked(client: httpx.AsyncClient) -> None:
    body = await gql(client, "{ viewer { ")
    assert error_codes(body) == ["GRAPHQL_VALIDATION_FAILED"]
    assert "Syntax Error" in body["errors"][0]["message"]
