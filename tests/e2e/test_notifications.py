"""Reminders in the PWA: the settings page, preferences round-trip, the service worker's push.

PushManager.subscribe cannot work here (TESTING.md "Real browser"): the server side of push is
tested against web-push-testing elsewhere; here the worker's push handler gets a synthetic push
through the DevTools protocol (ServiceWorker.deliverPushMessage).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.e2e.conftest import LiveServer

pytestmark = pytest.mark.e2e

SHOTS = Path(tempfile.gettempdir())


def test_preferences_round_trip_and_opt_in_waits_for_a_tap(
    live_server: LiveServer, signed_in: str, page: Page
) -> None:
    page.goto(f"{live_server.origin}/#/notifications")
    expect(page.get_by_role("heading", level=1)).to_have_text("Deadline reminders")
    # Never asked on load: the permission prompt comes only from the button.
    assert page.evaluate("() => Notification.permission") == "default"
    expect(page.get_by_role("button", name="Turn on reminders on this device")).to_be_visible()
    # The profile's zone is preselected (#16 item 5), the device's only offered.
    expect(page.get_by_label("Time zone", exact=True)).to_have_value("")
    expect(page.get_by_label("Time zone", exact=True).locator("option:checked")).to_have_text(
        "Same as my profile (Asia/Jakarta)"
    )
    expect(page.get_by_role("button", name="Use this device's: Europe/Amsterdam")).to_be_visible()

    page.get_by_label("Documents to send").uncheck()
    page.get_by_label("Days before the deadline").fill("10, 2")
    page.get_by_label("Quiet from").fill("21:30")
    page.get_by_label("Time zone", exact=True).select_option("America/Sao_Paulo")
    page.get_by_label("Language of reminders").select_option("nl")
    page.get_by_role("button", name="Save preferences").click()
    expect(page.locator("#live")).to_have_text("Preferences saved.")
    page.screenshot(path=SHOTS / "notifications.png", full_page=True)

    page.reload()
    expect(page.get_by_label("Days before the deadline")).to_have_value("10, 2")
    expect(page.get_by_label("Time zone", exact=True)).to_have_value("America/Sao_Paulo")
    expect(page.get_by_label("Quiet from")).to_have_value("21:30")
    expect(page.get_by_label("Documents to send")).not_to_be_checked()
    expect(page.get_by_label("Payments")).to_be_checked()
    expect(page.get_by_label("Language of reminders")).to_have_value("nl")


def test_service_worker_shows_a_notification_for_a_push(
    live_server: LiveServer, signed_in: str, context: BrowserContext, page: Page
) -> None:
    context.grant_permissions(["notifications"], origin=live_server.origin)
    cdp = context.new_cdp_session(page)
    registrations: list[dict[str, Any]] = []
    cdp.on(
        "ServiceWorker.workerRegistrationUpdated",
        lambda event: registrations.extend(event["registrations"]),
    )
    cdp.send("ServiceWorker.enable")
    page.goto(f"{live_server.origin}/")
    page.evaluate("async () => { await navigator.serviceWorker.ready; }")
    deadline = time.monotonic() + 10
    while not registrations and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    registration_id = next(
        r["registrationId"] for r in registrations if r["scopeURL"].startswith(live_server.origin)
    )
    payload = {
        "v": 1,
        "type": "reminder",
        "title": "Income statement due in 3 days",
        "body": "Send it before 1 April.",
        "lang": "en",
        "url": "/#deadlines",
        "tag": "deadline-42",
    }
    cdp.send(
        "ServiceWorker.deliverPushMessage",
        {
            "origin": live_server.origin,
            "registrationId": registration_id,
            "data": json.dumps(payload),
        },
    )
    shown = page.evaluate(
        """async () => {
            const registration = await navigator.serviceWorker.ready;
            for (let i = 0; i < 50; i += 1) {
                const found = await registration.getNotifications();
                if (found.length) {
                    return found.map(
                        (n) => ({ title: n.title, body: n.body, tag: n.tag, data: n.data }),
                    );
                }
                await new Promise((resolve) => setTimeout(resolve, 100));
            }
            return [];
        }"""
    )
    assert shown == [
        {
            "title": payload["title"],
            "body": payload["body"],
            "tag": "deadline-42",
            "data": {"url": "/#deadlines"},
        }
    ]
