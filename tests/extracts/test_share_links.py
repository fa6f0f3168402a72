"""Share links: a verifier opens one without an account; the holder sees who did, and ends it."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession

from api.database import utcnow
from auth.audit import RequestMeta
from extracts import service
from extracts.cli import revoke
from tests.extracts.flows import CREATE_LINK, SHARE_LINKS, create_extract, holder
from tests.support import asgi_client, gql


async def _share(
    client: httpx.AsyncClient, db: AsyncSession, days: int = 30
) -> tuple[dict[str, Any], dict[str, Any]]:
    _, diploma_id = await holder(client, db)
    extract = await create_extract(client, diploma_id)
    body = await gql(client, CREATE_LINK, {"e": extract["id"], "days": days})
    assert "errors" not in body, body
    return extract, body["data"]["createShareLink"]


def _path(url: str) -> str:
    assert url.startswith("http://localhost:8000/s/")
    return url.removeprefix("http://localhost:8000")


async def test_a_verifier_opens_a_link_and_the_holder_sees_the_access(
    app: Litestar, client: httpx.AsyncClient, db: AsyncSession
) -> None:
    extract, created = await _share(client, db)
    link = created["shareLink"]
    assert created["qrSvgDataUri"].startswith("data:image/svg+xml")
    expires = datetime.fromisoformat(link["expiresAt"])
    assert abs(expires - (utcnow() + timedelta(days=30))) < timedelta(minutes=1)
    assert (link["expired"], link["revoked"], link["accessCount"]) == (False, False, 0)

    async with asgi_client(app) as verifier:  # no cookie, no account
        opened = await verifier.get(
            _path(created["url"]),
            headers={"accept": "application/json", "cf-ipcountry": "DE"},
        )
        assert opened.status_code == 200, opened.text
        assert opened.headers["cache-control"] == "no-store"
        body = opened.json()
        assert body["verification"]["result"] == "valid"
        assert body["verification"]["payload"]["jti"] == extract["id"]
        assert body["jws"].count(".") == 2
        # A browser gets a page with the verdict, under the app's CSP.
        page = await verifier.get(_path(created["url"]), headers={"accept": "text/html"})
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "verdict-valid" in page.text
        assert "<script" not in page.text
        # The owner's download URLs stay closed to the verifier.
        assert (await verifier.get(f"/extracts/{extract['id']}.jws")).status_code == 401

    links = (await gql(client, SHARE_LINKS))["data"]["viewer"]["shareLinks"]
    assert links[0]["accessCount"] == 2
    accesses = links[0]["accesses"]
    assert {a["country"] for a in accesses} == {"DE", None}
    assert all(a["verified"] and a["result"] == "valid" for a in accesses)


async def test_a_revoked_link_is_refused_and_not_logged(
    app: Litestar, client: httpx.AsyncClient, db: AsyncSession
) -> None:
    _, created = await _share(client, db)
    revoked = await gql(
        client,
        "mutation($id: ID!) { revokeShareLink(id: $id) { id revoked revokedAt } }",
        {"id": created["shareLink"]["id"]},
    )
    assert revoked["data"]["revokeShareLink"]["revoked"] is True
    async with asgi_client(app) as verifier:
        response = await verifier.get(_path(created["url"]))
        assert response.status_code == 404
        error = response.json()["errors"][0]
        assert error["extensions"]["code"] == "NOT_FOUND"
        assert "withdrawn" in error["message"]
        page = await verifier.get(_path(created["url"]), headers={"accept": "text/html"})
        assert page.status_code == 404
        assert "withdrawn" in page.text
    links = (await gql(client, SHARE_LINKS))["data"]["viewer"]["shareLinks"]
    assert links[0]["revoked"] is True
    assert links[0]["accessCount"] == 0


async def test_an_expired_link_is_refused(
    app: Litestar, client: httpx.AsyncClient, db: AsyncSession
) -> None:
    person_id, diploma_id = await holder(client, db)
    extract = await create_extract(client, diploma_id)
    created = await service.create_share_link(
        db,
        person_id,
        uuid.UUID(extract["id"]),
        expires_in_days=1,
        meta=RequestMeta(),
        now=utcnow() - timedelta(days=2),
    )
    await db.commit()
    async with asgi_client(app) as verifier:
        response = await verifier.get(f"/s/{created.token}")
    assert response.status_code == 404
    assert "expired" in response.json()["errors"][0]["message"]
    links = (await gql(client, SHARE_LINKS))["data"]["viewer"]["shareLinks"]
    assert links[0]["expired"] is True


async def test_an_unknown_link_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/s/no-such-token")
    assert response.status_code == 404
    assert response.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_a_link_to_a_revoked_extract_says_revoked(
    app: Litestar, client: httpx.AsyncClient, db: AsyncSession
) -> None:
    extract, created = await _share(client, db)
    await revoke(db, uuid.UUID(extract["id"]), reason="Issued in error", staff="jdv")
    await db.commit()
    async with asgi_client(app) as verifier:
        body = (await verifier.get(_path(created["url"]))).json()
    assert body["verification"]["result"] == "revoked"
    access = (await gql(client, SHARE_LINKS))["data"]["viewer"]["shareLinks"][0]["accesses"][0]
    assert (access["verified"], access["result"]) == (False, "revoked")


@pytest.mark.parametrize("days", [0, -1, 366])
async def test_expiry_must_be_1_to_365_days(
    client: httpx.AsyncClient, db: AsyncSession, days: int
) -> None:
    _, diploma_id = await holder(client, db)
    extract = await create_extract(client, diploma_id)
    body = await gql(client, CREATE_LINK, {"e": extract["id"], "days": days})
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "expiresInDays"}


async def test_a_year_is_allowed_and_thirty_days_is_the_default(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    _, diploma_id = await holder(client, db)
    extract = await create_extract(client, diploma_id)
    year = await gql(client, CREATE_LINK, {"e": extract["id"], "days": 365})
    assert "errors" not in year
    default = await gql(
        client,
        "mutation($e: ID!) { createShareLink(extractId: $e) { shareLink { expiresAt } } }",
        {"e": extract["id"]},
    )
    expires = datetime.fromisoformat(default["data"]["createShareLink"]["shareLink"]["expiresAt"])
    assert abs(expires - (utcnow() + timedelta(days=30))) < timedelta(minutes=1)
