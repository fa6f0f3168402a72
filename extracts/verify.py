"""Verifying an extract: signature against the issuer's public keys, then its status bit.

Pure functions, no database: the server feeds them its key ring and current status list, the
offline CLI a saved JWKS and status list. Anything shaped like a compact JWS gets a verdict;
only input that is not one at all is an error (InvalidInput, a 400 at the HTTP edge).
"""

from __future__ import annotations

import binascii
import enum
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

from api.errors import InvalidInput
from extracts import statuslist
from extracts.keys import ALGORITHM, import_jwk
from extracts.statuslist import b64url, b64url_decode

EXTRACT_TYP = "duo-extract+jwt"
EXTRACT_TYPE = "DiplomaExtract"
# A real extract is a few kilobytes; this bounds the work an anonymous caller can cause.
MAX_JWS_CHARS = 64 * 1024
_SEGMENT = re.compile(r"^[A-Za-z0-9_-]+$")

KeyLookup = Callable[[str], ECKey | None]


class Result(enum.StrEnum):
    VALID = "valid"
    REVOKED = "revoked"
    EXPIRED = "expired"
    TAMPERED = "tampered"  # the signature does not match the content: any changed byte
    UNKNOWN_ISSUER = "unknown_issuer"  # signed with a key that is not in the issuer's JWKS


@dataclass(frozen=True, slots=True)
class Signed:
    """A JWS whose signature checked out with one of the issuer's keys."""

    kid: str
    header: dict[str, Any]
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Verification:
    result: Result
    checked_at: datetime
    kid: str | None = None
    issuer: str | None = None  # only from a verified signature
    payload: dict[str, Any] | None = None  # only from a verified signature
    status_list_issued_at: datetime | None = None

    @property
    def valid(self) -> bool:
        return self.result is Result.VALID

    def as_json(self) -> dict[str, Any]:
        return {
            "result": self.result.value,
            "issuer": self.issuer,
            "kid": self.kid,
            "payload": self.payload,
            "checkedAt": _iso(self.checked_at),
            "statusListFetchedAt": _iso(self.status_list_issued_at),
        }


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def _not_a_jws(message: str = "This is not a signed extract (a compact JWS).") -> InvalidInput:
    return InvalidInput(message, field="jws")


def split_compact(token: str) -> tuple[str, str, str]:
    """The three segments of a compact JWS; InvalidInput when the text is not one."""
    if not isinstance(token, str):
        raise _not_a_jws()
    token = token.strip()
    if len(token) > MAX_JWS_CHARS:
        raise _not_a_jws("This is too long to be a signed extract.")
    parts = token.split(".")
    if len(parts) != 3 or not all(_SEGMENT.match(p) for p in parts):
        raise _not_a_jws()
    return parts[0], parts[1], parts[2]


def _canonical(segment: str) -> bytes | None:
    """Decode base64url, refusing non-canonical spellings (unused trailing bits set).

    Without this, some one-character changes in the text would decode to the same bytes and
    still verify; "any changed byte fails" should hold for the text a person holds.
    """
    try:
        raw = b64url_decode(segment)
    except (binascii.Error, ValueError):
        return None
    return raw if b64url(raw) == segment else None


def check_signature(token: str, keys: KeyLookup, *, typ: str) -> Signed | Result:
    """Verify the signature; a Result (tampered, unknown issuer) when it does not hold."""
    header_part, payload_part, signature_part = split_compact(token)
    raw_header = _canonical(header_part)
    if raw_header is None or _canonical(payload_part) is None or not _canonical(signature_part):
        return Result.TAMPERED
    try:
        header = json.loads(raw_header)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return Result.TAMPERED
    if not isinstance(header, dict):
        return Result.TAMPERED
    kid = header.get("kid")
    key = keys(kid) if isinstance(kid, str) else None
    if key is None or not isinstance(kid, str):
        return Result.UNKNOWN_ISSUER
    if header.get("alg") != ALGORITHM:
        return Result.TAMPERED  # "none", HS256 with the public key as secret, …: never
    try:
        verified = jws.deserialize_compact(token.strip(), key, algorithms=[ALGORITHM])
        payload = json.loads(verified.payload)
    except (JoseError, ValueError):  # ValueError covers JSON and UTF-8 decoding
        return Result.TAMPERED
    if not isinstance(payload, dict):
        return Result.TAMPERED
    if header.get("typ") != typ:
        names = {EXTRACT_TYP: "diploma extract", statuslist.TYP: "status list"}
        kind = names.get(str(header.get("typ")), "document")
        raise InvalidInput(f"This is a signed {kind}, not a {names[typ]}.", field="jws")
    return Signed(kid=kid, header=header, payload=payload)


def status_reference(payload: Mapping[str, Any]) -> tuple[str, int]:
    """(status list URL, position) from a verified extract's credentialStatus."""
    try:
        entry = payload["credentialStatus"]
        return str(entry["statusListCredential"]), int(entry["statusListIndex"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput("This extract has no status entry.", field="jws") from exc


def decide(
    signed: Signed, *, revoked: bool, now: datetime, status_list_issued_at: datetime | None
) -> Verification:
    """The verdict for a correctly signed extract: revoked beats expired beats valid."""
    expires = signed.payload.get("exp")
    if revoked:
        result = Result.REVOKED
    elif isinstance(expires, int | float) and now.timestamp() >= expires:
        result = Result.EXPIRED
    else:
        result = Result.VALID
    return Verification(
        result=result,
        checked_at=now,
        kid=signed.kid,
        issuer=str(signed.payload.get("iss")),
        payload=signed.payload,
        status_list_issued_at=status_list_issued_at,
    )


def refused(result: Result, *, now: datetime, token: str) -> Verification:
    """A verdict for a JWS whose signature did not hold (no content is vouched for)."""
    kid = None
    try:
        header = json.loads(b64url_decode(split_compact(token)[0]))
        kid = header.get("kid") if isinstance(header, dict) else None
    except (ValueError, binascii.Error):
        pass
    return Verification(result=result, checked_at=now, kid=kid if isinstance(kid, str) else None)


# --- offline: a saved JWKS and saved status lists -------------------------------------------


def keys_from_jwks(document: Mapping[str, Any]) -> dict[str, ECKey]:
    """kid -> public key from a JWKS document (RFC 7517 §5)."""
    found: dict[str, ECKey] = {}
    for item in document.get("keys", []):
        if isinstance(item, dict) and item.get("kty") == "EC":
            key = import_jwk({k: v for k, v in item.items() if k != "d"})
            found[key.kid] = key.public
    return found


@dataclass(frozen=True, slots=True)
class SavedStatusList:
    url: str
    bits: bytes
    issued_at: datetime


def open_status_list(token: str, keys: KeyLookup) -> SavedStatusList:
    """Check a saved status list's signature and decode it; InvalidInput if it does not hold."""
    checked = check_signature(token, keys, typ=statuslist.TYP)
    if not isinstance(checked, Signed):
        raise InvalidInput(f"The status list does not verify ({checked.value}).", field="status")
    try:
        subject = checked.payload["credentialSubject"]
        bits = statuslist.decode_bits(subject["encodedList"])
        issued_at = datetime.fromtimestamp(int(checked.payload["iat"]), UTC)
        return SavedStatusList(url=str(checked.payload["id"]), bits=bits, issued_at=issued_at)
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(f"The status list is malformed: {exc}", field="status") from exc


def verify_offline(
    token: str,
    keys: Mapping[str, ECKey],
    lists: Mapping[str, SavedStatusList],
    *,
    now: datetime | None = None,
) -> Verification:
    """Verify with nothing but a saved JWKS and status lists (no network, no database)."""
    now = now or datetime.now(UTC)
    checked = check_signature(token, keys.get, typ=EXTRACT_TYP)
    if not isinstance(checked, Signed):
        return refused(checked, now=now, token=token)
    url, position = status_reference(checked.payload)
    saved = lists.get(url)
    if saved is None:
        raise InvalidInput(f"No saved status list for {url}; fetch it first.", field="status")
    return decide(
        checked,
        revoked=statuslist.is_set(saved.bits, position),
        now=now,
        status_list_issued_at=saved.issued_at,
    )
