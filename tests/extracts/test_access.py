"""Only the holder creates or reads their extracts; everyone else learns nothing."""

from __future__ import annotations

import uuid

import httpx
import pytest
from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession

from tests.extracts.flows import CREATE_EXTRACT, CREATE_LINK, add_diploma, create_extract, holder
from tests.support import add_person, asgi_client, error_codes, gql, sign_in

SUFFIXES = ("", ".json", ".jws", ".html", ".pdf")


async def test_another_persons_diploma_is_not_found(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    await holder(client, db)
    stranger = await add_person(db)
    their_diploma = await add_diploma(db, stranger.person["id"])
    body = await gql(client, CREATE_EXTRACT, {"d": str(their_diploma), "l": "en"})
    assert body["errors"][0]["extensions"] == {"code": "NOT_FOUND", "field": "diplomaId"}
    assert body["data"] is None


@pytest.mark.parametrize(
    ("variables", "field"),
    [
        ({"l": "de"}, "language"),
        ({"l": "EN"}, "language"),
        ({"d": "not-a-uuid"}, "diplomaId"),
    ],
)
async def test_bad_input_names_the_field(
    client: httpx.AsyncClient, db: AsyncSession, variables: dict[str, str], field: str
) -> None:
    _, diploma_id = await holder(client, db)
    body = await gql(client, CREATE_EXTRACT, {"d": str(diploma_id), "l": "en", **variables})
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": field}


async def test_creating_needs_a_session(client: httpx.AsyncClient) -> None:
    body = await gql(client, CREATE_EXTRACT, {"d": str(uuid.uuid4()), "l": "en"})
    assert error_codes(body) == ["UNAUTHENTICATED"]


async def test_another_person_cannot_read_or_share_an_extract(
    app: Litestar, client: httpx.AsyncClient, db: AsyncSession
) -> None:
    _, diploma_id = await holder(client, db)
    extract = await create_extract(client, diploma_id)
    for suffix in SUFFIXES:
        assert (await client.get(f"/extracts/{extract['id']}{suffix}")).status_code == 200

    async with asgi_client(app) as other:
        stranger = await add_person(db)
        await sign_in(other, db, stranger.person["id"])
        for suffix in SUFFIXES:
            response = await other.get(f"/extracts/{extract['id']}{suffix}")
            assert response.status_code == 404, suffix
            assert response.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"
            assert "Algorithms" not in response.text
        listed = await gql(other, "{ viewer { extracts { id } shareLinks { id } } }")
        assert listed["data"]["viewer"] == {"extracts": [], "shareLinks": []}
        shared = await gql(other, CREATE_LINK, {"e": extract["id"], "days": 30})
        assert shared["errors"][0]["extensions"] == {"code": "NOT_FOUND", "field": "extractId"}

    # The holder's link cannot be revoked by someone else either.
    link = (await gql(client, CREATE_LINK, {"e": extract["id"], "days": 30}))["data"]
    async with asgi_client(app) as other:
        stranger = await add_person(db)
        await sign_in(other, db, stranger.person["id"])
        body = await gql(
            other,
            "mutation($id: ID!) { revokeShareLink(id: $id) { id } }",
            {"id": link["createShareLink"]["shareLink"]["id"]},
        )
        assert error_codes(body) == ["NOT_FOUND"]


async def test_without_a_session_downloads_are_401_whether_or_not_the_id_exists(
    app: Litestar, client: httpx.AsyncClient, db: AsyncSession
) -> None:
    _, diploma_id = await holder(client, db)
    extract = await create_extract(client, diploma_id)
    async with asgi_client(app) as anonymous:
        for extract_id in (extract["id"], str(uuid.uuid4())):
            response = await anonymous.get(f"/extracts/{extract_id}.jws")
            assert response.status_code == 401
            assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize("path", ["/extracts/nonsense", f"/extracts/{uuid.uuid4()}.exe"])
async def test_unknown_ids_and_formats_are_404(
    client: httpx.AsyncClient, db: AsyncSession, path: str
) -> None:
    await holder(client, db)
    assert (await client.get(path)).status_code == 404
    assert (await client.get(f"/extracts/{uuid.uuid4()}")).status_code == 404
