"""Forms in the PWA: filled and sent offline, kept across a reload, delivered exactly once."""

from __future__ import annotations

import asyncio
import struct
import tempfile
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from uuid import UUID

import pytest
from playwright.sync_api import BrowserContext, Page, expect
from sqlalchemy import func, select

from api.database import create_engine
from forms.models import FormSubmission
from tests.e2e.conftest import LiveServer, watch_for_problems

pytestmark = pytest.mark.e2e

SHOTS = Path(tempfile.gettempdir())
COUNT_SUBMISSIONS = """async () => {
    const { query } = await import("/js/api.js");
    const data = await query("FormsSubmissions", { first: 100 });
    return data.viewer.submissions.nodes.map((s) => s.id);
}"""
LIST_CLIENT_IDS = """async () => {
    const { listOutbox } = await import("/js/outbox.js");
    return (await listOutbox()).map((entry) => entry.clientId);
}"""
# Evaluated in the service worker.
COUNT_WINDOWS = """async () =>
    (await self.clients.matchAll({ type: "window", includeUncontrolled: true })).length"""
LANGUAGE_SHARED = """async () =>
    (await (await caches.match("/prefs/language"))?.text()) ?? null"""
NOTIFICATION_TITLES = """async () =>
    (await self.registration.getNotifications({ tag: "duo-outbox" })).map((n) => n.title)"""


def tiny_png() -> bytes:
    """A valid 1x1 PNG (the server checks the signature and the IEND chunk)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def wait_for_service_worker(page: Page) -> None:
    page.evaluate("async () => { await navigator.serviceWorker.ready; }")
    if page.evaluate("() => navigator.serviceWorker.controller === null"):
        page.reload()
        page.evaluate("async () => { await navigator.serviceWorker.ready; }")
    assert page.evaluate("() => navigator.serviceWorker.controller !== null")


def open_form(page: Page, name: str) -> None:
    page.locator("#catalogue").get_by_role("link", name=name).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(name)


def send_question_offline(page: Page, subject: str, question: str, shot: str | None = None) -> None:
    """Fill "Ask DUO a question" with a photo as evidence and press Send, while offline."""
    open_form(page, "Ask DUO a question")
    page.get_by_label("Topic").select_option("repayment")
    page.get_by_label("Subject", exact=True).fill(subject)
    page.get_by_label("Your question").fill(question)
    page.locator("input[type=file]").set_input_files(
        {"name": "evidence.png", "mimeType": "image/png", "buffer": tiny_png()}
    )
    expect(page.get_by_role("button", name="Remove evidence.png")).to_be_visible()
    if shot:
        page.screenshot(path=SHOTS / shot, full_page=True)
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#live")).to_contain_text("You are offline")


def test_forms_sent_offline_arrive_exactly_once_with_receipts(
    live_server: LiveServer, signed_in: str, context: BrowserContext, page: Page
) -> None:
    page.goto(f"{live_server.origin}/#/forms")
    expect(page.get_by_role("heading", level=1)).to_have_text("Forms")
    expect(page.locator("#catalogue li")).not_to_have_count(0)
    wait_for_service_worker(page)
    expect(page.locator("#catalogue li")).not_to_have_count(0)
    before = len(page.evaluate(COUNT_SUBMISSIONS))

    context.set_offline(True)
    # 1: a question with a photo as evidence (uploaded separately before the submission).
    send_question_offline(
        page, "Repayment abroad", "How do I pay from Indonesia?", shot="form-question.png"
    )
    # 2: a new address abroad.
    open_form(page, page.locator("#catalogue a", has_text="address").first.inner_text())
    page.locator("#f-addressLine1").fill("Jalan Sudirman 1")
    page.locator("#f-city").fill("Jakarta")
    page.locator("#f-country").fill("id")
    page.locator("#f-movedOn").fill("2026-10-01")
    page.get_by_role("button", name="Send").click()
    # 3: one the server will refuse (an address in the Netherlands): it must not block the others.
    open_form(page, page.locator("#catalogue a", has_text="address").first.inner_text())
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#f-city")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#f-addressLine1")).to_be_focused()
    page.locator("#f-addressLine1").fill("Damrak 1")
    page.locator("#f-city").fill("Amsterdam")
    page.locator("#f-country").fill("NL")
    page.locator("#f-movedOn").fill("2026-10-01")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#outbox li.outbox-entry")).to_have_count(3)
    # Auto-retrying: an entry may show "sending" for a moment while the offline attempt fails.
    expect(page.locator("#outbox li.outbox-entry[data-state='queued']")).to_have_count(3)

    # A reload while offline: still queued (IndexedDB), nothing lost.
    page.reload()
    expect(page.locator("#outbox li.outbox-entry")).to_have_count(3)
    # Auto-retrying: an entry may show "sending" for a moment while the offline attempt fails.
    expect(page.locator("#outbox li.outbox-entry[data-state='queued']")).to_have_count(3)
    expect(page.locator("#outbox")).to_contain_text("Waiting to send")
    page.screenshot(path=SHOTS / "forms-queued.png", full_page=True)

    # Online: the outbox replays by itself (online event / Background Sync).
    context.set_offline(False)
    received = page.locator("#outbox li.outbox-entry[data-state='received']")
    expect(received).to_have_count(2, timeout=20_000)
    attention = page.locator("#outbox li.outbox-entry[data-state='attention']")
    expect(attention).to_have_count(1)
    expect(attention).to_contain_text("outside the Netherlands")
    expect(received.first.locator("details.receipt")).to_be_attached()
    received.first.locator("summary").click()
    expect(received.first).to_contain_text("Submission number")
    page.screenshot(path=SHOTS / "forms-received.png", full_page=True)

    # Exactly once on the server, also after a second replay ("Send now") and a reload.
    after = page.evaluate(COUNT_SUBMISSIONS)
    assert len(after) == before + 2
    page.reload()
    expect(received).to_have_count(2)
    page.evaluate("async () => (await import('/js/outbox.js')).replay()")
    assert len(page.evaluate(COUNT_SUBMISSIONS)) == before + 2

    # Needs attention: fixed at the right field, then sent under a new client id.
    attention.get_by_role("button", name="Correct and send again").click()
    expect(page.locator("#f-country")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#f-country-error")).to_contain_text("outside the Netherlands")
    page.screenshot(path=SHOTS / "form-attention.png", full_page=True)
    page.locator("#f-country").fill("BE")
    page.get_by_role("button", name="Send").click()
    expect(received).to_have_count(3, timeout=20_000)
    assert len(page.evaluate(COUNT_SUBMISSIONS)) == before + 3


def test_a_form_queued_offline_is_sent_by_the_service_worker_with_the_app_closed(
    live_server: LiveServer, signed_in: str, context: BrowserContext, page: Page
) -> None:
    """Background Sync with no window open: the module worker replays the outbox itself."""
    context.grant_permissions(["notifications"], origin=live_server.origin)
    page.goto(f"{live_server.origin}/#/forms")
    expect(page.locator("#catalogue li")).not_to_have_count(0)
    wait_for_service_worker(page)
    script = page.evaluate("() => navigator.serviceWorker.controller.scriptURL")
    assert script == f"{live_server.origin}/sw-module.js"
    before = len(page.evaluate(COUNT_SUBMISSIONS))

    context.set_offline(True)
    send_question_offline(page, "Sent while the app was closed", "Does this arrive in time?")
    expect(page.locator("#outbox li.outbox-entry[data-state='queued']")).to_have_count(1)
    [client_id] = page.evaluate(LIST_CLIENT_IDS)
    assert submissions_with_client_id(live_server, client_id) == 0

    # The person reads the app in Dutch on an English phone: the worker must follow the app.
    page.select_option("#language", "nl")
    for _ in range(50):
        if page.evaluate(LANGUAGE_SHARED) == "nl":
            break
        page.wait_for_timeout(100)
    assert page.evaluate(LANGUAGE_SHARED) == "nl"

    # Close the app. about:blank (no client of the app's origin) keeps the context alive and
    # gives a DevTools session to fire the sync event as the browser does when back online.
    blank = context.new_page()
    devtools = context.new_cdp_session(blank)
    scopes: dict[str, str] = {}
    devtools.on(
        "ServiceWorker.workerRegistrationUpdated",
        lambda event: scopes.update(
            {r["scopeURL"]: r["registrationId"] for r in event["registrations"]}
        ),
    )
    devtools.send("ServiceWorker.enable")
    page.close()
    [worker] = [w for w in context.service_workers if w.url.endswith("/sw-module.js")]
    assert worker.evaluate(COUNT_WINDOWS) == 0

    context.set_offline(False)
    deadline = time.monotonic() + 10
    while f"{live_server.origin}/" not in scopes and time.monotonic() < deadline:
        blank.wait_for_timeout(100)
    devtools.send(
        "ServiceWorker.dispatchSyncEvent",
        {
            "origin": live_server.origin,
            "registrationId": scopes[f"{live_server.origin}/"],
            "tag": "duo-outbox",
            "lastChance": False,
        },
    )
    deadline = time.monotonic() + 20
    while submissions_with_client_id(live_server, client_id) == 0:
        assert time.monotonic() < deadline, "the service worker sent nothing"
        blank.wait_for_timeout(200)
    assert worker.evaluate(COUNT_WINDOWS) == 0, "an app window was open after all"
    # The person is told (notification permission granted above), once, in the app's language.
    assert worker.evaluate(NOTIFICATION_TITLES) == ["Uw formulier is naar DUO verstuurd."]

    # The app, opened afterwards, shows it received with its receipt; nothing is sent again.
    app = context.new_page()
    problems = watch_for_problems(app)
    app.goto(f"{live_server.origin}/#/forms")
    app.select_option("#language", "en")
    received = app.locator("#outbox li.outbox-entry[data-state='received']")
    expect(received).to_have_count(1)
    expect(received).to_have_id(f"entry-{client_id}")
    expect(received).to_contain_text("Received by DUO")
    received.locator("summary").click()
    expect(received).to_contain_text("Submission number")
    assert app.evaluate("async () => (await import('/js/outbox.js')).replay()") == "done"
    assert len(app.evaluate(COUNT_SUBMISSIONS)) == before + 1
    assert submissions_with_client_id(live_server, client_id) == 1
    assert problems == [], problems


def submissions_with_client_id(server: LiveServer, client_id: str) -> int:
    """What the server stored for this outbox entry, read from its database."""

    async def count() -> int:
        engine = create_engine(server.database_url)
        try:
            async with engine.connect() as conn:
                query = select(func.count()).where(FormSubmission.client_id == UUID(client_id))
                return int((await conn.execute(query)).scalar_one())
        finally:
            await engine.dispose()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, count()).result()
