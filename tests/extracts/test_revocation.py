"""Staff revocation flips the extract's bit in the signed status list; verifiers see it."""

from __future__ import annotations

import base64
import gzip
import uuid
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from api.errors import InvalidInput, NotFound
from auth.models import AuditEvent
from extracts import service, statuslist
from extracts.cli import revoke
from extracts.models import Extract, StatusCounter
from tests.extracts.flows import create_extract, fetch_jws, holder, pyjwt_decode, verify
from tests.support import gql


def decode_list(token: str, jwks: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    """Decode a status list with PyJWT and the standard library only."""
    payload = pyjwt_decode(token, jwks, require=("iss", "iat"))
    encoded = payload["credentialSubject"]["encodedList"]
    assert encoded.startswith("u")  # multibase base64url
    raw = encoded[1:]
    return payload, gzip.decompress(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))


def bit(bits: bytes, index: int) -> int:
    return (bits[index // 8] >> (7 - index % 8)) & 1  # index 0 = left-most bit


async def test_revocation_shows_in_the_status_list_and_verification(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    person_id, diploma_id = await holder(client, db)
    kept = await create_extract(client, diploma_id)
    revoked = await create_extract(client, diploma_id)
    token = await fetch_jws(client, revoked["id"])
    jwks = (await client.get("/.well-known/jwks.json")).json()
    before = await client.get("/extracts/status/1")

    row = await revoke(
        db, uuid.UUID(revoked["id"]), reason="Diploma withdrawn by the institution", staff="jdv"
    )
    await db.commit()
    assert row.revoked_reason == "Diploma withdrawn by the institution"

    assert (await verify(client, token))["result"] == "revoked"
    assert (await verify(client, await fetch_jws(client, kept["id"])))["result"] == "valid"
    listed = await gql(client, "{ viewer { extracts { id revoked revokedAt } } }")
    flags = {e["id"]: e["revoked"] for e in listed["data"]["viewer"]["extracts"]}
    assert flags == {kept["id"]: False, revoked["id"]: True}

    after = await client.get("/extracts/status/1")
    assert after.headers["etag"] != before.headers["etag"]
    payload, bits = decode_list(after.text, jwks)
    assert payload["id"] == "http://localhost:8000/extracts/status/1"
    assert payload["credentialSubject"]["statusPurpose"] == "revocation"
    assert jwt.get_unverified_header(after.text)["typ"] == "duo-statuslist+jwt"
    assert len(bits) * 8 == statuslist.LIST_SIZE == 131_072
    revoked_index = int(pyjwt_decode(token, jwks)["credentialStatus"]["statusListIndex"])
    kept_payload = pyjwt_decode(await fetch_jws(client, kept["id"]), jwks)
    kept_index = int(kept_payload["credentialStatus"]["statusListIndex"])
    assert bit(bits, revoked_index) == 1
    assert bit(bits, kept_index) == 0
    assert sum(bin(b).count("1") for b in bits) == len(
        (await db.scalars(select(Extract.id).where(Extract.revoked_at.is_not(None)))).all()
    )

    event = await db.scalar(
        select(AuditEvent).where(
            AuditEvent.person_id == person_id, AuditEvent.action == "extract.revoke"
        )
    )
    assert event is not None
    assert event.actor == "staff:jdv"
    assert event.details["extractId"] == revoked["id"]


async def test_revoking_needs_a_reason_and_a_real_extract(db: AsyncSession) -> None:
    with pytest.raises(NotFound):
        await revoke(db, uuid.uuid4(), reason="x", staff="jdv")
    with pytest.raises(InvalidInput):
        await revoke(db, uuid.uuid4(), reason="  ", staff="jdv")


def test_bits_are_counted_from_the_left_most_bit() -> None:
    bits, encoded = statuslist.encode_bits([0, 9, statuslist.LIST_SIZE - 1])
    assert bits[0] == 0b1000_0000
    assert bits[1] == 0b0100_0000
    assert bits[-1] == 0b0000_0001
    assert statuslist.decode_bits(encoded) == bits
    assert len(encoded) < 300  # mostly zeros: tiny on the wire
    assert statuslist.list_position(131_072) == (2, 0)
    assert statuslist.list_position(131_071) == (1, 131_071)


def test_a_decompression_bomb_is_refused() -> None:
    bomb = gzip.compress(b"\0" * (statuslist.LIST_SIZE // 8 * 17))
    encoded = "u" + statuslist.b64url(bomb)
    with pytest.raises(statuslist.StatusListError):
        statuslist.decode_bits(encoded)


async def test_index_allocation_is_sequential(db: AsyncSession) -> None:
    first = await service.allocate_status_index(db)
    second = await service.allocate_status_index(db)
    assert second == first + 1


async def test_concurrent_allocations_on_postgres_never_collide(
    engine: AsyncEngine, is_postgres: bool
) -> None:
    """Two transactions allocate at once; the second waits for the first's row lock."""
    if not is_postgres:
        pytest.skip("SQLite has a single writer; the row lock matters on PostgreSQL")
    import asyncio

    from sqlalchemy.ext.asyncio import AsyncSession as Session

    async with engine.connect() as c1, engine.connect() as c2:
        s1, s2 = Session(bind=c1), Session(bind=c2)
        first = await service.allocate_status_index(s1)
        waiting = asyncio.create_task(service.allocate_status_index(s2))
        await asyncio.sleep(0.2)
        assert not waiting.done()  # blocked on the counter row
        await s1.commit()
        second = await waiting
        assert second == first + 1
        # Put the counter back: this test must leave no trace for the others.
        await s2.execute(
            update(StatusCounter)
            .where(StatusCounter.purpose == statuslist.PURPOSE)
            .values(next_index=first)
        )
        await s2.commit()
        await s1.close()
        await s2.close()
