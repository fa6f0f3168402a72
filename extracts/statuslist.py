"""Revocation status lists, after W3C Bitstring Status List v1.0, and the same bits as an IETF
Token Status List (draft-ietf-oauth-status-list) for wallet credentials.

Each list is a bitstring of LIST_SIZE entries; bit i (counted from the most significant bit of
the first byte, §4.1 "left-most bit") is 1 when the extract with that index is revoked. It is
published gzip-compressed, base64url-encoded with the multibase prefix "u" (§2.1
`encodedList`), inside a payload signed with the issuer's key like the extracts themselves.

The Token Status List carries the very same statuses (one source: `extracts.revoked_at`), so
revoking an extract revokes the wallet credential issued with it: one status, one place to
revoke. Only its encoding differs (Token Status List §4.1: least significant bit first, ZLIB).
"""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import io
import json
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.database import utcnow
from extracts.keys import KeyRing
from extracts.models import Extract

# 131,072 entries = 16 KiB: the spec's minimum, so that one index tells a status-list
# fetcher little about which extract is being checked (§6.3 "herd privacy").
LIST_SIZE = 131_072
PURPOSE = "revocation"
TYP = "duo-statuslist+jwt"  # explicit typing, RFC 8725 §3.11: never confused with an extract
# How long a verifier may cache a list (also the HTTP max-age of /extracts/status/N).
TTL = timedelta(minutes=5)
# Token Status List §5.1 (JWT format) and §8.2 (its media type).
TSL_TYP = "statuslist+jwt"
TSL_MEDIA_TYPE = "application/statuslist+jwt"


def list_position(index: int) -> tuple[int, int]:
    """Global allocation index -> (list number from 1, position within that list)."""
    return index // LIST_SIZE + 1, index % LIST_SIZE


def status_list_url(public_origin: str, number: int) -> str:
    return f"{public_origin}/extracts/status/{number}"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode_bits(positions: Iterable[int], size: int = LIST_SIZE) -> tuple[bytes, str]:
    """The raw bitstring with these positions set, and its `encodedList` form."""
    bits = bytearray(size // 8)
    for position in positions:
        bits[position // 8] |= 0x80 >> (position % 8)
    # mtime=0: the same bits always compress to the same bytes.
    return bytes(bits), "u" + b64url(gzip.compress(bytes(bits), compresslevel=9, mtime=0))


class StatusListError(ValueError):
    """An encodedList that is not a multibase base64url gzip bitstring."""


def decode_bits(encoded: str) -> bytes:
    if not encoded.startswith("u"):
        raise StatusListError("encodedList must be multibase base64url (prefix 'u')")
    try:
        # A bomb guard: a genuine list is LIST_SIZE bits; refuse to inflate past 16x that.
        with gzip.GzipFile(fileobj=io.BytesIO(b64url_decode(encoded[1:]))) as stream:
            bits = stream.read(LIST_SIZE // 8 * 16 + 1)
    except (OSError, EOFError, binascii.Error, ValueError) as exc:
        raise StatusListError(f"encodedList cannot be decoded: {exc}") from exc
    if len(bits) > LIST_SIZE // 8 * 16:
        raise StatusListError("encodedList is implausibly large")
    return bits


def token_status_url(public_origin: str, number: int) -> str:
    """The stable URI of Token Status List N: the `status_list.uri` and the token's `sub`."""
    return f"{public_origin}/extracts/token-status/{number}"


def encode_token_bits(positions: Iterable[int], size: int = LIST_SIZE) -> tuple[bytes, str]:
    """Token Status List §4.1 with `bits: 1`: index i is bit (i mod 8), counted from the least
    significant bit, of byte i // 8; DEFLATE in the ZLIB format, base64url (§4.2 `lst`)."""
    bits = bytearray(size // 8)
    for position in positions:
        bits[position // 8] |= 1 << (position % 8)
    return bytes(bits), b64url(zlib.compress(bytes(bits), 9))


def decode_token_bits(lst: str) -> bytes:
    """The byte array of a Token Status List's `lst` (with the same bomb guard as above)."""
    limit = LIST_SIZE // 8 * 16
    try:
        inflater = zlib.decompressobj()
        bits = inflater.decompress(b64url_decode(lst), limit + 1)
    except (zlib.error, binascii.Error, ValueError) as exc:
        raise StatusListError(f"lst cannot be decoded: {exc}") from exc
    if len(bits) > limit or inflater.unconsumed_tail:
        raise StatusListError("lst is implausibly large")
    return bits


def token_status(bits: bytes, index: int) -> int:
    """The 1-bit status of `index` (0 VALID, 1 INVALID, §7.1); StatusListError if beyond it."""
    if index // 8 >= len(bits):
        raise StatusListError(f"index {index} is beyond this status list")
    return (bits[index // 8] >> (index % 8)) & 1


def token_status_payload(*, issuer: str, url: str, lst: str, issued_at: datetime) -> dict[str, Any]:
    """The Status List Token's claims (§5.1). No `exp`: verifiers abroad keep a saved list for
    offline checks and are told its age (`iat`); `ttl` says when to fetch a fresh one."""
    return {
        "iss": issuer,
        "sub": url,
        "iat": int(issued_at.timestamp()),
        "ttl": int(TTL.total_seconds()),
        "status_list": {"bits": 1, "lst": lst},
    }


def is_set(bits: bytes, position: int) -> bool:
    if position // 8 >= len(bits):
        raise StatusListError(f"index {position} is beyond this status list")
    return bool(bits[position // 8] & (0x80 >> (position % 8)))


def status_entry(public_origin: str, index: int) -> dict[str, str]:
    """The extract's `credentialStatus` (§2.1 BitstringStatusListEntry)."""
    number, position = list_position(index)
    url = status_list_url(public_origin, number)
    return {
        "id": f"{url}#{position}",
        "type": "BitstringStatusListEntry",
        "statusPurpose": PURPOSE,
        "statusListIndex": str(position),
        "statusListCredential": url,
    }


def status_list_payload(
    *, issuer: str, url: str, encoded: str, issued_at: datetime
) -> dict[str, Any]:
    """The signed list (§2.2 BitstringStatusListCredential), with JWT `iss`/`iat` beside it."""
    return {
        "iss": issuer,
        "iat": int(issued_at.timestamp()),
        "id": url,
        "type": ["BitstringStatusListCredential"],
        "issuer": issuer,
        "validFrom": issued_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "credentialSubject": {
            "id": f"{url}#list",
            "type": "BitstringStatusList",
            "statusPurpose": PURPOSE,
            "ttl": int(TTL.total_seconds() * 1000),
            "encodedList": encoded,
        },
    }


@dataclass(frozen=True, slots=True)
class PublishedList:
    number: int
    jws: str
    bits: bytes
    issued_at: datetime
    # Over the content (bits and key), not the bytes: ECDSA signatures differ on every
    # signing, so two workers publish different bytes of the same list (a weak ETag).
    etag: str


async def revoked_positions(db: AsyncSession, number: int) -> list[int]:
    first = (number - 1) * LIST_SIZE
    stmt = select(Extract.status_index).where(
        Extract.revoked_at.is_not(None),
        Extract.status_index >= first,
        Extract.status_index < first + LIST_SIZE,
    )
    return [index - first for index in (await db.scalars(stmt)).all()]


class StatusLists:
    """Signed lists per process, re-signed only when their content changed or grew stale.

    Every request still asks the database which bits are set (one indexed query), so a
    revocation made by another process or the CLI shows in the next response.
    """

    def __init__(self) -> None:
        self._cache: dict[tuple[str, int], PublishedList] = {}

    async def get(
        self,
        db: AsyncSession,
        *,
        ring: KeyRing,
        number: int,
        issuer: str,
        public_origin: str,
        now: datetime | None = None,
        token_format: bool = False,
    ) -> PublishedList:
        """The W3C list N, or with `token_format` the same statuses as a Status List Token."""
        now = now or utcnow()
        positions = sorted(await revoked_positions(db, number))
        kind = "token" if token_format else "w3c"
        digest = hashlib.sha256(
            f"{kind}|{ring.signing_kid}|{number}|{','.join(map(str, positions))}".encode()
        ).hexdigest()
        etag = f'W/"{digest[:32]}"'
        cached = self._cache.get((kind, number))
        if cached is not None and cached.etag == etag and now - cached.issued_at < TTL:
            return cached
        if token_format:
            url = token_status_url(public_origin, number)
            bits, lst = encode_token_bits(positions)
            payload = token_status_payload(issuer=issuer, url=url, lst=lst, issued_at=now)
            typ = TSL_TYP
        else:
            url = status_list_url(public_origin, number)
            bits, encoded = encode_bits(positions)
            payload = status_list_payload(issuer=issuer, url=url, encoded=encoded, issued_at=now)
            typ = TYP
        token = ring.sign(json.dumps(payload, separators=(",", ":")).encode(), typ=typ)
        published = PublishedList(number=number, jws=token, bits=bits, issued_at=now, etag=etag)
        self._cache[(kind, number)] = published
        return published
