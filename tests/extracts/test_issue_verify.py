"""Issuing an extract and verifying it: with PyJWT from the JWKS alone, and with our endpoint."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
from joserfc.jwk import ECKey
from sqlalchemy.ext.asyncio import AsyncSession

from api.database import utcnow
from extracts import service
from extracts.issuer import ExtractIssuer
from extracts.keys import KeyRing, import_jwk
from extracts.statuslist import b64url_decode
from tests.extracts.flows import (
    YILMAZ,
    create_extract,
    fetch_jws,
    flip,
    holder,
    pyjwt_decode,
    verify,
)


async def test_extract_verifies_with_pyjwt_using_only_the_jwks(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    _, diploma_id = await holder(client, db, given_names="Ayşe", family_name=YILMAZ)
    extract = await create_extract(client, diploma_id, "nl")
    assert extract["version"] == 1
    assert extract["language"] == "nl"
    token = await fetch_jws(client, extract["id"])

    jwks = (await client.get("/.well-known/jwks.json")).json()
    assert all("d" not in key for key in jwks["keys"]), "a private key was published"
    payload = pyjwt_decode(token, jwks)
    assert jwt.get_unverified_header(token)["alg"] == "ES256"
    assert payload["jti"] == extract["id"]
    assert payload["iss"] == "http://localhost:8000"
    assert payload["holder"]["name"] == f"Ayşe {YILMAZ}"
    assert payload["holder"]["dateOfBirth"]
    assert payload["language"] == "nl"
    diploma = payload["diploma"]
    assert diploma["institution"] == "Technische Universiteit Delft"
    assert diploma["programmeCode"] == "60300"
    assert diploma["level"] == "wo"
    assert diploma["awardedOn"] == "2019-07-10"
    assert diploma["results"][0] == {"subject": "Algorithms", "grade": "8.5", "credits": 6}
    status = payload["credentialStatus"]
    assert status["type"] == "BitstringStatusListEntry"
    assert status["statusPurpose"] == "revocation"
    assert status["statusListCredential"] == "http://localhost:8000/extracts/status/1"
    assert payload["exp"] - payload["iat"] == 365 * 86400

    verdict = await verify(client, token)
    assert verdict["result"] == "valid"
    assert verdict["issuer"] == "http://localhost:8000"
    assert verdict["payload"] == payload
    assert verdict["checkedAt"].endswith("Z")
    assert verdict["statusListFetchedAt"].endswith("Z")


async def test_any_changed_character_fails(client: httpx.AsyncClient, db: AsyncSession) -> None:
    _, diploma_id = await holder(client, db)
    token = await fetch_jws(client, (await create_extract(client, diploma_id))["id"])
    jwks = (await client.get("/.well-known/jwks.json")).json()
    app_issuer: ExtractIssuer = client._transport.app.state.extract_issuer  # type: ignore[attr-defined]

    # Every character position, through the same code the endpoint uses.
    for position, char in enumerate(token):
        if char == ".":
            continue
        verdict = await app_issuer.verify(db, flip(token, position))
        assert verdict.result.value in ("tampered", "unknown_issuer"), position
        assert verdict.payload is None

    # A sample over HTTP, and PyJWT (independent) refuses the same changes.
    header_end, payload_end = token.index("."), token.rindex(".")
    for position in (5, header_end + 10, (header_end + payload_end) // 2, payload_end + 20):
        changed = flip(token, position)
        assert (await verify(client, changed))["result"] in ("tampered", "unknown_issuer")
        with pytest.raises(jwt.PyJWTError):
            pyjwt_decode(changed, jwks)


async def test_a_key_not_in_the_jwks_is_an_unknown_issuer(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    _, diploma_id = await holder(client, db)
    token = await fetch_jws(client, (await create_extract(client, diploma_id))["id"])
    payload = token.split(".")[1]
    forger = KeyRing([import_jwk(ECKey.generate_key("P-256", private=True).as_dict(private=True))])
    forged = forger.sign(b64url_decode(payload), typ="duo-extract+jwt")
    verdict = await verify(client, forged)
    assert verdict["result"] == "unknown_issuer"
    assert verdict["payload"] is None
    assert verdict["issuer"] is None


@pytest.mark.parametrize(
    "body",
    [
        {"jws": "not a jws"},
        {"jws": "a.b"},
        {"jws": "a.b.c.d"},
        {"jws": "x" * 70_000},
        {"jwt": "missing field"},
    ],
)
async def test_malformed_input_is_a_clear_400(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    response = await client.post("/extracts/verify", json=body)
    assert response.status_code in (400, 413), response.text
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] in ("BAD_USER_INPUT", "BAD_REQUEST", "PAYLOAD_TOO_LARGE")
    assert error["message"]


async def test_a_status_list_is_not_accepted_as_an_extract(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    _, diploma_id = await holder(client, db)
    await create_extract(client, diploma_id)
    status = (await client.get("/extracts/status/1")).text
    response = await client.post("/extracts/verify", json={"jws": status})
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"] == {
        "code": "BAD_USER_INPUT",
        "field": "jws",
    }


async def test_verify_needs_json(client: httpx.AsyncClient) -> None:
    response = await client.post("/extracts/verify", content=b"jws=x")
    assert response.status_code == 415


async def test_an_extract_past_its_end_date_is_expired(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    person_id, diploma_id = await holder(client, db)
    app_issuer: ExtractIssuer = client._transport.app.state.extract_issuer  # type: ignore[attr-defined]
    old = await service.create_extract(
        db,
        person_id,
        diploma_id,
        language="en",
        ring=await app_issuer.ring(),
        config=app_issuer.config,
        now=utcnow() - timedelta(days=400),
    )
    await db.commit()
    assert (await verify(client, old.jws))["result"] == "expired"


async def test_new_extract_of_the_same_diploma_is_a_new_version(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    _, diploma_id = await holder(client, db)
    first = await create_extract(client, diploma_id, "en")
    second = await create_extract(client, diploma_id, "nl")
    assert (first["version"], second["version"]) == (1, 2)
    assert first["id"] != second["id"]
    listed = await client.post(
        "/graphql", json={"query": "{ viewer { extracts { id version revoked } } }"}
    )
    extracts = listed.json()["data"]["viewer"]["extracts"]
    assert [e["version"] for e in extracts] == [2, 1]  # newest first, old ones kept
    # Both stay valid: a new version does not revoke the old one.
    for extract in (first, second):
        assert (await verify(client, await fetch_jws(client, extract["id"])))["result"] == "valid"
