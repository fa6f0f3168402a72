"""The PWA in Chromium: the dashboard, offline after a first visit, sign-out on shared devices."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.e2e.conftest import LiveServer

pytestmark = pytest.mark.e2e

DEMO_NAME = "Ayu Lestari"
SCREENSHOT = Path(tempfile.gettempdir()) / "dashboard.png"


def wait_for_dashboard(page: Page) -> None:
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Hello, {DEMO_NAME}")


def wait_for_service_worker(page: Page) -> None:
    """Wait until the service worker is active and controls the page (reload once if needed)."""
    page.evaluate("async () => { await navigator.serviceWorker.ready; }")
    if page.evaluate("() => navigator.serviceWorker.controller === null"):
        page.reload()
        wait_for_dashboard(page)
    assert page.evaluate("() => navigator.serviceWorker.controller !== null")


def unread_count(page: Page) -> int:
    text = page.locator("#inbox").get_by_text(re.compile(r"\d+ unread")).inner_text()
    match = re.match(r"(\d+) unread", text)
    assert match, text
    return int(match.group(1))


def test_dashboard_shows_own_data_and_still_works_offline(
    live_server: LiveServer, signed_in: str, context: BrowserContext, page: Page
) -> None:
    """After one online visit, an offline reload shows the stored dashboard, marked as such."""
    page.goto(f"{live_server.origin}/")
    wait_for_dashboard(page)
    expect(page.locator("#diplomas details").first).to_contain_text("Bachelor")
    expect(page.locator("#deadlines li").first).to_contain_text("days")
    expect(page.locator("#finance")).to_contain_text("€")
    expect(page.locator("#offline-banner")).to_be_hidden()
    page.screenshot(path=SCREENSHOT, full_page=True)

    # A persisted mutation over POST passes the server's same-origin checks.
    unread = unread_count(page)
    assert unread > 0, "the demo person should have an unread message"
    # The accessible name starts with the visible label (WCAG 2.5.3 label in name).
    mark_read = re.compile(r"^Mark as read: .+$")
    page.locator("#inbox").get_by_role("button", name=mark_read).first.click()
    expect(page.locator("#live")).to_have_text("Message marked as read.")
    assert unread_count(page) == unread - 1

    wait_for_service_worker(page)
    context.set_offline(True)
    page.reload()

    wait_for_dashboard(page)
    banner = page.locator("#offline-banner")
    expect(banner).to_have_attribute("role", "status")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("Offline — last updated")
    expect(page.locator("#diplomas details").first).to_contain_text("Bachelor")
    assert unread_count(page) == unread - 1  # the stored copy includes the change

    # The locales come from the service worker's cache as well.
    page.get_by_label("Language").select_option("nl")
    expect(page.get_by_role("heading", level=2, name="Studiefinanciering")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "nl")
    expect(banner).to_contain_text("laatst bijgewerkt")

    # Back online, the app fetches fresh data by itself and drops the banner.
    context.set_offline(False)
    expect(banner).to_be_hidden()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Hallo, {DEMO_NAME}")
    # The choice made offline reached the profile: the server's texts are Dutch now too.
    expect(page.locator("#inbox")).to_contain_text("Welkom bij DUO Abroad")

    # Back to English: the profile is shared with this module's other tests.
    page.select_option("#language", "en")
    wait_for_dashboard(page)
    expect(page.locator("#inbox")).to_contain_text("Welcome to DUO Abroad")


def test_without_a_session_the_sign_in_screen_shows(live_server: LiveServer, page: Page) -> None:
    page.goto(f"{live_server.origin}/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    expect(page.locator("section#signin")).to_be_attached()
    expect(page.get_by_role("button", name="Sign out")).to_be_hidden()
    expect(page.get_by_text(DEMO_NAME)).to_have_count(0)


def test_after_sign_out_nothing_personal_is_left_offline(
    live_server: LiveServer, signed_in: str, context: BrowserContext, page: Page
) -> None:
    """Shared devices: sign-out ends the session and wipes every cached copy of the data."""
    page.goto(f"{live_server.origin}/")
    wait_for_dashboard(page)
    wait_for_service_worker(page)

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    expect(page.locator("#live")).to_contain_text("You have been signed out")
    assert live_server.cookie_name not in {c["name"] for c in context.cookies()}
    left = page.evaluate(
        """async () => ({
            databases: (await indexedDB.databases()).map((d) => d.name),
            caches: await caches.keys(),
            preferences: await (async () => {
                const cache = await caches.open("duo-prefs");
                return (await cache.keys()).map((r) => new URL(r.url).pathname);
            })(),
        })"""
    )
    assert left["databases"] == []
    # The app's files, and the display language for the service worker: nothing personal.
    kept = [n for n in left["caches"] if not n.startswith("duo-shell-")]
    assert kept in ([], ["duo-prefs"]), left["caches"]
    assert left["preferences"] in ([], ["/prefs/language"])

    context.set_offline(True)
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_have_text("You are offline")
    assert DEMO_NAME not in page.content()
    assert "DA0000001" not in page.content()

    # The server ended the session too: the old cookie no longer signs anyone in.
    context.set_offline(False)
    context.add_cookies(
        [{"name": live_server.cookie_name, "value": signed_in, "url": live_server.origin}]
    )
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    expect(page.get_by_text(DEMO_NAME)).to_have_count(0)
