"""Human-typable secrets (activation codes, recovery keys) and how they are stored."""

from __future__ import annotations

import hashlib
import hmac
import secrets

# Crockford base32: no I, L, O, U, so that what people read from paper they type back right.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CONFUSABLE = str.maketrans({"O": "0", "I": "1", "L": "1"})


def new_code(groups: int, group_size: int = 4) -> str:
    """A random code of groups * group_size * 5 bits, e.g. 4 groups of 4 = 80 bits."""
    chars = [secrets.choice(ALPHABET) for _ in range(groups * group_size)]
    return "-".join("".join(chars[i : i + group_size]) for i in range(0, len(chars), group_size))


def normalize(code: str) -> str:
    """What the user typed, as the canonical characters (case, spaces, dashes, O/0, I/1)."""
    cleaned = "".join(ch for ch in code.upper() if ch not in " -\t\n")
    return cleaned.translate(_CONFUSABLE)


def digest(secret_key: str, value: str) -> bytes:
    """Keyed hash for lookup: a leaked table cannot be brute-forced without the server key."""
    return hmac.new(secret_key.encode(), normalize(value).encode(), hashlib.sha256).digest()


def token_digest(token: str) -> bytes:
    """Plain SHA-256 for 256-bit random tokens (cookies, links): guessing is out of reach."""
    return hashlib.sha256(token.encode()).digest()


def new_token() -> str:
    return secrets.token_urlsafe(32)
