"""OpenID for Verifiable Credential Issuance 1.0, pre-authorized code flow: offers, the token
and nonce endpoints' logic, key proofs, and issuing the diploma as an SD-JWT VC.

Plain async functions; the caller owns the transaction and commits even when an OAuthError is
raised (failures change state: transaction-code attempts, the audit trail).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import struct
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.database import utcnow
from api.errors import DomainError, NotFound
from auth import audit
from auth.audit import RequestMeta
from extracts import sdjwt
from extracts import service as extracts
from extracts.keys import KeyRing
from extracts.sdjwt_vc import CONFIGURATION_ID
from extracts.service import IssuerConfig
from records import service as records
from wallet.models import WalletOffer

PRE_AUTHORIZED_GRANT = "urn:ietf:params:oauth:grant-type:pre-authorized_code"  # §4.1.1
PROOF_TYP = "openid4vci-proof+jwt"  # Appendix F.1
OFFER_SCHEME = "openid-credential-offer://"  # §4.1: the wallet's default offer endpoint
OFFER_TTL = timedelta(minutes=10)  # §4.1.1: "short lived and single use"
TOKEN_TTL = timedelta(minutes=5)
NONCE_TTL = timedelta(minutes=5)
PROOF_MAX_AGE = timedelta(minutes=5)  # Appendix F.4: iat "within an acceptable window"
PROOF_MAX_SKEW = timedelta(minutes=1)
TX_CODE_LENGTH = 6
# §13.6.3 (transaction code guessing): 5 tries of 10^6 codes, then the offer is dead.
TX_CODE_MAX_FAILURES = 5


class OAuthError(DomainError):
    """An error in the shape of RFC 6749 §5.2 / RFC 6750 §3 / OpenID4VCI §8.3.1.2."""

    def __init__(self, error: str, description: str, *, status: int = 400) -> None:
        super().__init__(description)
        self.code = error
        self.status = status


def _mac(secret_key: str, purpose: str, value: str) -> bytes:
    """Keyed hash for lookup: the stored value alone redeems nothing."""
    return hmac.new(secret_key.encode(), f"{purpose}:{value}".encode(), hashlib.sha256).digest()


@dataclass(frozen=True, slots=True)
class CreatedOffer:
    offer: WalletOffer
    tx_code: str  # shown in the app, typed into the wallet: a second channel (§4.1.1)
    credential_offer: dict[str, Any]
    offer_uri: str


async def create_offer(
    db: AsyncSession,
    person_id: uuid.UUID,
    diploma_id: uuid.UUID,
    *,
    secret_key: str,
    credential_issuer: str,
    meta: RequestMeta,
    now: datetime | None = None,
) -> CreatedOffer:
    """A credential offer (§4.1) for one of the person's own diplomas; older open ones end."""
    now = now or utcnow()
    try:
        await records.get_diploma(db, person_id, diploma_id)
    except NotFound as exc:
        raise NotFound("No such diploma.", field="diplomaId") from exc
    await db.execute(
        update(WalletOffer)
        .where(
            WalletOffer.person_id == person_id,
            WalletOffer.redeemed_at.is_(None),
            WalletOffer.withdrawn_at.is_(None),
        )
        .values(withdrawn_at=now)
    )
    code = secrets.token_urlsafe(32)
    tx_code = f"{secrets.randbelow(10**TX_CODE_LENGTH):0{TX_CODE_LENGTH}d}"
    offer = WalletOffer(
        person_id=person_id,
        diploma_id=diploma_id,
        code_hash=_mac(secret_key, "pre-authorized_code", code),
        tx_code_hash=_mac(secret_key, "tx_code", tx_code),
        tx_code_failures=0,
        created_at=now,
        expires_at=now + OFFER_TTL,
    )
    db.add(offer)
    await db.flush()
    await audit.record(
        db,
        action="wallet.offer",
        outcome="success",
        meta=meta,
        person_id=person_id,
        details={"offerId": str(offer.id), "diplomaId": str(diploma_id)},
    )
    credential_offer = {
        "credential_issuer": credential_issuer,
        "credential_configuration_ids": [CONFIGURATION_ID],
        "grants": {
            PRE_AUTHORIZED_GRANT: {
                "pre-authorized_code": code,
                "tx_code": {
                    "input_mode": "numeric",
                    "length": TX_CODE_LENGTH,
                    "description": "The 6-digit code shown in the DUO Abroad app.",
                },
            }
        },
    }
    # §4.1.2: by value, so the offer needs no further request to a DUO endpoint.
    text = json.dumps(credential_offer, separators=(",", ":"))
    offer_uri = f"{OFFER_SCHEME}?credential_offer={quote(text, safe='')}"
    return CreatedOffer(
        offer=offer, tx_code=tx_code, credential_offer=credential_offer, offer_uri=offer_uri
    )


@dataclass(frozen=True, slots=True)
class AccessToken:
    access_token: str
    expires_in: int


async def _fail(
    db: AsyncSession, offer: WalletOffer, action: str, reason: str, meta: RequestMeta
) -> None:
    await audit.record(
        db,
        action=action,
        outcome="failure",
        meta=meta,
        person_id=offer.person_id,
        actor="wallet",
        reason=reason,
        details={"offerId": str(offer.id)},
    )


async def redeem_code(
    db: AsyncSession,
    *,
    form: dict[str, str],
    secret_key: str,
    meta: RequestMeta,
    now: datetime | None = None,
) -> AccessToken:
    """The Token Endpoint (§6) for the pre-authorized code grant, with its tx_code."""
    now = now or utcnow()
    grant_type = form.get("grant_type")
    if grant_type != PRE_AUTHORIZED_GRANT:
        raise OAuthError("unsupported_grant_type", "Only the pre-authorized code grant is used.")
    code = form.get("pre-authorized_code")
    if not code:
        raise OAuthError("invalid_request", "pre-authorized_code is missing.")
    offer = await db.scalar(
        select(WalletOffer)
        .where(WalletOffer.code_hash == _mac(secret_key, "pre-authorized_code", code))
        .with_for_update()
    )
    if offer is None:
        raise OAuthError("invalid_grant", "The pre-authorized code is not valid.")
    if offer.redeemed_at is not None:
        await _fail(db, offer, "wallet.token", "code_reused", meta)
        raise OAuthError("invalid_grant", "The pre-authorized code was already used.")
    if offer.withdrawn_at is not None or now >= offer.expires_at:
        await _fail(db, offer, "wallet.token", "code_expired", meta)
        raise OAuthError("invalid_grant", "The pre-authorized code has expired.")
    if offer.tx_code_failures >= TX_CODE_MAX_FAILURES:
        await _fail(db, offer, "wallet.token", "tx_code_locked", meta)
        raise OAuthError("invalid_grant", "Too many wrong transaction codes: start again.")
    tx_code = form.get("tx_code")
    if not tx_code:
        # §6.3: the offer carried a tx_code object, so the request must carry the code.
        raise OAuthError("invalid_request", "tx_code is missing.")
    if not hmac.compare_digest(offer.tx_code_hash, _mac(secret_key, "tx_code", tx_code)):
        offer.tx_code_failures += 1
        await db.flush()
        await _fail(db, offer, "wallet.token", "tx_code_wrong", meta)
        left = TX_CODE_MAX_FAILURES - offer.tx_code_failures
        raise OAuthError("invalid_grant", f"The transaction code is wrong ({left} tries left).")
    token = secrets.token_urlsafe(32)
    # Single use under concurrency: only one request turns redeemed_at from NULL.
    claimed = await db.execute(
        update(WalletOffer)
        .where(WalletOffer.id == offer.id, WalletOffer.redeemed_at.is_(None))
        .values(
            redeemed_at=now,
            access_token_hash=_mac(secret_key, "access_token", token),
            token_expires_at=now + TOKEN_TTL,
        )
        .execution_options(synchronize_session=False)
    )
    if getattr(claimed, "rowcount", 0) != 1:
        raise OAuthError("invalid_grant", "The pre-authorized code was already used.")
    await audit.record(
        db,
        action="wallet.token",
        outcome="success",
        meta=meta,
        person_id=offer.person_id,
        actor="wallet",
        details={"offerId": str(offer.id)},
    )
    return AccessToken(access_token=token, expires_in=int(TOKEN_TTL.total_seconds()))


# --- c_nonce: stateless, signed with SECRET_KEY ------------------------------------------------


def new_nonce(secret_key: str, now: datetime | None = None) -> str:
    """A fresh c_nonce (§7.2): unpredictable, and dated so that a stale one is refused.

    Stateless (time + random + HMAC): any process can check it, nothing to store or clean
    up. Replaying a proof gains nothing, since an access token yields one credential.
    """
    moment = int((now or utcnow()).timestamp())
    body = struct.pack(">Q", moment) + secrets.token_bytes(16)
    mac = hmac.new(secret_key.encode(), b"c_nonce:" + body, hashlib.sha256).digest()[:16]
    return sdjwt.b64url(body + mac)


def check_nonce(secret_key: str, nonce: object, now: datetime) -> None:
    try:
        raw = sdjwt.b64url_decode(nonce) if isinstance(nonce, str) else b""
    except ValueError:
        raw = b""
    if len(raw) != 40:
        raise OAuthError("invalid_nonce", "The proof's nonce is not one this issuer gave out.")
    body, mac = raw[:24], raw[24:]
    expected = hmac.new(secret_key.encode(), b"c_nonce:" + body, hashlib.sha256).digest()[:16]
    if not hmac.compare_digest(mac, expected):
        raise OAuthError("invalid_nonce", "The proof's nonce is not one this issuer gave out.")
    issued = struct.unpack(">Q", body[:8])[0]
    age = now.timestamp() - issued
    if age > NONCE_TTL.total_seconds() or age < -PROOF_MAX_SKEW.total_seconds():
        raise OAuthError("invalid_nonce", "The proof's nonce is stale: fetch a new one.")


# --- the key proof (Appendix F.1 and F.4) ------------------------------------------------------


def _proof_error(description: str) -> OAuthError:
    return OAuthError("invalid_proof", description)


def verify_proof(
    proof: object, *, credential_issuer: str, secret_key: str, now: datetime
) -> dict[str, Any]:
    """Check a `jwt` key proof strictly; the holder's public JWK to bind the credential to."""
    if not isinstance(proof, str):
        raise _proof_error("A jwt proof must be a string.")
    segments = proof.split(".")
    try:
        if len(segments) != 3:
            raise ValueError("not three segments")
        header = json.loads(sdjwt.b64url_decode(segments[0]))
        claims = json.loads(sdjwt.b64url_decode(segments[1]))
        sdjwt.b64url_decode(segments[2])
    except (ValueError, UnicodeDecodeError) as exc:
        raise _proof_error("The proof is not a compact JWT.") from exc
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise _proof_error("The proof is not a compact JWT.")
    if header.get("typ") != PROOF_TYP:
        raise _proof_error(f"The proof's typ must be {PROOF_TYP}.")
    if header.get("alg") != sdjwt.ALGORITHM:
        # F.1: never `none`, never a MAC; the metadata offers ES256 only.
        raise _proof_error(f"The proof's alg {header.get('alg')!r} is not accepted (ES256).")
    if "kid" in header or "x5c" in header:
        raise _proof_error("The proof must carry its key as `jwk` (kid and x5c are not used).")
    jwk = header.get("jwk")
    if not isinstance(jwk, dict) or jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        raise _proof_error("The proof's header needs the wallet's P-256 key as `jwk`.")
    if "d" in jwk:
        raise _proof_error("The proof's header contains a private key.")  # F.4
    public = {k: jwk[k] for k in ("kty", "crv", "x", "y") if k in jwk}
    try:
        key = ECKey.import_key(public)
        jws.deserialize_compact(proof, key, algorithms=[sdjwt.ALGORITHM])
    except (JoseError, ValueError) as exc:
        # F.4: "the signature on the key proof verifies with the public key" in the header.
        raise _proof_error("The proof is not signed by the key in its header.") from exc
    if claims.get("aud") != credential_issuer:
        raise _proof_error(f"The proof's aud must be the credential issuer {credential_issuer}.")
    iat = claims.get("iat")
    if not isinstance(iat, int):
        raise _proof_error("The proof has no iat.")
    age = now.timestamp() - iat
    if age > PROOF_MAX_AGE.total_seconds() or age < -PROOF_MAX_SKEW.total_seconds():
        raise _proof_error("The proof's iat is not fresh.")
    if "nonce" not in claims:
        raise _proof_error("The proof has no nonce (fetch one at the nonce endpoint).")
    check_nonce(secret_key, claims["nonce"], now)
    return public


def thumbprint(jwk: dict[str, Any]) -> str:
    return ECKey.import_key(jwk).thumbprint()


async def _offer_for_token(
    db: AsyncSession, access_token: str | None, secret_key: str, now: datetime
) -> WalletOffer:
    if not access_token:
        raise OAuthError("invalid_token", "An access token is required.", status=401)
    offer = await db.scalar(
        select(WalletOffer)
        .where(WalletOffer.access_token_hash == _mac(secret_key, "access_token", access_token))
        .with_for_update()
    )
    if offer is None or offer.token_expires_at is None:
        raise OAuthError("invalid_token", "The access token is not valid.", status=401)
    if offer.issued_at is not None:
        raise OAuthError("invalid_token", "The access token was already used.", status=401)
    if now >= offer.token_expires_at:
        raise OAuthError("invalid_token", "The access token has expired.", status=401)
    return offer


async def issue_credential(
    db: AsyncSession,
    *,
    access_token: str | None,
    request: object,
    secret_key: str,
    credential_issuer: str,
    ring: KeyRing,
    config: IssuerConfig,
    meta: RequestMeta,
    now: datetime | None = None,
) -> str:
    """The Credential Endpoint (§8): one SD-JWT VC, bound to the key the proof proved."""
    now = now or utcnow()
    offer = await _offer_for_token(db, access_token, secret_key, now)
    try:
        holder_jwk = _check_request(request, credential_issuer, secret_key, now)
    except OAuthError as error:
        await _fail(db, offer, "wallet.credential", error.code, meta)
        raise
    claimed = await db.execute(
        update(WalletOffer)
        .where(WalletOffer.id == offer.id, WalletOffer.issued_at.is_(None))
        .values(issued_at=now)
        .execution_options(synchronize_session=False)
    )
    if getattr(claimed, "rowcount", 0) != 1:
        raise OAuthError("invalid_token", "The access token was already used.", status=401)
    issued = await extracts.issue_wallet_credential(
        db,
        offer.person_id,
        offer.diploma_id,
        holder_jwk=holder_jwk,
        ring=ring,
        config=config,
        now=now,
    )
    offer.issued_at = now
    offer.extract_id = issued.extract.id
    offer.holder_key_thumbprint = thumbprint(holder_jwk)
    await db.flush()
    # What the person sees in their activity: "Diploma added to a wallet".
    await audit.record(
        db,
        action="wallet.credential",
        outcome="success",
        meta=meta,
        person_id=offer.person_id,
        actor="wallet",
        details={
            "offerId": str(offer.id),
            "diplomaId": str(offer.diploma_id),
            "extractId": str(issued.extract.id),
            "statusIndex": issued.extract.status_index,
        },
    )
    return issued.credential.sd_jwt


def _check_request(
    request: object, credential_issuer: str, secret_key: str, now: datetime
) -> dict[str, Any]:
    if not isinstance(request, dict):
        raise OAuthError("invalid_credential_request", "The request body must be a JSON object.")
    if "credential_identifier" in request:
        raise OAuthError(
            "invalid_credential_request",
            "Use credential_configuration_id: no credential_identifiers were issued.",
        )
    if request.get("credential_configuration_id") != CONFIGURATION_ID:
        raise OAuthError(
            "unknown_credential_configuration",
            f"Only {CONFIGURATION_ID} is offered.",
        )
    proofs = request.get("proofs")
    if not isinstance(proofs, dict) or list(proofs) != ["jwt"]:
        raise _proof_error("proofs must hold exactly one proof type, jwt.")
    items = proofs["jwt"]
    if not isinstance(items, list) or not items:
        raise _proof_error("proofs.jwt must be a non-empty array.")
    if len(items) > 1:
        # No batch_credential_issuance in the metadata: one key, one credential.
        raise OAuthError("invalid_credential_request", "Send one proof: batches are not issued.")
    return verify_proof(
        items[0], credential_issuer=credential_issuer, secret_key=secret_key, now=now
    )
