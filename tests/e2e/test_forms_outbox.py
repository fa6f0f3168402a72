"""Forms in the PWA: filled and sent offline, kept across a reload, delivered exactly once."""

from __future__ import annotations

import struct
import tempfile
import zlib
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.e2e.conftest import LiveServer

pytestmark = pytest.mark.e2e

SHOTS = Path(tempfile.gettempdir())
COUNT_SUBMISSIONS = """async () => {
    const { query } = await import("/js/api.js");
    const data = await query("FormsSubmissions", { first: 100 });
    return data.viewer.submissions.nodes.map((s) => s.id);
}"""


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
    open_form(page, "Ask DUO a question")
    page.get_by_label("Topic").select_option("repayment")
    page.get_by_label("Subject", exact=True).fill("Repayment abroad")
    page.get_by_label("Your question").fill("How do I pay from Indonesia?")
    page.locator("input[type=file]").set_input_files(
        {"name": "evidence.png", "mimeType": "image/png", "buffer": tiny_png()}
    )
    expect(page.get_by_role("button", name="Remove evidence.png")).to_be_visible()
    page.screenshot(path=SHOTS / "form-question.png", full_page=True)
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#live")).to_contain_text("You are offline")
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
