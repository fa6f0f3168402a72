"""#16 item 10: what a verifier reads, from a share link or the QR code's /v/<extract id>:
what DUO checked, when, what it proves and how to check again; never "give it the .jws file"."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession

from extracts.cli import revoke
from tests.extracts.flows import CREATE_LINK, create_extract, holder
from tests.support import asgi_client, gql

HTML = {"accept": "text/html"}


async def _extract(client: httpx.AsyncClient, db: AsyncSession) -> dict[str, Any]:
    _, diploma_id = await holder(client, db)
    return await create_extract(client, diploma_id, "en")


def speaks_to_a_verifier(page: str) -> None:
    assert "What DUO checked" in page
    assert "the digital signature is DUO" in page
    assert "has not revoked it" in page
    assert "What this proves" in page
    assert "identity document" in page
    assert "Checking again later" in page
    assert ".jws" not in page
    assert "extract file" not in page
    assert "<img" not in page  # no QR code to scan from the screen it is shown on
    assert "<script" not in page


async def test_the_qr_codes_address_checks_the_extract_for_anyone(
    app: Litestar, client: httpx.AsyncClient, db: AsyncSession
) -> None:
    extract = await _extract(client, db)
    async with asgi_client(app) as verifier:  # no cookie, no account
        page = await verifier.get(f"/v/{extract['id']}", headers=HTML)
        assert page.status_code == 200, page.text
        assert page.headers["cache-control"] == "no-store"
        assert page.headers["x-robots-tag"] == "noindex"
        assert "verdict-valid" in page.text
        speaks_to_a_verifier(page.text)
        assert f"http://localhost:8000/v/{extract['id']}" in page.text  # how to check again
        dutch = await verifier.get(f"/v/{extract['id']}?lang=nl", headers=HTML)
        assert "Wat DUO heeft gecontroleerd" in dutch.text
        assert "Wat dit bewijst" in dutch.text
        answer = await verifier.get(f"/v/{extract['id']}", headers={"accept": "application/json"})
        assert answer.json()["verification"]["result"] == "valid"
        assert answer.json()["jws"].count(".") == 2
        unknown = await verifier.get(f"/v/{uuid.uuid4()}", headers=HTML)
        assert unknown.status_code == 404
        assert "No extract with this number" in unknown.text
        bad = await verifier.get("/v/not-an-id", headers=HTML)
        assert bad.status_code in (400, 404)


async def test_a_revoked_extract_says_so_and_shows_nothing_of_the_person(
    app: Litestar, client: httpx.AsyncClient, db: AsyncSession
) -> None:
    extract = await _extract(client, db)
    async with asgi_client(app) as verifier:
        before = await verifier.get(f"/v/{extract['id']}", headers=HTML)
        name = before.text.split("<title>")[1].split("</title>")[0].split("·")[-1].strip()
        assert name
        await revoke(db, uuid.UUID(extract["id"]), reason="withdrawn", staff="jdv")
        await db.commit()
        after = await verifier.get(f"/v/{extract['id']}", headers=HTML)
        assert after.status_code == 200
        assert "Revoked" in after.text
        assert name not in after.text
        answer = await verifier.get(f"/v/{extract['id']}", headers={"accept": "application/json"})
        assert answer.json()["verification"]["result"] == "revoked"
        assert answer.json()["jws"] is None


async def test_a_share_link_page_speaks_to_a_verifier_with_the_links_end(
    app: Litestar, client: httpx.AsyncClient, db: AsyncSession
) -> None:
    extract = await _extract(client, db)
    body = await gql(client, CREATE_LINK, {"e": extract["id"], "days": 7})
    url = body["data"]["createShareLink"]["url"]
    expires = body["data"]["createShareLink"]["shareLink"]["expiresAt"]
    async with asgi_client(app) as verifier:
        page = await verifier.get(url.removeprefix("http://localhost:8000"), headers=HTML)
    assert page.status_code == 200
    speaks_to_a_verifier(page.text)
    assert "Open this link again until" in page.text
    day = int(expires[8:10])
    assert f"until {day} " in page.text  # the link's end, in words


async def test_the_holders_copy_says_how_to_check_without_any_file(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    extract = await _extract(client, db)
    for language, words in (("en", "scan the QR code or open"), ("nl", "scan de QR-code of open")):
        page = (await client.get(f"/extracts/{extract['id']}.html?lang={language}")).text
        assert words in page
        assert f"/v/{extract['id']}" in page
        assert "uittrekselbestand" not in page
        assert "give it the extract file" not in page
    pdf = await client.get(f"/extracts/{extract['id']}.pdf?lang=en")
    assert pdf.status_code == 200
