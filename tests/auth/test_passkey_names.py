"""Passkey names a person can tell apart (#16 item 8)."""

from __future__ import annotations

from auth.names import passkey_name

CHROME_ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Mobile Safari/537.36"
)
FIREFOX_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
GOOGLE_PASSWORD_MANAGER = "ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4"
ZERO = "00000000-0000-0000-0000-000000000000"


def test_the_name_says_the_provider_and_the_browser_and_system_it_was_made_on() -> None:
    assert (
        passkey_name(GOOGLE_PASSWORD_MANAGER, CHROME_ANDROID)
        == "Google Password Manager · Chrome on Android"
    )
    assert passkey_name(ZERO, FIREFOX_WINDOWS) == "Firefox on Windows"
    assert passkey_name(GOOGLE_PASSWORD_MANAGER, None) == "Google Password Manager"
    assert passkey_name(ZERO, None) == "Passkey"


def test_a_name_the_account_already_has_is_numbered() -> None:
    taken = {"Firefox on Windows", "Firefox on Windows (2)"}
    assert passkey_name(ZERO, FIREFOX_WINDOWS, taken) == "Firefox on Windows (3)"
    assert passkey_name(ZERO, CHROME_ANDROID, taken) == "Chrome on Android"
