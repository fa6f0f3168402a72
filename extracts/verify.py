"""Verifying an extract: signature against the issuer's public keys, then its status bit.

Pure functions, no database: the server feeds them its key ring and current status list, the
offline CLI a saved JWKS and status list. Anything shaped like a compact JWS gets a verdict;
only input that is not one at all is an error (InvalidInput, a 400 at the HTTP edge).
"""

from __future__ import annotations

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

from api import b64url as b64url_strict
from api import es256
from api.errors import InvalidInput
from extracts import statuslist
from extracts.keys import ALGORITHM, import_jwk

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
    NOT_YET_VALID = "not_yet_valid"  # its `nbf` lies ahead
    # The signature does not match the content (any changed byte), or the text is not the one
    # form DUO signs (ES256 low-S, canonical base64url, our header), or a claim is malformed.
    TAMPERED = "tampered"
    # Signed with a key that is not in the issuer's JWKS, or naming another issuer (`iss`).
    UNKNOWN_ISSUER = "unknown_issuer"


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


_KINDS = {EXTRACT_TYP: "diploma extract", statuslist.TYP: "status list"}


def _not_a_jws(message: str = "This is not a signed extract (a compact JWS).") -> InvalidInput:
    return InvalidInput(message, field="jws")


def split_compact(token: str, *, kind: str = "extract") -> tuple[str, str, str]:
    """The three segments of a compact JWS; InvalidInput when the text is not one.

    The text exactly, not "something containing one": whitespace around it (or inside) makes
    another text than the one signed (RFC 7515 §7.1 has no place for it).
    """
    if not isinstance(token, str):
        raise _not_a_jws(f"This is not a signed {kind} (a compact JWS).")
    if len(token) > MAX_JWS_CHARS:
        raise _not_a_jws(f"This is too long to be a signed {kind}.")
    parts = token.split(".")
    # fullmatch: re.match's `$` would also accept a line break at the very end.
    if len(parts) != 3 or not all(_SEGMENT.fullmatch(p) for p in parts):
        raise _not_a_jws(f"This is not a signed {kind} (a compact JWS).")
    return parts[0], parts[1], parts[2]


def _canonical(segment: str) -> bytes | None:
    """Decode base64url, refusing non-canonical spellings (unused trailing bits set).

    Without this, some one-character changes in the text would decode to the same bytes and
    still verify; "any changed byte fails" should hold for the text a person holds.
    """
    try:
        return b64url_strict.decode(segment)
    except ValueError:
        return None


def _json_object(raw: bytes) -> dict[str, Any] | None:
    """A JSON object without repeated members (two parsers could read two different values)."""

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        members = dict(pairs)
        if len(members) != len(pairs):
            raise ValueError("duplicate member")
        return members

    try:
        value = json.loads(raw.decode("utf-8"), object_pairs_hook=no_duplicates)
    except ValueError:  # UnicodeDecodeError and JSONDecodeError included
        return None
    return value if isinstance(value, dict) else None


# The only protected header DUO writes (extracts.keys.KeyRing.sign): anything else (crit, b64,
# jku, x5u, …) is not one of ours, and some would change how the signature is checked.
_HEADER_MEMBERS = frozenset({"alg", "kid", "typ"})


def check_signature(token: str, keys: KeyLookup, *, typ: str) -> Signed | Result:
    """Verify the signature; a Result (tampered, unknown issuer) when it does not hold."""
    header_part, payload_part, signature_part = split_compact(token, kind=_KINDS[typ])
    raw_header = _canonical(header_part)
    raw_payload = _canonical(payload_part)
    signature = _canonical(signature_part)
    if raw_header is None or raw_payload is None or signature is None:
        return Result.TAMPERED
    header = _json_object(raw_header)
    if header is None:
        return Result.TAMPERED
    kid = header.get("kid")
    key = keys(kid) if isinstance(kid, str) else None
    if key is None or not isinstance(kid, str):
        return Result.UNKNOWN_ISSUER
    if header.get("alg") != ALGORITHM or not set(header) <= _HEADER_MEMBERS:
        return Result.TAMPERED  # "none", HS256 with the public key as secret, …: never
    if not es256.is_canonical_signature(signature):
        return Result.TAMPERED  # the high-S twin (or a DER one) of a signature: not our text
    try:
        jws.deserialize_compact(token, key, algorithms=[ALGORITHM])
    except (JoseError, ValueError):
        return Result.TAMPERED
    payload = _json_object(raw_payload)
    if payload is None:
        return Result.TAMPERED
    if header.get("typ") != typ:
        kind = _KINDS.get(str(header.get("typ")), "document")
        raise InvalidInput(f"This is a signed {kind}, not a {_KINDS[typ]}.", field="jws")
    return Signed(kid=kid, header=header, payload=payload)


def status_reference(payload: Mapping[str, Any]) -> tuple[str, int]:
    """(status list URL, position) from a verified extract's credentialStatus."""
    try:
        entry = payload["credentialStatus"]
        return str(entry["statusListCredential"]), int(entry["statusListIndex"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput("This extract has no status entry.", field="jws") from exc


def _is_time(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_claims(signed: Signed, *, issuer: str) -> Result | None:
    """The claims every verifier checks before looking anything up (RFC 7519 §4.1): None when
    they are fine, else the verdict (given without the content, which nothing vouches for)."""
    if signed.payload.get("iss") != issuer:
        # A listed key, but not this issuer's document (another deployment, or a key used
        # for something else): DUO does not vouch for it as one of its extracts.
        return Result.UNKNOWN_ISSUER
    if any(k in signed.payload and not _is_time(signed.payload[k]) for k in ("exp", "nbf", "iat")):
        return Result.TAMPERED  # DUO writes NumericDates only; "exp": "never" would never expire
    return None


def decide(
    signed: Signed, *, revoked: bool, now: datetime, status_list_issued_at: datetime | None
) -> Verification:
    """The verdict for a correctly signed extract whose claims were checked (check_claims):
    revoked beats not yet valid beats expired beats valid."""
    expires = signed.payload.get("exp")
    not_before = signed.payload.get("nbf")
    if revoked:
        result = Result.REVOKED
    elif not_before is not None and now.timestamp() < not_before:  # a number: check_claims
        result = Result.NOT_YET_VALID
    elif expires is not None and now.timestamp() >= expires:
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
    """A verdict for a JWS that is not a valid extract of this issuer (no content vouched for)."""
    raw_header = _canonical(split_compact(token)[0])
    header = _json_object(raw_header) if raw_header is not None else None
    kid = header.get("kid") if header is not None else None
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
    issuer: str = ""


def open_status_list(token: str, keys: KeyLookup) -> SavedStatusList:
    """Check a saved status list's signature and decode it; InvalidInput if it does not hold."""
    checked = check_signature(token, keys, typ=statuslist.TYP)
    if not isinstance(checked, Signed):
        raise InvalidInput(f"The status list does not verify ({checked.value}).", field="status")
    try:
        subject = checked.payload["credentialSubject"]
        bits = statuslist.decode_bits(subject["encodedList"])
        issued_at = datetime.fromtimestamp(int(checked.payload["iat"]), UTC)
        issuer = checked.payload["iss"]
        if not isinstance(issuer, str):
            raise TypeError("its iss is not a string")
        return SavedStatusList(
            url=str(checked.payload["id"]), bits=bits, issued_at=issued_at, issuer=issuer
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(f"The status list is malformed: {exc}", field="status") from exc


def expected_issuer(lists: Mapping[str, SavedStatusList], given: str | None) -> str:
    """Whose extracts an offline check accepts: the one named, else that of the saved status
    lists (signed by the same keys). Lists of another issuer are unusable input."""
    issuers = {saved.issuer for saved in lists.values()}
    if given is not None:
        others = sorted(issuers - {given})
        if others:
            raise InvalidInput(
                f"A saved status list is from issuer {others[0]}, not {given}.", field="status"
            )
        return given
    if len(issuers) != 1:
        raise InvalidInput(
            "The saved status lists name different issuers; say which with --issuer.",
            field="status",
        )
    return issuers.pop()


def verify_offline(
    token: str,
    keys: Mapping[str, ECKey],
    lists: Mapping[str, SavedStatusList],
    *,
    issuer: str | None = None,
    now: datetime | None = None,
) -> Verification:
    """Verify with nothing but a saved JWKS and status lists (no network, no database)."""
    now = now or datetime.now(UTC)
    checked = check_signature(token, keys.get, typ=EXTRACT_TYP)
    if not isinstance(checked, Signed):
        return refused(checked, now=now, token=token)
    problem = check_claims(checked, issuer=expected_issuer(lists, issuer))
    if problem is not None:
        return refused(problem, now=now, token=token)
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
