"""Extracts are immutable: strong ETags and long private caching; public documents are shared."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.extracts.flows import create_extract, holder

IMMUTABLE = "private, immutable, max-age=31536000"


@pytest.mark.parametrize(
    ("suffix", "media_type"),
    [
        ("", "application/json"),
        (".json", "application/json"),
        (".jws", "application/jose"),
        (".html?lang=en", "text/html; charset=utf-8"),
        (".html?lang=nl", "text/html; charset=utf-8"),
        (".pdf", "application/pdf"),
    ],
)
async def test_owner_downloads_are_immutable_with_strong_etags(
    client: httpx.AsyncClient, db: AsyncSession, suffix: str, media_type: str
) -> None:
    _, diploma_id = await holder(client, db)
    extract = await create_extract(client, diploma_id)
    url = f"/extracts/{extract['id']}{suffix}"
    first = await client.get(url)
    assert first.status_code == 200
    assert first.headers["content-type"] == media_type
    assert first.headers["cache-control"] == IMMUTABLE
    assert "cookie" in first.headers["vary"].lower()
    etag = first.headers["etag"]
    assert etag.startswith('"')  # strong, not W/"…"
    again = await client.get(url)
    assert again.headers["etag"] == etag
    assert again.content == first.content  # strong: byte for byte (the PDF too)
    cached = await client.get(url, headers={"if-none-match": etag})
    assert cached.status_code == 304
    assert cached.content == b""
    assert cached.headers["etag"] == etag


async def test_languages_have_different_etags(client: httpx.AsyncClient, db: AsyncSession) -> None:
    _, diploma_id = await holder(client, db)
    extract = await create_extract(client, diploma_id)
    en = await client.get(f"/extracts/{extract['id']}.html?lang=en")
    nl = await client.get(f"/extracts/{extract['id']}.html?lang=nl")
    assert en.headers["etag"] != nl.headers["etag"]


async def test_jwks_is_public_and_cached_for_an_hour(client: httpx.AsyncClient) -> None:
    response = await client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/jwk-set+json")
    assert response.headers["cache-control"] == "public, max-age=3600"
    assert response.headers["access-control-allow-origin"] == "*"
    keys = response.json()["keys"]
    assert keys
    assert all(k["alg"] == "ES256" and k["use"] == "sig" and k["kid"] for k in keys)
    etag = response.headers["etag"]
    again = await client.get("/.well-known/jwks.json", headers={"if-none-match": etag})
    assert again.status_code == 304


async def test_status_list_is_public_with_a_short_cache(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    _, diploma_id = await holder(client, db)
    await create_extract(client, diploma_id)
    response = await client.get("/extracts/status/1")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/jose"
    assert response.headers["cache-control"] == "public, max-age=300"
    assert response.headers["access-control-allow-origin"] == "*"
    etag = response.headers["etag"]
    assert etag.startswith('W/"')  # the content, not the bytes: signatures are randomised
    again = await client.get("/extracts/status/1", headers={"if-none-match": etag})
    assert again.status_code == 304


@pytest.mark.parametrize("number", ["0", "2", "999999999", "x"])
async def test_status_lists_not_in_use_are_404(
    client: httpx.AsyncClient, db: AsyncSession, number: str
) -> None:
    _, diploma_id = await holder(client, db)
    await create_extract(client, diploma_id)
    response = await client.get(f"/extracts/status/{number}")
    assert response.status_code in (400, 404)


async def test_renderings_default_to_the_language_the_owner_chose_since(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    """An extract made in English renders in Dutch once the person reads the app in Dutch."""
    _, diploma_id = await holder(client, db)

    async def choose(language: str) -> None:
        mutation = (
            "mutation($l: String) { updatePreferences(input: {preferredLanguage: $l}) { id } }"
        )
        body = (
            await client.post("/graphql", json={"query": mutation, "variables": {"l": language}})
        ).json()
        assert "errors" not in body, body

    await choose("en")
    extract = await create_extract(client, diploma_id, "en")
    before = await client.get(f"/extracts/{extract['id']}.html")
    assert '<html lang="en">' in before.text
    await choose("nl")
    after = await client.get(f"/extracts/{extract['id']}.html")
    assert '<html lang="nl">' in after.text
    assert after.headers["etag"] != before.headers["etag"]
    asked = await client.get(f"/extracts/{extract['id']}.html?lang=en")
    assert '<html lang="en">' in asked.text
