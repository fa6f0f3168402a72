"""Verifying presentations of the wallet credential: the public endpoint and the offline CLI.

Every malformed or tampered presentation is refused with its specific reason; revoking the
credential's extract revokes the credential (one status, in both status list formats).
"""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
import time
import uuid
import zlib
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from jwcrypto.jwk import JWK
from litestar import Litestar
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.database import utcnow
from extracts.cli import revoke, verify_presentation_files
from tests.extracts.flows import holder
from tests.wallet.flows import (
    Wallet,
    b64url,
    create_offer,
    decode_part,
    present,
    sha256_digest,
    sign,
)
from wallet.models import WalletOffer

EMPLOYER = "https://employer.example"
NONCE = "nonce-from-the-employer"
CLI = Path(sys.executable).parent / "duo-abroad"


@dataclass
class Issued:
    credential: str
    wallet: Wallet
    offer_id: uuid.UUID


async def issue(client: httpx.AsyncClient, db: AsyncSession) -> Issued:
    _person, diploma_id = await holder(client, db)
    offer = await create_offer(client, diploma_id)
    wallet = Wallet(client)
    credential = await wallet.receive(offer["offerUri"], offer["txCode"])
    return Issued(credential=credential, wallet=wallet, offer_id=uuid.UUID(offer["id"]))


async def verdict(client: httpx.AsyncClient, token: str, **extra: str) -> dict[str, Any]:
    response = await client.post("/extracts/verify", json={"jws": token, **extra})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def kb_jwt(
    key: JWK, presented: str, *, aud: str = EMPLOYER, nonce: str = NONCE, age: int = 0
) -> str:
    """A KB-JWT by hand (RFC 9901 §4.3) over `presented` (which ends in '~')."""
    claims = {
        "iat": int(time.time()) - age,
        "aud": aud,
        "nonce": nonce,
        "sd_hash": sha256_digest(presented),
    }
    return sign({"alg": "ES256", "typ": "kb+jwt"}, claims, key)


def segment(value: Any) -> str:
    return b64url(json.dumps(value).encode())


async def test_each_bad_presentation_is_refused_with_its_reason(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    issued = await issue(client, db)
    key = issued.wallet.key
    jwt, *disclosures, _ = issued.credential.split("~")
    header, payload, signature = jwt.split(".")
    by_name = {json.loads(base64.urlsafe_b64decode(d + "==="))[-2]: d for d in disclosures}
    birth = by_name["birthdate"]
    code = by_name["programme_code"]
    with_birth = present(issued.credential, {"birthdate": True}, key=key)
    only_code = f"{jwt}~{code}~"
    foreign = b64url(json.dumps(["c2FsdHNhbHRzYWx0", "birthdate", "1970-01-01"]).encode())
    other_key = JWK.generate(kty="EC", crv="P-256")
    our_kid = decode_part(header)["kid"]
    cases: dict[str, tuple[str, dict[str, str], str, str]] = {
        # KB-JWT made for the birth date, disclosures swapped for the programme code.
        "wrong sd_hash": (
            only_code + with_birth.rsplit("~", 1)[1],
            {},
            "invalid",
            "sd_hash_mismatch",
        ),
        "disclosure not in the digests": (
            f"{jwt}~{foreign}~",
            {},
            "invalid",
            "disclosure_not_in_digests",
        ),
        "duplicated disclosure": (
            f"{jwt}~{birth}~{birth}~",
            {},
            "invalid",
            "disclosure_duplicated",
        ),
        "KB-JWT for another audience": (
            with_birth,
            {"audience": "https://other.example", "nonce": NONCE},
            "invalid",
            "kb_wrong_audience",
        ),
        "KB-JWT for another nonce": (
            with_birth,
            {"audience": EMPLOYER, "nonce": "another"},
            "invalid",
            "kb_wrong_nonce",
        ),
        "no KB-JWT though asked for": (
            f"{jwt}~{birth}~",
            {"audience": EMPLOYER, "nonce": NONCE},
            "invalid",
            "kb_missing",
        ),
        "stale KB-JWT": (
            only_code + kb_jwt(key, only_code, age=900),
            {},
            "invalid",
            "kb_stale",
        ),
        "KB-JWT by another key": (
            only_code + kb_jwt(other_key, only_code),
            {},
            "invalid",
            "kb_bad_signature",
        ),
        "alg none": (
            f"{segment({'alg': 'none', 'typ': 'dc+sd-jwt', 'kid': our_kid})}.{payload}.~{birth}~",
            {},
            "invalid",
            "alg_not_allowed",
        ),
        "HS256 with the public key": (
            f"{segment({'alg': 'HS256', 'typ': 'dc+sd-jwt', 'kid': our_kid})}"
            f".{payload}.{signature}~",
            {},
            "invalid",
            "alg_not_allowed",
        ),
        "KB-JWT with alg none": (
            only_code + f"{segment({'alg': 'none', 'typ': 'kb+jwt'})}.{segment({'iat': 1})}.",
            {},
            "invalid",
            "kb_alg_not_allowed",
        ),
        "unknown key": (
            sign(
                {"alg": "ES256", "typ": "dc+sd-jwt", "kid": "not-a-duo-key"},
                decode_part(payload),
                other_key,
            )
            + f"~{birth}~",
            {},
            "unknown_issuer",
            "unknown_key",
        ),
        "DUO's kid, another key": (
            sign(
                {"alg": "ES256", "typ": "dc+sd-jwt", "kid": our_kid},
                decode_part(payload),
                other_key,
            )
            + "~",
            {},
            "tampered",
            "bad_signature",
        ),
        "changed claim": (
            f"{header}.{segment({**decode_part(payload), 'programme': 'PhD'})}.{signature}~",
            {},
            "tampered",
            "bad_signature",
        ),
        "not even an SD-JWT": ("a~b~c", {}, "invalid", "malformed"),
    }
    for name, (token, extra, result, reason) in cases.items():
        body = await verdict(client, token, **extra)
        assert (body["result"], body["reason"]) == (result, reason), (name, body)
        assert body["message"], name
        if result != "valid":
            # Nothing a refused presentation claims is shown as vouched for.
            assert "claims" not in body or result == "invalid", name

    # The same presentation checks out once the verifier's audience and nonce are right.
    body = await verdict(client, with_birth, audience=EMPLOYER, nonce=NONCE)
    assert body["result"] == "valid"
    assert body["claims"]["birthdate"]


async def test_expired_and_revoked_credentials(
    client: httpx.AsyncClient, db: AsyncSession, app: Litestar, tmp_path: Path
) -> None:
    issued = await issue(client, db)
    presentation = present(issued.credential, {"programme_code": True}, key=issued.wallet.key)
    issuer = app.state.extract_issuer
    later = utcnow() + timedelta(days=366)
    bare = present(issued.credential, {}, key=None)  # a KB-JWT would be stale by then
    expired = await issuer.verify_presentation(db, bare, now=later)
    assert (expired.result.value, expired.reason) == ("expired", "expired")

    # Saved for offline checks before the revocation.
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text((await client.get("/.well-known/jwks.json")).text)
    listed = await client.get("/extracts/token-status/1")
    assert listed.headers["content-type"] == "application/statuslist+jwt"
    assert listed.headers["access-control-allow-origin"] == "*"
    before = tmp_path / "token-status-1.jwt"
    before.write_text(listed.text)
    file = tmp_path / "presentation.txt"
    file.write_text(presentation)
    offline = verify_presentation_files(file, jwks_file, [before], now=utcnow())
    assert offline.result.value == "valid"

    # One revocation action: staff revoke the credential's extract.
    offer = await db.scalar(select(WalletOffer).where(WalletOffer.id == issued.offer_id))
    assert offer is not None
    assert offer.extract_id is not None
    await revoke(db, offer.extract_id, reason="Diploma withdrawn by the institution", staff="jdv")
    await db.commit()

    body = await verdict(client, presentation)
    assert (body["result"], body["reason"]) == ("revoked", "revoked")
    assert (await verdict(client, issued.credential))["result"] == "revoked"

    # The Status List Token, read with the standard library only (§4.1: LSB first, ZLIB).
    token = (await client.get("/extracts/token-status/1")).text
    head, claims = decode_part(token.split(".")[0]), decode_part(token.split(".")[1])
    assert head["typ"] == "statuslist+jwt"
    assert claims["sub"] == "http://localhost:8000/extracts/token-status/1"
    assert claims["ttl"] == 300
    assert claims["status_list"]["bits"] == 1
    lst = claims["status_list"]["lst"]
    bits = zlib.decompress(base64.urlsafe_b64decode(lst + "=" * (-len(lst) % 4)))
    idx = decode_part(issued.credential.split(".")[1])["status"]["status_list"]["idx"]
    assert (bits[idx // 8] >> (idx % 8)) & 1 == 1
    assert sum(bin(b).count("1") for b in bits) == 1

    # Offline: the old list still says valid (and says how old it is), the new one revoked.
    after = tmp_path / "token-status-1-new.jwt"
    after.write_text(token)
    old = verify_presentation_files(file, jwks_file, [before], now=utcnow())
    assert old.result.value == "valid"
    new = verify_presentation_files(file, jwks_file, [after], now=utcnow())
    assert new.result.value == "revoked"


@pytest.mark.parametrize("with_binding", [True, False])
async def test_cli_verifies_a_presentation_offline(
    client: httpx.AsyncClient, db: AsyncSession, tmp_path: Path, with_binding: bool
) -> None:
    issued = await issue(client, db)
    presentation = present(
        issued.credential,
        {"results": [False, True, False]},
        key=issued.wallet.key if with_binding else None,
    )
    (tmp_path / "p.txt").write_text(presentation)
    (tmp_path / "jwks.json").write_text((await client.get("/.well-known/jwks.json")).text)
    (tmp_path / "tsl.jwt").write_text((await client.get("/extracts/token-status/1")).text)
    args = [str(tmp_path / "p.txt"), "--jwks", str(tmp_path / "jwks.json")]
    args += ["--status", str(tmp_path / "tsl.jwt"), "--audience", EMPLOYER, "--nonce", NONCE]
    result = await asyncio.to_thread(
        subprocess.run,
        [str(CLI), "extract", "verify", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if with_binding:
        assert result.returncode == 0, result.stdout + result.stderr
        lines = result.stdout.splitlines()
        assert lines[0] == "VALID"
        assert "  - Distributed Systems: 7.0 (5 EC)" in lines
        assert not any("Algorithms" in line for line in lines)
        assert not any(line.startswith("birthdate") for line in lines)
        assert f"holder     proved possession for {EMPLOYER} (your nonce)" in lines
        assert any(line.startswith("revocation checked against") for line in lines)
    else:
        assert result.returncode == 1, result.stdout + result.stderr
        assert result.stdout.splitlines()[:2] == [
            "INVALID",
            "reason     kb_missing: Proof of possession was asked for but none was sent.",
        ]
