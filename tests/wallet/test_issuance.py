"""Issuing the diploma into a wallet (OpenID4VCI pre-authorized code flow, SD-JWT VC), played
by a wallet built on the SD-JWT reference implementation."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import timedelta
from typing import Any

import httpx
from jwcrypto.jwk import JWK
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.database import utcnow
from auth.models import AuditEvent
from extracts.models import Extract
from tests.extracts.flows import holder
from tests.support import gql
from tests.wallet.flows import (
    Wallet,
    create_offer,
    decode_part,
    issuer_jwks,
    library_verify,
    parse_offer,
    present,
    sha256_digest,
)
from wallet import service
from wallet.models import WalletOffer

ISSUER = "http://localhost:8000"
EMPLOYER = "https://employer.example"
NONCE = "nonce-from-the-employer"


async def verify(client: httpx.AsyncClient, token: str, **extra: str) -> dict[str, Any]:
    response = await client.post("/extracts/verify", json={"jws": token, **extra})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_metadata_tells_a_wallet_what_it_can_get_and_how(
    client: httpx.AsyncClient,
) -> None:
    wallet = Wallet(client)
    metadata = await wallet.issuer_metadata(ISSUER)
    assert metadata["credential_endpoint"] == f"{ISSUER}/wallet/credential"
    assert metadata["nonce_endpoint"] == f"{ISSUER}/wallet/nonce"
    config = metadata["credential_configurations_supported"]["duo_diploma_sd_jwt"]
    assert config["format"] == "dc+sd-jwt"
    assert config["vct"] == f"{ISSUER}/extracts/types/diploma/v1"
    assert config["credential_signing_alg_values_supported"] == ["ES256"]
    assert config["cryptographic_binding_methods_supported"] == ["jwk"]
    assert config["proof_types_supported"] == {
        "jwt": {"proof_signing_alg_values_supported": ["ES256"]}
    }
    names = {d["locale"]: d["name"] for d in config["credential_metadata"]["display"]}
    assert names == {"en": "DUO diploma", "nl": "DUO-diploma"}
    birth = next(c for c in config["credential_metadata"]["claims"] if c["path"] == ["birthdate"])
    assert {d["locale"]: d["name"] for d in birth["display"]} == {
        "en": "Date of birth",
        "nl": "Geboortedatum",
    }
    oauth = (await client.get("/.well-known/oauth-authorization-server")).json()
    assert oauth["token_endpoint"] == f"{ISSUER}/wallet/token"
    assert oauth["pre-authorized_grant_anonymous_access_supported"] is True

    # The vct is a URL that serves its Type Metadata (SD-JWT VC §4.3.1).
    types = (await client.get("/extracts/types/diploma/v1")).json()
    assert types["vct"] == config["vct"]
    sd = {tuple(c["path"]): c["sd"] for c in types["claims"]}
    assert sd[("birthdate",)] == sd[("programme_code",)] == sd[("results", None)] == "always"
    assert sd[("given_name",)] == "never"


async def test_wallet_receives_the_diploma_and_discloses_only_what_it_chooses(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    person_id, diploma_id = await holder(client, db)
    offer = await create_offer(client, diploma_id)
    assert offer["qrSvgDataUri"].startswith("data:image/svg+xml")
    assert len(offer["txCode"]) == 6
    assert offer["txCode"].isdigit()
    # The transaction code travels by the app's screen, never inside the offer (§4.1.1).
    assert offer["txCode"] not in offer["offerUri"]

    wallet = Wallet(client)
    credential = await wallet.receive(offer["offerUri"], offer["txCode"])

    # The reference implementation accepts it, with nothing but the published keys.
    jwks = await issuer_jwks(client, ISSUER)
    everything = library_verify(credential, jwks)
    assert everything["vct"] == f"{ISSUER}/extracts/types/diploma/v1"
    assert everything["given_name"]
    assert everything["family_name"]
    assert everything["birthdate"]
    assert everything["programme_code"] == "60300"
    assert everything["institution"] == "Technische Universiteit Delft"
    assert everything["level"] == "wo"
    assert everything["awarded_on"] == "2019-07-10"
    assert [r["subject"] for r in everything["results"]] == [
        "Algorithms",
        "Distributed Systems",
        "Thesis",
    ]
    assert everything["cnf"] == {"jwk": wallet.public_jwk}

    # The issuer-signed JWT itself: explicitly typed, its secrets only as digests.
    jwt, *disclosures, kb = credential.split("~")
    assert kb == ""  # issuance carries no KB-JWT (RFC 9901 §4)
    header, payload = decode_part(jwt.split(".")[0]), decode_part(jwt.split(".")[1])
    assert header["typ"] == "dc+sd-jwt"
    assert header["kid"] in {k["kid"] for k in jwks["keys"]}
    assert "birthdate" not in payload
    assert "programme_code" not in payload
    assert payload["_sd_alg"] == "sha-256"
    assert len(payload["_sd"]) > 2  # decoys hide how many claims are hidden
    embedded = set(payload["_sd"]) | {item["..."] for item in payload["results"]}
    # Every disclosure's digest, computed by hand, is embedded (RFC 9901 §4.2.3).
    assert {sha256_digest(d) for d in disclosures} <= embedded
    assert len(disclosures) == 5  # birthdate, programme code, three results
    status = payload["status"]["status_list"]
    assert status["uri"] == f"{ISSUER}/extracts/token-status/1"

    # Presentations of different subsets; DUO's verifier sees exactly those.
    cases: list[tuple[dict[str, Any], set[str], list[str]]] = [
        ({}, set(), []),
        ({"results": [True, False, True]}, set(), ["Algorithms", "Thesis"]),
        ({"birthdate": True, "programme_code": True}, {"birthdate", "programme_code"}, []),
    ]
    for disclose, extra_claims, subjects in cases:
        presentation = present(credential, disclose, key=wallet.key)
        seen = library_verify(presentation, jwks, audience=EMPLOYER, nonce=NONCE)
        verdict = await verify(client, presentation, audience=EMPLOYER, nonce=NONCE)
        assert verdict["result"] == "valid", verdict
        assert verdict["holderBinding"]["proved"] is True
        assert verdict["holderBinding"]["matchedYourAudienceAndNonce"] is True
        claims = verdict["claims"]
        hidden = {"birthdate", "programme_code"} - extra_claims
        assert not hidden & set(claims)
        assert extra_claims <= set(claims)
        assert [r["subject"] for r in claims["results"]] == subjects
        assert claims["programme"] == "MSc Computer Science"
        assert {k: v for k, v in seen.items() if k in claims} == claims

    # Without key binding: still genuine, but nobody proved holding the key.
    bare = present(credential, {"birthdate": True}, key=None)
    verdict = await verify(client, bare)
    assert verdict["result"] == "valid"
    assert verdict["holderBinding"]["proved"] is False

    # The person's activity shows it, with the twin extract that carries its status.
    events = await gql(
        client, "{ viewer { securityEvents(first: 10) { nodes { action outcome } } } }"
    )
    actions = [e["action"] for e in events["data"]["viewer"]["securityEvents"]["nodes"]]
    assert "wallet.credential" in actions
    row = await db.scalar(select(WalletOffer).where(WalletOffer.person_id == person_id))
    assert row is not None
    assert row.extract_id is not None
    assert row.issued_at is not None
    twin = await db.get(Extract, row.extract_id)
    assert twin is not None
    assert twin.status_index % 131_072 == status["idx"]


async def _offer(client: httpx.AsyncClient, db: AsyncSession) -> tuple[dict[str, Any], str]:
    _person, diploma_id = await holder(client, db)
    offer = await create_offer(client, diploma_id)
    code = parse_offer(offer["offerUri"])["grants"][
        "urn:ietf:params:oauth:grant-type:pre-authorized_code"
    ]["pre-authorized_code"]
    return offer, code


def _error(response: httpx.Response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == error, response.text
    assert response.headers["cache-control"].startswith("no-store")


async def test_pre_authorized_code_is_single_use_short_lived_and_guarded_by_the_tx_code(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    offer, code = await _offer(client, db)
    wallet = Wallet(client)
    _error(await wallet.token(code, None), 400, "invalid_request")  # tx_code required
    wrong = "000000" if offer["txCode"] != "000000" else "111111"
    for left in (4, 3, 2, 1, 0):
        response = await wallet.token(code, wrong)
        _error(response, 400, "invalid_grant")
        assert f"({left} tries left)" in response.json()["error_description"]
    # Five wrong codes: even the right one no longer works.
    _error(await wallet.token(code, offer["txCode"]), 400, "invalid_grant")
    reasons = (
        await db.scalars(
            select(AuditEvent.reason).where(
                AuditEvent.action == "wallet.token", AuditEvent.outcome == "failure"
            )
        )
    ).all()
    assert reasons.count("tx_code_wrong") == 5
    assert "tx_code_locked" in reasons

    offer, code = await _offer(client, db)
    ok = await wallet.token(code, offer["txCode"])
    assert ok.status_code == 200, ok.text
    _error(await wallet.token(code, offer["txCode"]), 400, "invalid_grant")  # reused
    _error(await wallet.token("no-such-code", offer["txCode"]), 400, "invalid_grant")
    _error(
        await client.post("/wallet/token", data={"grant_type": "authorization_code"}),
        400,
        "unsupported_grant_type",
    )
    _error(await client.post("/wallet/token", json={"grant_type": "x"}), 400, "invalid_request")

    offer, code = await _offer(client, db)
    await db.execute(
        update(WalletOffer)
        .where(WalletOffer.id == uuid.UUID(offer["id"]))
        .values(expires_at=utcnow() - timedelta(seconds=1))
    )
    await db.commit()
    _error(await wallet.token(code, offer["txCode"]), 400, "invalid_grant")  # expired
    # A newer offer withdraws the open older one.
    first, first_code = await _offer(client, db)
    await create_offer(client, first["diplomaId"])
    _error(await wallet.token(first_code, first["txCode"]), 400, "invalid_grant")


async def _token(client: httpx.AsyncClient, db: AsyncSession, wallet: Wallet) -> str:
    offer, code = await _offer(client, db)
    response = await wallet.token(code, offer["txCode"])
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def test_key_proofs_are_checked_strictly(
    client: httpx.AsyncClient, db: AsyncSession, settings: Any
) -> None:
    wallet = Wallet(client)
    token = await _token(client, db, wallet)
    nonce = await wallet.nonce()
    other = JWK.generate(kty="EC", crv="P-256")
    stale_nonce = service.new_nonce(settings.secret_key, now=utcnow() - timedelta(minutes=6))
    refused: list[tuple[str, Any, str]] = [
        ("stale nonce", wallet.proof(nonce=stale_nonce, audience=ISSUER), "invalid_nonce"),
        ("forged nonce", wallet.proof(nonce="A" * 54, audience=ISSUER), "invalid_nonce"),
        ("no nonce", wallet.proof(nonce=None, audience=ISSUER), "invalid_proof"),
        ("other audience", wallet.proof(nonce=nonce, audience=EMPLOYER), "invalid_proof"),
        (
            "stale iat",
            wallet.proof(nonce=nonce, audience=ISSUER, iat=int(utcnow().timestamp()) - 600),
            "invalid_proof",
        ),
        # Signed by a different key than the one its header claims (Appendix F.4).
        ("other key", wallet.proof(nonce=nonce, audience=ISSUER, signer=other), "invalid_proof"),
        (
            "wrong typ",
            wallet.proof(nonce=nonce, audience=ISSUER, header={"typ": "JWT"}),
            "invalid_proof",
        ),
        (
            "kid instead of jwk",
            wallet.proof(nonce=nonce, audience=ISSUER, header={"kid": "k1"}),
            "invalid_proof",
        ),
        (
            "private key in header",
            wallet.proof(
                nonce=nonce,
                audience=ISSUER,
                header={"jwk": json.loads(wallet.key.export_private())},
            ),
            "invalid_proof",
        ),
    ]
    for name, proof, error in refused:
        response = await wallet.credential(token, {"jwt": [proof]})
        assert response.status_code == 400, (name, response.text)
        assert response.json()["error"] == error, (name, response.text)

    # alg none and HS256 (with the public key as the MAC secret): never.
    good = wallet.proof(nonce=nonce, audience=ISSUER)
    _header, claims, _signature = good.split(".")
    none_header = {"typ": "openid4vci-proof+jwt", "alg": "none", "jwk": wallet.public_jwk}

    def seg(value: Any) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    for alg_header in (none_header, {**none_header, "alg": "HS256"}):
        forged = f"{seg(alg_header)}.{claims}.{_signature if alg_header['alg'] != 'none' else ''}"
        response = await wallet.credential(token, {"jwt": [forged]})
        assert response.json()["error"] == "invalid_proof", response.text

    _error(await wallet.credential(token, {"jwt": [good, good]}), 400, "invalid_credential_request")
    _error(
        await wallet.credential(token, {"jwt": [good]}, "other"),
        400,
        "unknown_credential_configuration",
    )
    _error(await wallet.credential(token, {"ldp_vp": [good]}), 400, "invalid_proof")

    # The right proof still works after all those refusals; the token then is spent.
    ok = await wallet.credential(token, {"jwt": [good]})
    assert ok.status_code == 200, ok.text
    again = await wallet.credential(token, {"jwt": [good]})
    _error(again, 401, "invalid_token")
    assert again.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    _error(await wallet.credential("not-a-token", {"jwt": [good]}), 401, "invalid_token")
    failures = (
        await db.scalars(
            select(AuditEvent.reason).where(
                AuditEvent.action == "wallet.credential", AuditEvent.outcome == "failure"
            )
        )
    ).all()
    assert "invalid_nonce" in failures
    assert "invalid_proof" in failures
