"""The SD-JWT core (RFC 9901): disclosures, digests, processing a presentation, the KB-JWT.

Written here on joserfc (the project's JOSE library) instead of using the PyPI `sd-jwt`
reference implementation (0.10.x, on jwcrypto): that library predates RFC 9901 and skips
checks the RFC makes mandatory for a verifier (§7.1 step 5, every Disclosure must be
referenced; exp/nbf; the KB-JWT's iat window; explicit typing), and it reports every failure
as a bare ValueError, whereas DUO's verifiers must be told the specific reason. It would also
bring a second JOSE stack. The tests play the wallet with that library, so the two
implementations check each other. Only what the diploma credential needs is here: sha-256,
the compact serialization (§4), JWK holder keys.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

ALGORITHM = "ES256"
HASH_ALG = "sha-256"  # §4.1.1: the only one we issue and accept
KB_TYP = "kb+jwt"  # §4.3
SD = "_sd"
ARRAY_DIGEST = "..."
# A presentation of the diploma is a few kilobytes; this bounds an anonymous caller's work.
MAX_CHARS = 64 * 1024
MAX_DISCLOSURES = 200
KB_MAX_AGE = timedelta(minutes=5)  # §7.3 step 5: "within an acceptable window"
KB_MAX_SKEW = timedelta(minutes=1)  # a verifier's clock may be a little behind the phone's
_B64URL = re.compile(r"^[A-Za-z0-9_-]+$")

KeyLookup = Callable[[str], ECKey | None]


class SdJwtError(ValueError):
    """The SD-JWT or presentation is refused; `reason` is a stable code a verifier can act on."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Strict base64url (no padding, no non-canonical trailing bits); ValueError otherwise."""
    if not _B64URL.match(text):
        raise ValueError("not base64url")
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64url(raw) != text:
        raise ValueError("not canonical base64url")
    return raw


def digest(text: str) -> str:
    """§4.2.3: SHA-256 over the ASCII of the base64url text, itself base64url-encoded."""
    return b64url(hashlib.sha256(text.encode("ascii")).digest())


def _salt() -> str:
    return b64url(secrets.token_bytes(16))  # §9.3: 128 bits from a CSPRNG


def _encode(items: list[Any]) -> str:
    return b64url(json.dumps(items, ensure_ascii=False, separators=(",", ":")).encode())


def object_disclosure(name: str, value: Any) -> str:
    """§4.2.1: [salt, claim name, claim value]."""
    return _encode([_salt(), name, value])


def array_disclosure(value: Any) -> str:
    """§4.2.2: [salt, array element]."""
    return _encode([_salt(), value])


def decoy_digest() -> str:
    """§4.2.5: a digest over random bytes, indistinguishable from a real one."""
    return b64url(hashlib.sha256(secrets.token_bytes(32)).digest())


def serialize(jwt: str, disclosures: list[str], kb_jwt: str = "") -> str:
    """§4: <JWT>~<D1>~…~<Dn>~[<KB-JWT>]."""
    return "~".join([jwt, *disclosures, kb_jwt])


def sd_hash(jwt: str, disclosures: list[str]) -> str:
    """§4.3.1: the digest over the SD-JWT as presented (ending in '~'), for the KB-JWT."""
    return digest(serialize(jwt, disclosures))


# --- parsing and verifying ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Parts:
    jwt: str
    disclosures: list[str]
    kb_jwt: str | None


def looks_like_sd_jwt(text: str) -> bool:
    return isinstance(text, str) and "~" in text


def split(token: str) -> Parts:
    """§4 compact serialization; SdJwtError('malformed') when it is not one."""
    token = token.strip()
    if len(token) > MAX_CHARS:
        raise SdJwtError("malformed", "This is too long to be a diploma credential.")
    parts = token.split("~")
    if len(parts) < 2 or len(parts) > MAX_DISCLOSURES + 2:
        raise SdJwtError("malformed", "This is not an SD-JWT (<JWT>~<disclosures>~[<KB-JWT>]).")
    jwt, *disclosures, kb_jwt = parts
    for item in disclosures:
        if not _B64URL.match(item):
            raise SdJwtError("disclosure_malformed", "A disclosure is empty or not base64url.")
    return Parts(jwt=jwt, disclosures=disclosures, kb_jwt=kb_jwt or None)


@dataclass(frozen=True, slots=True)
class Verified:
    header: dict[str, Any]
    payload: dict[str, Any]


def _json_object(segment: str, what: str, reason: str) -> dict[str, Any]:
    try:
        value = json.loads(b64url_decode(segment))
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise SdJwtError(reason, f"The {what} is not base64url JSON.") from exc
    if not isinstance(value, dict):
        raise SdJwtError(reason, f"The {what} is not a JSON object.")
    return value


def verify_jwt(
    token: str,
    key: ECKey | KeyLookup,
    *,
    typ: str,
    what: str,
    prefix: str = "",
) -> Verified:
    """Verify a compact JWS with ES256 only (RFC 8725 §3.1): never `none`, never HS*.

    `key` is the key itself (a holder's cnf key) or a lookup by `kid` (the issuer's JWKS).
    Reasons are prefixed (`kb_`) for the key-binding JWT.
    """
    segments = token.split(".")
    # The signature may be empty here: an unsigned (`alg: none`) JWT is refused for its alg.
    if len(segments) != 3 or not all(_B64URL.match(s) for s in segments[:2]):
        raise SdJwtError(f"{prefix}malformed", f"The {what} is not a compact JWS.")
    header = _json_object(segments[0], f"{what}'s header", f"{prefix}malformed")
    payload = _json_object(segments[1], f"{what}'s payload", f"{prefix}malformed")
    alg = header.get("alg")
    if alg != ALGORITHM:
        # §7.1 step 2.1 / §7.3 step 5.2: `none` and symmetric algorithms are never accepted.
        raise SdJwtError(f"{prefix}alg_not_allowed", f"The {what} uses alg {alg!r}; only ES256.")
    if callable(key):
        kid = header.get("kid")
        found = key(kid) if isinstance(kid, str) else None
        if found is None:
            raise SdJwtError("unknown_key", f"The {what} is signed with a key DUO did not publish.")
        key = found
    try:
        b64url_decode(segments[2])
        jws.deserialize_compact(token, key, algorithms=[ALGORITHM])
    except (JoseError, ValueError, binascii.Error) as exc:
        raise SdJwtError(
            f"{prefix}bad_signature", f"The {what}'s signature does not hold."
        ) from exc
    if header.get("typ") != typ:
        # RFC 8725 §3.11 explicit typing: a DUO extract or status list is not a credential.
        raise SdJwtError(f"{prefix}wrong_type", f"The {what} has typ {header.get('typ')!r}.")
    return Verified(header=header, payload=payload)


@dataclass(slots=True)
class _Unpacker:
    by_digest: dict[str, list[Any]]
    used: set[str] = field(default_factory=set)
    seen: set[str] = field(default_factory=set)
    disclosed: list[str] = field(default_factory=list)

    def _take(self, value: str) -> list[Any] | None:
        if value in self.seen:
            raise SdJwtError("digest_repeated", "A digest appears more than once (§7.1 step 4).")
        self.seen.add(value)
        found = self.by_digest.get(value)
        if found is not None:
            self.used.add(value)
        return found

    def walk(self, node: Any, path: str) -> Any:
        if isinstance(node, list):
            return self._array(node, path)
        if isinstance(node, dict):
            return self._object(node, path)
        return node

    def _object(self, node: dict[str, Any], path: str) -> dict[str, Any]:
        digests = node.get(SD, [])
        if not isinstance(digests, list) or not all(isinstance(d, str) for d in digests):
            raise SdJwtError("malformed", "An _sd claim is not an array of digests.")
        out = {k: self.walk(v, f"{path}/{k}") for k, v in node.items() if k not in (SD, "_sd_alg")}
        for value in digests:
            disclosure = self._take(value)
            if disclosure is None:
                continue  # a decoy, or a claim the holder chose not to disclose
            if len(disclosure) != 3 or not isinstance(disclosure[1], str):
                raise SdJwtError(
                    "disclosure_malformed", "A disclosure for an object is not [salt, name, value]."
                )
            name = disclosure[1]
            if name in (SD, ARRAY_DIGEST) or name in out:
                raise SdJwtError(
                    "claim_name_conflict", f"A disclosure would overwrite the claim {name!r}."
                )
            out[name] = self.walk(disclosure[2], f"{path}/{name}")
            self.disclosed.append(f"{path}/{name}")
        return out

    def _array(self, node: list[Any], path: str) -> list[Any]:
        out: list[Any] = []
        for position, item in enumerate(node):
            here = f"{path}/{position}"
            if isinstance(item, dict) and list(item) == [ARRAY_DIGEST]:
                value = item[ARRAY_DIGEST]
                if not isinstance(value, str):
                    raise SdJwtError("malformed", "An array digest is not a string.")
                disclosure = self._take(value)
                if disclosure is None:
                    continue  # §7.1 step 3.4: elements without a disclosure are removed
                if len(disclosure) != 2:
                    raise SdJwtError(
                        "disclosure_malformed",
                        "A disclosure for an array element is not [salt, value].",
                    )
                out.append(self.walk(disclosure[1], here))
                self.disclosed.append(here)
            else:
                out.append(self.walk(item, here))
        return out


@dataclass(frozen=True, slots=True)
class Processed:
    """The Processed SD-JWT Payload (§7.1) and which paths were disclosed (JSON Pointers)."""

    claims: dict[str, Any]
    disclosed: list[str]


def process(payload: dict[str, Any], disclosures: list[str]) -> Processed:
    """§7.1 step 3-5: replace digests by disclosed values; refuse anything ambiguous."""
    alg = payload.get("_sd_alg", HASH_ALG)
    if alg != HASH_ALG:
        raise SdJwtError("unsupported_sd_alg", f"Digests use {alg!r}; only sha-256 is accepted.")
    by_digest: dict[str, list[Any]] = {}
    for item in disclosures:
        value = digest(item)
        if value in by_digest:
            # §4: "A Holder MUST NOT … send a Disclosure more than once."
            raise SdJwtError("disclosure_duplicated", "The same disclosure is presented twice.")
        try:
            decoded = json.loads(b64url_decode(item))
        except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
            raise SdJwtError("disclosure_malformed", "A disclosure is not base64url JSON.") from exc
        if not isinstance(decoded, list) or len(decoded) not in (2, 3):
            raise SdJwtError("disclosure_malformed", "A disclosure is not a JSON array of 2 or 3.")
        if not isinstance(decoded[0], str):
            raise SdJwtError("disclosure_malformed", "A disclosure's salt is not a string.")
        by_digest[value] = decoded
    unpacker = _Unpacker(by_digest=by_digest)
    claims = unpacker.walk(payload, "")
    if len(unpacker.used) != len(by_digest):
        # §7.1 step 5: a Disclosure the Issuer-signed JWT does not reference.
        raise SdJwtError(
            "disclosure_not_in_digests",
            "A disclosure does not match any digest in the credential (changed or foreign).",
        )
    return Processed(claims=claims, disclosed=unpacker.disclosed)


@dataclass(frozen=True, slots=True)
class KeyBinding:
    """A verified KB-JWT (§4.3, §7.3): the holder signed this presentation with the cnf key."""

    audience: str
    nonce: str
    issued_at: datetime


def holder_key(payload: dict[str, Any]) -> ECKey:
    """The `cnf.jwk` public key (RFC 7800 §3.2); SdJwtError('no_holder_key') otherwise."""
    cnf = payload.get("cnf")
    jwk = cnf.get("jwk") if isinstance(cnf, dict) else None
    if not isinstance(jwk, dict) or jwk.get("kty") != "EC" or "d" in jwk:
        raise SdJwtError("no_holder_key", "The credential names no holder key (cnf.jwk).")
    try:
        return ECKey.import_key({k: jwk[k] for k in ("kty", "crv", "x", "y") if k in jwk})
    except (JoseError, ValueError, KeyError, TypeError) as exc:
        raise SdJwtError("no_holder_key", "The credential's holder key is not valid.") from exc


def verify_key_binding(
    parts: Parts,
    payload: dict[str, Any],
    *,
    now: datetime,
    audience: str | None,
    nonce: str | None,
) -> KeyBinding:
    """§7.3 step 5: signature by the cnf key, typ, iat window, sd_hash, then aud and nonce."""
    if parts.kb_jwt is None:
        raise SdJwtError("kb_missing", "Proof of possession was asked for but none was sent.")
    key = holder_key(payload)
    verified = verify_jwt(parts.kb_jwt, key, typ=KB_TYP, what="key-binding JWT", prefix="kb_")
    claims = verified.payload
    iat, aud, kb_nonce = claims.get("iat"), claims.get("aud"), claims.get("nonce")
    if not isinstance(iat, int) or not isinstance(aud, str) or not isinstance(kb_nonce, str):
        raise SdJwtError("kb_malformed", "The key-binding JWT lacks iat, aud or nonce.")
    if claims.get("sd_hash") != sd_hash(parts.jwt, parts.disclosures):
        raise SdJwtError(
            "sd_hash_mismatch",
            "The key-binding JWT was made for other disclosures (sd_hash does not match).",
        )
    issued = datetime.fromtimestamp(iat, now.tzinfo)
    if issued > now + KB_MAX_SKEW or now - issued > KB_MAX_AGE:
        raise SdJwtError("kb_stale", "The key-binding JWT is not fresh (iat out of the window).")
    if audience is not None and aud != audience:
        raise SdJwtError("kb_wrong_audience", f"The key-binding JWT is for {aud!r}, not for you.")
    if nonce is not None and kb_nonce != nonce:
        raise SdJwtError("kb_wrong_nonce", "The key-binding JWT answers another nonce.")
    return KeyBinding(audience=aud, nonce=kb_nonce, issued_at=issued)
