"""ES256 compact JWS in exactly one form, for everything DUO signs (extracts, status lists,
form receipts).

An ECDSA signature (r, s) has a twin (r, n - s) that verifies just as well (SEC 1 §4.1.4), so
a token could be re-signed by anyone into a second, different text that still "verifies".
Signers here always emit the low-S twin (s <= n/2, as Bitcoin's BIP 62 and Ethereum's EIP-2
require) and verifiers accept nothing else; together with canonical base64url (api.b64url) and
no whitespace, one signed content has one text.
"""

from __future__ import annotations

from api import b64url

# The order n of the NIST P-256 base point (FIPS 186-5 / SEC 2 §2.4.2).
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_HALF_ORDER = P256_ORDER // 2
SIGNATURE_BYTES = 64  # RFC 7518 §3.4: R || S, 32 bytes each


def low_s(token: str) -> str:
    """The same compact JWS with the low-S twin of its ES256 signature."""
    header, payload, signature = token.split(".")
    raw = b64url.decode(signature)
    s = int.from_bytes(raw[32:], "big")
    if s <= _HALF_ORDER:
        return token
    twin = raw[:32] + (P256_ORDER - s).to_bytes(32, "big")
    return f"{header}.{payload}.{b64url.encode(twin)}"


def is_canonical_signature(raw: bytes) -> bool:
    """R || S of the right length, both in range, S in the lower half."""
    if len(raw) != SIGNATURE_BYTES:
        return False
    r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    return 0 < r < P256_ORDER and 0 < s <= _HALF_ORDER
