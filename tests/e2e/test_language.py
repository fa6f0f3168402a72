"""One language everywhere (#16 item 1), in Chromium: choosing Nederlands makes the server's
texts on the dashboard and in the inbox Dutch, and another device of the person follows."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import LiveServer, new_phone
from tests.records.test_one_language import DUTCH_ONLY, ENGLISH_ONLY

pytestmark = pytest.mark.e2e

DEMO_NAME = "Ayu Lestari"


def server_texts(page: Page) -> str:
    return page.locator("#deadlines").inner_text() + "\n" + page.locator("#inbox").inner_text()


def test_choosing_dutch_makes_the_dashboard_and_inbox_dutch_on_every_device(
    live_server: LiveServer, signed_in: str, browser: Browser, page: Page
) -> None:
    page.goto(f"{live_server.origin}/")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Hello, {DEMO_NAME}")
    expect(page.locator("#inbox")).to_contain_text("Welcome to DUO Abroad")
    assert [s for s in DUTCH_ONLY if s in server_texts(page)] == []

    page.select_option("#language", "nl")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Hallo, {DEMO_NAME}")
    expect(page.locator("#inbox")).to_contain_text("Welkom bij DUO Abroad")
    expect(page.locator("#inbox")).not_to_contain_text("Welcome to DUO Abroad")
    dutch = server_texts(page)
    assert [s for s in ENGLISH_ONLY if s in dutch] == [], dutch

    # Stored on the profile: another browser of the person, English by its locale, follows.
    other = new_phone(browser, locale="en-GB")
    try:
        other.add_cookies(
            [
                {
                    "name": live_server.cookie_name,
                    "value": signed_in,
                    "domain": "localhost",
                    "path": "/",
                    "httpOnly": True,
                    "sameSite": "Lax",
                }
            ]
        )
        second = other.new_page()
        second.goto(f"{live_server.origin}/")
        expect(second.get_by_role("heading", level=1)).to_have_text(f"Hallo, {DEMO_NAME}")
        expect(second.locator("#inbox")).to_contain_text("Welkom bij DUO Abroad")
        assert second.locator("#language").input_value() == "nl"
    finally:
        other.close()
