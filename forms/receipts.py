"""Signed receipts: proof, kept by the customer, of what was submitted and when.

A receipt is a compact JWS (RFC 7515 §7.1) whose payload names the form and version, the
submission's client UUID, the server's time of receipt, and the SHA-256 of the canonical
content and of every attachment. Its header's `typ` is RECEIPT_TYP (RFC 8725 §3.11), so a
receipt can never pass for a diploma extract signed by the same issuer key, nor the reverse.

The key is not ours: create_app hands in a ReceiptSigner (in production the extracts issuer's
key ring, published at /.well-known/jwks.json). JoseReceiptSigner is a self-contained one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Protocol

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet

from api import b64url, es256

RECEIPT_TYP = "duo-form-receipt+jwt"
RECEIPT_TYPE = "FormSubmissionReceipt"
ALGORITHM = "ES256"


class ReceiptSigner(Protocol):
    """Signs a receipt payload as a compact JWS with `typ` in its protected header.

    Async because the issuer key ring may be loaded lazily from the database on first use.
    """

    async def sign(self, payload: bytes, *, typ: str) -> str: ...


class _SupportsSign(Protocol):
    def sign(self, payload: bytes, *, typ: str) -> str: ...


class RingSigner:
    """Adapts any key ring whose `sign(payload, typ=...)` is synchronous but loaded async."""

    def __init__(self, ring: Callable[[], Awaitable[_SupportsSign]]) -> None:
        self._ring = ring

    async def sign(self, payload: bytes, *, typ: str) -> str:
        return (await self._ring()).sign(payload, typ=typ)


class JoseReceiptSigner:
    """An ES256 signer holding its own P-256 key (tests, and deployments without extracts)."""

    def __init__(self, key: ECKey) -> None:
        if not key.is_private:
            raise ValueError("a receipt signer needs a private key")
        self._key = key
        self.kid = key.thumbprint()  # RFC 7638

    @classmethod
    def generate(cls) -> JoseReceiptSigner:
        return cls(ECKey.generate_key("P-256", private=True))

    async def sign(self, payload: bytes, *, typ: str) -> str:
        header = {"alg": ALGORITHM, "kid": self.kid, "typ": typ}
        return es256.low_s(
            jws.serialize_compact(header, payload, self._key, algorithms=[ALGORITHM])
        )

    def jwks(self) -> dict[str, Any]:
        public = {**self._key.as_dict(private=False), "kid": self.kid, "use": "sig"}
        return {"keys": [{**public, "alg": ALGORITHM}]}


def canonical_json(value: object) -> bytes:
    """RFC 8785 (JCS) for the JSON that forms hold: sorted keys, no spaces, UTF-8.

    The catalogue's schemas use integers, never floats (amounts are whole units), so number
    serialisation, the one place where json.dumps and JCS differ, does not arise.
    """
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def content_sha256(content: object) -> str:
    return hashlib.sha256(canonical_json(content)).hexdigest()


def receipt_payload(
    *,
    issuer: str,
    form_id: str,
    form_version: int,
    submission_id: str,
    received_at: datetime,
    content_digest: str,
    attachments: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "iss": issuer,
        "iat": int(received_at.timestamp()),
        "type": RECEIPT_TYPE,
        "form": {"id": form_id, "version": form_version},
        "submissionId": submission_id,
        "receivedAt": received_at.isoformat().replace("+00:00", "Z"),
        "content": {"sha256": content_digest},
        # Each: {"id", "sha256", "size", "mediaType"}, in the order the content names them.
        "attachments": attachments,
    }


async def sign_receipt(signer: ReceiptSigner, payload: dict[str, Any]) -> str:
    return await signer.sign(canonical_json(payload), typ=RECEIPT_TYP)


class ReceiptInvalid(Exception):
    """Not a receipt signed by one of the given keys."""


def _one_form(token: str) -> None:
    """The text is exactly the compact JWS DUO signs: three canonical base64url parts (no
    whitespace, padding or stray bits) and the low-S ES256 signature, never its twin."""
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) != 3:
        raise ReceiptInvalid("not a compact JWS")
    try:
        signature = [b64url.decode(part) for part in parts][2]
    except ValueError as exc:
        raise ReceiptInvalid(f"not a compact JWS: {exc}") from exc
    if not es256.is_canonical_signature(signature):
        raise ReceiptInvalid("signature not valid: not the one ES256 form DUO signs (low S)")


def verify_receipt(
    token: str, jwks: dict[str, Any], *, issuer: str | None = None
) -> dict[str, Any]:
    """Check a receipt's signature against a JWKS (e.g. /.well-known/jwks.json); its payload.

    `issuer`, when given, must be the receipt's `iss` (DUO's EXTRACT_ISSUER).
    """
    _one_form(token)
    try:
        keys = KeySet.import_key_set(jwks)  # type: ignore[arg-type]
        verified = jws.deserialize_compact(token, keys, algorithms=[ALGORITHM])
    except (JoseError, ValueError, KeyError) as exc:
        raise ReceiptInvalid(f"signature not valid: {exc}") from exc
    if verified.protected.get("typ") != RECEIPT_TYP:
        raise ReceiptInvalid("not a form receipt (typ)")
    try:
        payload = json.loads(verified.payload)
    except ValueError as exc:
        raise ReceiptInvalid("payload is not JSON") from exc
    if not isinstance(payload, dict) or payload.get("type") != RECEIPT_TYPE:
        raise ReceiptInvalid("not a form receipt (type)")
    if issuer is not None and payload.get("iss") != issuer:
        raise ReceiptInvalid("not a receipt of this issuer (iss)")
    return payload


def check_receipt(
    token: str,
    jwks: dict[str, Any],
    *,
    submission_id: str,
    content_digest: str,
    attachments: list[dict[str, Any]],
) -> list[str]:
    """What is wrong with a stored submission's receipt, if anything (empty: it holds).

    The signature must verify with the issuer's keys, and the signed payload must name this
    submission, this content's SHA-256 and these attachments' hashes: a receipt for other
    content, or content changed after it was signed, shows here.
    """
    try:
        payload = verify_receipt(token, jwks)
    except ReceiptInvalid as exc:
        return [str(exc)]
    problems = []
    if payload.get("submissionId") != submission_id:
        problems.append("the receipt names another submission")
    if (payload.get("content") or {}).get("sha256") != content_digest:
        problems.append("the content differs from what the receipt signed")
    signed = {(a.get("id"), a.get("sha256")) for a in payload.get("attachments") or []}
    stored = {(a.get("id"), a.get("sha256")) for a in attachments}
    if signed != stored:
        problems.append("the attachments differ from what the receipt signed")
    return problems
