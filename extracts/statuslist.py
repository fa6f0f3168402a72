"""Revocation status lists, after W3C Bitstring Status List v1.0.

Each list is a bitstring of LIST_SIZE entries; bit i (counted from the most significant bit of
the first byte, §4.1 "left-most bit") is 1 when the extract with that index is revoked. It is
published gzip-compressed, base64url-encoded with the multibase prefix "u" (§2.1
`encodedList`), inside a payload signed with the issuer's key like the extracts themselves.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import io
import json
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
        self._cache: dict[int, PublishedList] = {}

    async def get(
        self,
        db: AsyncSession,
        *,
        ring: KeyRing,
        number: int,
        issuer: str,
        public_origin: str,
        now: datetime | None = None,
    ) -> PublishedList:
        now = now or utcnow()
        positions = sorted(await revoked_positions(db, number))
        digest = hashlib.sha256(
            f"{ring.signing_kid}|{number}|{','.join(map(str, positions))}".encode()
        ).hexdigest()
        etag = f'W/"{digest[:32]}"'
        cached = self._cache.get(number)
        if cached is not None and cached.etag == etag and now - cached.issued_at < TTL:
            return cached
        bits, encoded = encode_bits(positions)
        url = status_list_url(public_origin, number)
        payload = status_list_payload(issuer=issuer, url=url, encoded=encoded, issued_at=now)
        token = ring.sign(json.dumps(payload, separators=(",", ":")).encode(), typ=TYP)
        published = PublishedList(number=number, jws=token, bits=bits, issued_at=now, etag=etag)
        self._cache[number] = published
        return published
