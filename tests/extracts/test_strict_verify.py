"""A listed key is not enough: the issuer, the time claims and the one signed form must hold too.

Online (POST /extracts/verify), offline (`extract verify`) and for form receipts alike.
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from joserfc import jws
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.es256 import P256_ORDER
from api.settings import Settings
from extracts.cli import public_documents, verify_files, write_documents
from extracts.issuer import ExtractIssuer
from extracts.keys import KeyRing
from forms.receipts import JoseReceiptSigner, ReceiptInvalid, verify_receipt
from tests.extracts.flows import create_extract, fetch_jws, holder, pyjwt_decode, verify
from tests.extracts.test_cli import run_cli

TYP = "duo-extract+jwt"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def payload_of(token: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(unb64(token.split(".")[1]))
    return value


def high_s_twin(token: str) -> str:
    """(r, n - s): the other signature ECDSA accepts for the very same content (SEC 1 §4.1.4)."""
    header, payload, signature = token.split(".")
    raw = unb64(signature)
    s = int.from_bytes(raw[32:], "big")
    return f"{header}.{payload}.{b64(raw[:32] + (P256_ORDER - s).to_bytes(32, 'big'))}"


def low_s(token: str) -> bool:
    return int.from_bytes(unb64(token.split(".")[2])[32:], "big") <= P256_ORDER // 2


async def _ring(client: httpx.AsyncClient) -> KeyRing:
    issuer: ExtractIssuer = client._transport.app.state.extract_issuer  # type: ignore[attr-defined]
    return await issuer.ring()


async def _genuine(client: httpx.AsyncClient, db: AsyncSession) -> str:
    _, diploma_id = await holder(client, db)
    return await fetch_jws(client, (await create_extract(client, diploma_id))["id"])


async def _resigned(client: httpx.AsyncClient, token: str, **claims: Any) -> str:
    """The same extract with some claims changed, signed with DUO's own (listed) key."""
    payload = {**payload_of(token), **claims}
    return (await _ring(client)).sign(json.dumps(payload).encode(), typ=TYP)


@pytest.fixture
def offline(tmp_path: Path) -> Any:
    """Verify like `extract verify` does, from files exported by the same app."""

    async def check(
        session_factory: async_sessionmaker[AsyncSession],
        settings: Settings,
        token: str,
        issuer: str | None = None,
    ) -> Any:
        write_documents(tmp_path, await public_documents(session_factory, settings))
        (tmp_path / "extract.jws").write_text(token)
        files = (tmp_path / "extract.jws", tmp_path / "jwks.json", [tmp_path / "status-1.jws"])
        return verify_files(*files, issuer=issuer)

    return check


async def test_a_foreign_issuer_signed_with_a_listed_key_is_not_valid(
    client: httpx.AsyncClient,
    db: AsyncSession,
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    offline: Any,
) -> None:
    token = await _genuine(client, db)
    foreign = await _resigned(client, token, iss="https://other-issuer.example")
    verdict = await verify(client, foreign)
    assert verdict["result"] == "unknown_issuer"
    assert verdict["payload"] is None
    offline_verdict = await offline(session_factory, settings, foreign)
    assert offline_verdict.result.value == "unknown_issuer"
    assert offline_verdict.payload is None
    # The genuine one, and naming the issuer explicitly, still work.
    assert (await verify(client, token))["result"] == "valid"
    issuer = payload_of(token)["iss"]
    assert (await offline(session_factory, settings, token, issuer)).result.value == "valid"
    assert (await offline(session_factory, settings, foreign, issuer)).result.value == (
        "unknown_issuer"
    )
    missing = {k: v for k, v in payload_of(token).items() if k != "iss"}
    unnamed = (await _ring(client)).sign(json.dumps(missing).encode(), typ=TYP)
    assert (await verify(client, unnamed))["result"] == "unknown_issuer"


async def test_an_extract_before_its_not_before_time_is_not_yet_valid(
    client: httpx.AsyncClient,
    db: AsyncSession,
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    offline: Any,
) -> None:
    token = await _genuine(client, db)
    early = await _resigned(client, token, nbf=int(time.time()) + 3600)
    # An independent JWT library agrees that it is not valid yet (RFC 7519 §4.1.5).
    jwks = (await client.get("/.well-known/jwks.json")).json()
    with pytest.raises(jwt.ImmatureSignatureError):
        pyjwt_decode(early, jwks)
    verdict = await verify(client, early)
    assert verdict["result"] == "not_yet_valid"
    assert verdict["payload"]["nbf"] == payload_of(early)["nbf"]  # signed content, shown
    assert (await offline(session_factory, settings, early)).result.value == "not_yet_valid"
    began = await _resigned(client, token, nbf=int(time.time()) - 60)
    assert (await verify(client, began))["result"] == "valid"


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
async def test_time_claims_that_are_not_numbers_are_refused(
    client: httpx.AsyncClient, db: AsyncSession, claim: str
) -> None:
    """`"exp": "never"` must not mean "never expires" (RFC 7519 §2 NumericDate)."""
    token = await _genuine(client, db)
    odd = await _resigned(client, token, **{claim: "never"})
    verdict = await verify(client, odd)
    assert verdict["result"] == "tampered"
    assert verdict["payload"] is None


async def test_the_high_s_twin_of_a_signature_is_refused(
    client: httpx.AsyncClient,
    db: AsyncSession,
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    offline: Any,
) -> None:
    """Both (r, s) and (r, n-s) verify mathematically; only the one DUO signs is accepted, so
    one extract has exactly one text."""
    token = await _genuine(client, db)
    assert low_s(token)
    twin = high_s_twin(token)
    jwks = (await client.get("/.well-known/jwks.json")).json()
    assert pyjwt_decode(twin, jwks) == payload_of(token)  # plain ES256 accepts the twin
    assert (await verify(client, twin))["result"] == "tampered"
    assert (await offline(session_factory, settings, twin)).result.value == "tampered"


async def test_everything_duo_signs_is_in_the_low_s_form(client: httpx.AsyncClient) -> None:
    ring = await _ring(client)
    assert all(low_s(ring.sign(b'{"n":%d}' % n, typ=TYP)) for n in range(200))
    status = (await client.get("/extracts/status/1")).text
    assert low_s(status)


async def test_a_header_duo_never_writes_is_refused(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    token = await _genuine(client, db)
    ring = await _ring(client)
    key = ring.keys[0].private
    assert key is not None
    header = {"alg": "ES256", "kid": ring.signing_kid, "typ": TYP, "jku": "https://evil.example"}
    payload = json.dumps(payload_of(token)).encode()
    odd = jws.serialize_compact(header, payload, key, algorithms=["ES256"])
    if not low_s(odd):
        odd = high_s_twin(odd)
    assert (await verify(client, odd))["result"] == "tampered"


@pytest.mark.parametrize("spelling", ["{}\n", "{} ", " {}", "{}\r\n", "\t{}"])
async def test_whitespace_around_the_token_is_refused(
    client: httpx.AsyncClient, db: AsyncSession, spelling: str
) -> None:
    """Only the compact serialization itself (RFC 7515 §7.1); re.match's `$` once let a final
    line break through."""
    token = await _genuine(client, db)
    response = await client.post("/extracts/verify", json={"jws": spelling.format(token)})
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "jws"}


async def test_cli_refuses_a_foreign_issuer_and_spaces_in_a_saved_extract(
    client: httpx.AsyncClient,
    db: AsyncSession,
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    token = await _genuine(client, db)
    write_documents(tmp_path, await public_documents(session_factory, settings))
    offline = ["--jwks", str(tmp_path / "jwks.json"), "--status", str(tmp_path / "status-1.jws")]
    foreign = tmp_path / "foreign.jws"
    foreign.write_text(await _resigned(client, token, iss="https://other-issuer.example"))
    result = run_cli("extract", "verify", str(foreign), *offline)
    assert result.returncode == 1
    assert result.stdout.startswith("UNKNOWN_ISSUER")
    # A saved file may end with a line break; a token with spaces in it is not the signed text.
    saved = tmp_path / "saved.jws"
    saved.write_text(token + "\n")
    assert run_cli("extract", "verify", str(saved), *offline).returncode == 0
    spaced = tmp_path / "spaced.json"
    spaced.write_text(json.dumps({"jws": token + " "}))
    refused = run_cli("extract", "verify", str(spaced), *offline)
    assert refused.returncode == 2
    assert "not a signed diploma extract" in refused.stderr
    other = run_cli("extract", "verify", str(saved), *offline, "--issuer", "https://x.example")
    assert other.returncode == 2
    assert "is from issuer" in other.stderr


async def test_form_receipts_share_the_rules() -> None:
    signer = JoseReceiptSigner.generate()
    payload = {"iss": "https://duo.example", "type": "FormSubmissionReceipt", "iat": 1}
    token = await signer.sign(json.dumps(payload).encode(), typ="duo-form-receipt+jwt")
    assert low_s(token)
    assert verify_receipt(token, signer.jwks(), issuer="https://duo.example") == payload
    with pytest.raises(ReceiptInvalid, match="low S"):
        verify_receipt(high_s_twin(token), signer.jwks())
    with pytest.raises(ReceiptInvalid, match="iss"):
        verify_receipt(token, signer.jwks(), issuer="https://other.example")
    for spelled in (token + "\n", " " + token, token + "="):
        with pytest.raises(ReceiptInvalid, match="compact"):
            verify_receipt(spelled, signer.jwks())


async def test_stored_signatures_are_rewritten_to_their_low_s_twin(
    client: httpx.AsyncClient, db: AsyncSession, connection: Any
) -> None:
    """Migration 0007: extracts signed before (about half in the high-S form) keep verifying."""
    import importlib

    from alembic.migration import MigrationContext
    from alembic.operations import Operations
    from sqlalchemy import select, update

    from extracts.models import Extract

    token = await _genuine(client, db)
    twin = high_s_twin(token)
    await db.execute(update(Extract).values(jws=twin))
    await db.commit()
    assert (await verify(client, twin))["result"] == "tampered"

    migration = importlib.import_module("migrations.versions.0008_low_s_signatures")

    def upgrade(sync_connection: Any) -> None:
        with Operations.context(MigrationContext.configure(sync_connection)):
            migration.upgrade()

    await connection.run_sync(upgrade)
    db.expire_all()
    stored = await db.scalar(select(Extract.jws))
    assert stored == token
    assert (await verify(client, stored))["result"] == "valid"
