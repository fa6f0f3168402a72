"""base64url (RFC 4648 §5) without padding, decoded strictly: one spelling per byte string.

Python's decoders are lenient: they skip characters outside the alphabet (whitespace, `!`),
accept `+` and `/` for `-` and `_`, any amount of `=` padding, and ignore set bits after the
last whole byte. Each of those lets many texts decode to the same bytes, so a signed value
could be re-spelled without touching its signature. Protocols that sign or compare the text
(WebAuthn's JSON encoding, JWS compact serialization) use these functions instead.
"""

from __future__ import annotations

import base64
import binascii
import re

_ALPHABET = re.compile(r"[A-Za-z0-9_-]*")


def encode(data: bytes) -> str:
    """base64url without padding (RFC 4648 §5; RFC 7515 §2 "Base64url Encoding")."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def decode(text: str) -> bytes:
    """The bytes of a canonical unpadded base64url text; ValueError for any other spelling."""
    if not isinstance(text, str) or _ALPHABET.fullmatch(text) is None:
        raise ValueError("not base64url: only A-Z a-z 0-9 - _ without padding or whitespace")
    if len(text) % 4 == 1:  # 6 bits cannot end a byte string
        raise ValueError("not base64url: impossible length")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:  # pragma: no cover - the alphabet is checked
        raise ValueError("not base64url") from exc
    # RFC 4648 §3.5: the unused bits of the last character must be zero (canonical encoding).
    if encode(raw) != text:
        raise ValueError("not base64url: non-canonical trailing bits")
    return raw
