"""A readable name for a new passkey: its authenticator (AAGUID) or else the browser and OS."""

from __future__ import annotations

import re
from collections.abc import Collection

MAX_NAME_LENGTH = 56  # the column holds 64: room for " (99)"

# From the community-maintained passkey AAGUID list; authenticators not here fall back to
# the user agent. Zero AAGUIDs (attestation "none" on some platforms) say nothing.
KNOWN_AAGUIDS = {
    "ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4": "Google Password Manager",
    "adce0002-35bc-c60a-648b-0b25f1f05503": "Chrome on Mac",
    "08987058-cadc-4b81-b6e1-30de50dcbe96": "Windows Hello",
    "9ddd1817-af5a-4672-a2b9-3e3dd95000a9": "Windows Hello",
    "6028b017-b1d4-4c02-b4b3-afcdafc96bb2": "Windows Hello",
    "fbfc3007-154e-4ecc-8c0b-6e020557d7bd": "iCloud Keychain",
    "dd4ec289-e01d-41c9-bb89-70fa845d4bf2": "iCloud Keychain (Managed)",
    "531126d6-e717-415c-9320-3d9aa6981239": "Dashlane",
    "bada5566-a7aa-401f-bd96-45619a55120d": "1Password",
    "d548826e-79b4-db40-a3d8-11116f7e8349": "Bitwarden",
    "b84e4048-15dc-4dd0-8640-f4f60813c8af": "NordPass",
    "0ea242b4-43c4-4a1b-8b17-dd6d0b6baec6": "Keeper",
    "53414d53-554e-4700-0000-000000000000": "Samsung Pass",
    "cb69481e-8ff7-4039-93ec-0a2729a154a8": "YubiKey 5",
    "ee882879-721c-4913-9775-3dfcce97072a": "YubiKey 5 NFC",
}

_BROWSERS = (
    ("Edg/", "Edge"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
)
_SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Windows", "Windows"),
    ("Mac OS X", "Mac"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)


def passkey_name(aaguid: str, user_agent: str | None, taken: Collection[str] = ()) -> str:
    """What a person recognises (#16 item 8): the passkey provider named by the AAGUID and the
    browser and system it was made on ("Google Password Manager · Chrome on Android"), either
    alone when the other is unknown; numbered when the account already has that name."""
    known = KNOWN_AAGUIDS.get(aaguid.lower())
    ua = user_agent or ""
    browser = next((name for token, name in _BROWSERS if token in ua), None)
    system = next((name for token, name in _SYSTEMS if token in ua), None)
    platform = f"{browser} on {system}" if browser and system else (browser or system)
    parts = [part for part in (known, platform) if part]
    # "Chrome on Mac" is already a platform name: no "Chrome on Mac · Chrome on Mac".
    base = " · ".join(dict.fromkeys(parts)) or "Passkey"
    base = base[:MAX_NAME_LENGTH]
    if base not in taken:
        return base
    number = 2
    while f"{base} ({number})" in taken:
        number += 1
    return f"{base} ({number})"


def clean_name(name: str) -> str:
    """A user-chosen name: trimmed, single-spaced, no control characters, at most 64 chars."""
    cleaned = re.sub(r"[\x00-\x1f\x7f]", "", name)
    return re.sub(r"\s+", " ", cleaned).strip()[:64]
