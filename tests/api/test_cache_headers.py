"""Caching is decided once, at the edge: every dynamic answer is `no-store` unless its route
says otherwise on purpose; the PWA's own files stay cacheable."""

from __future__ import annotations

import uuid

import httpx
import pytest

ORIGIN = {"origin": "http://testserver.local"}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/graphql?query={__typename}", None),
        ("POST", "/auth/login/options", {}),
        ("POST", "/auth/login", {"id": "x"}),  # a refusal
        ("POST", "/forms/attachments", {"filename": "x"}),  # unauthenticated
        ("GET", f"/forms/attachments/{uuid.uuid4()}", None),
        ("POST", "/extracts/verify", {"jws": "not-a-jws"}),
        ("GET", "/s/unknown-token", None),
        ("GET", "/health/live", None),
    ],
)
async def test_dynamic_answers_are_never_stored(
    client: httpx.AsyncClient, method: str, path: str, body: object
) -> None:
    headers = {"accept": "application/json", **ORIGIN}
    response = await client.request(method, path, json=body, headers=headers)
    assert response.status_code < 500, response.text
    assert response.headers["cache-control"] == "no-store"


async def test_public_documents_keep_their_own_caching(client: httpx.AsyncClient) -> None:
    jwks = await client.get("/.well-known/jwks.json")
    assert jwks.headers["cache-control"].startswith("public")


async def test_the_apps_own_files_stay_cacheable(client: httpx.AsyncClient) -> None:
    shell = await client.get("/js/app.js")
    assert shell.status_code == 200
    assert "no-store" not in shell.headers.get("cache-control", "")


@pytest.mark.parametrize(
    "path", ["/nope", "/nope.js", "/js/nope.js", "/icons/nope.png", "/auth", "/graphql/x"]
)
async def test_unknown_paths_are_never_stored(client: httpx.AsyncClient, path: str) -> None:
    """A 404 anywhere, the PWA's own paths included: a cache must not keep answering it."""
    response = await client.get(path, headers={"accept": "application/json"})
    assert response.status_code in (404, 405), response.text
    assert response.headers["cache-control"] == "no-store"
