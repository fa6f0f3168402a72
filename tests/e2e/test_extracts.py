"""Diploma extracts in the PWA: create one, keep it offline, verify it offline, share it."""

from __future__ import annotations

import asyncio
import base64
import json
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from api.database import create_engine, create_session_factory
from api.es256 import P256_ORDER
from extracts.keys import load_database_ring
from tests.e2e.conftest import LiveServer

pytestmark = pytest.mark.e2e

SHOTS = Path(tempfile.gettempdir())
VALID = "Valid: issued by DUO and not changed"
TAMPERED = "Not genuine: the content has been changed (tampered)"


def wait_for_service_worker(page: Page) -> None:
    page.evaluate("async () => { await navigator.serviceWorker.ready; }")
    if page.evaluate("() => navigator.serviceWorker.controller === null"):
        page.reload()
        page.evaluate("async () => { await navigator.serviceWorker.ready; }")
    assert page.evaluate("() => navigator.serviceWorker.controller !== null")


def tamper(jws: str) -> str:
    """Change one character in the middle of the payload (still valid base64url)."""
    header, payload, signature = jws.split(".")
    middle = len(payload) // 2
    swapped = "B" if payload[middle] != "B" else "C"
    return f"{header}.{payload[:middle]}{swapped}{payload[middle + 1 :]}.{signature}"


def test_extract_is_created_kept_offline_and_verifies_offline(
    live_server: LiveServer, signed_in: str, context: BrowserContext, page: Page
) -> None:
    page.goto(f"{live_server.origin}/#/extracts")
    expect(page.get_by_role("heading", level=1)).to_have_text("Diploma extracts")
    wait_for_service_worker(page)
    new = page.locator("#extract-new li").first
    new.get_by_label("Language of the extract").select_option("nl")
    new.get_by_role("button", name="Get extract:").click()
    expect(page.locator("#live")).to_have_text("Extract created and saved on this device.")
    item = page.locator("#extracts li").first
    expect(item).to_contain_text("Nederlands, version 1")
    expect(item).to_contain_text("Available offline")
    page.screenshot(path=SHOTS / "extracts.png", full_page=True)

    # Online: the device and the server agree.
    item.get_by_role("link").click()
    verdict = page.locator("#verdict")
    expect(verdict.locator(".verdict")).to_have_text(VALID)
    expect(verdict).to_contain_text("DUO's server gives the same result.")
    expect(verdict).to_contain_text("Revocation list last refreshed")
    extract_url = page.url
    jws = page.evaluate(
        """async () => {
            const cache = await caches.open("duo-data-extracts");
            for (const request of await cache.keys()) {
                if (/\\/extracts\\/[0-9a-f-]{36}$/.test(new URL(request.url).pathname)) {
                    return (await (await cache.match(request)).json()).jws;
                }
            }
            return null;
        }"""
    )
    assert isinstance(jws, str)
    assert jws.count(".") == 2

    # Share: a link with QR code, listed; the server logs when a verifier opens it.
    page.get_by_label("Link valid for").select_option("7")
    page.get_by_role("button", name="Make a link").click()
    link = page.get_by_label("Link to share").input_value()
    expect(page.locator("#share img.qr")).to_be_visible()
    page.screenshot(path=SHOTS / "extract-share.png", full_page=True)
    accept = {"Accept": "application/json"}
    opened = httpx.get(link.replace("localhost", "127.0.0.1"), headers=accept)
    assert opened.status_code == 200, opened.text
    page.reload()
    links = page.locator("#share li.share-link")
    expect(links).to_have_count(1)
    expect(links.first).to_contain_text("Active")
    expect(links.first.locator("table tbody tr")).to_have_count(1)
    links.first.get_by_role("button", name="Withdraw link").click()
    expect(links.first).to_contain_text("Withdrawn")

    # Offline: the extract, its printable page and its verification still work.
    context.set_offline(True)
    page.goto(extract_url)
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Bachelor")
    expect(verdict.locator(".verdict")).to_have_text(VALID)
    expect(verdict).to_contain_text("Checked on this device only")
    expect(verdict).to_contain_text("Ayu Lestari")
    page.screenshot(path=SHOTS / "extract-offline.png", full_page=True)
    html = context.new_page()
    html.goto(page.get_by_role("link", name="Printable extract").get_attribute("href") or "")
    expect(html.locator("body")).to_contain_text("Ayu Lestari")
    html.close()

    # The public verification page, offline: the QR code's link, and a tampered copy.
    page.goto(f"{live_server.origin}/#/verify/{jws}")
    expect(page.locator("#verdict .verdict")).to_have_text(VALID)
    page.screenshot(path=SHOTS / "verify-valid.png", full_page=True)
    page.goto(f"{live_server.origin}/#/verify")
    page.get_by_label("Signed extract").fill(tamper(jws))
    page.get_by_role("button", name="Check", exact=True).click()
    expect(page.locator("#verdict .verdict")).to_have_text(TAMPERED)
    page.screenshot(path=SHOTS / "verify-tampered.png", full_page=True)
    context.set_offline(False)


def test_verification_page_works_without_an_account(live_server: LiveServer, page: Page) -> None:
    page.goto(f"{live_server.origin}/#/verify")
    expect(page.get_by_role("heading", level=1)).to_have_text("Check an extract")
    page.get_by_label("Signed extract").fill("not a signed extract")
    page.get_by_role("button", name="Check", exact=True).click()
    expect(page.locator("#verdict .verdict")).to_have_text("This is not a DUO extract")
    expect(page.get_by_role("button", name="Sign out")).to_be_hidden()


def _server_ring(database_url: str) -> Any:
    """The live server's own issuer keys (development keeps them in its database)."""

    async def load() -> Any:
        engine = create_engine(database_url)
        try:
            async with create_session_factory(engine)() as db:
                return await load_database_ring(db)
        finally:
            await engine.dispose()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, load()).result()


def test_the_device_verdict_checks_issuer_time_and_signature_form(
    live_server: LiveServer, page: Page
) -> None:
    """verify-core.js (offline verification) keeps the server's rules: the extract's issuer is
    its status list's, `nbf` ahead is not valid yet, NumericDates only, and the high-S twin of
    a signature is not DUO's text."""
    page.goto(f"{live_server.origin}/#/verify")
    status = httpx.get(f"{live_server.origin.replace('localhost', '127.0.0.1')}/extracts/status/1")
    ring = _server_ring(live_server.database_url)
    now = int(time.time())
    claims = {
        "iss": live_server.origin,
        "jti": "00000000-0000-4000-8000-000000000001",
        "iat": now,
        "holder": {"name": "Test Holder"},
        "diploma": {"programme": "Test"},
        "credentialStatus": {
            "statusListCredential": f"{live_server.origin}/extracts/status/1",
            "statusListIndex": "131071",
        },
    }
    assert status.status_code == 200

    def signed(**changes: Any) -> str:
        token: str = ring.sign(json.dumps({**claims, **changes}).encode(), typ="duo-extract+jwt")
        return token

    def on_device(token: str) -> str:
        result: str = page.evaluate(
            """async (token) => {
                const core = await import("/js/verify-core.js");
                return (await core.verifyOnDevice(token, { online: true })).result;
            }""",
            token,
        )
        return result

    genuine = signed()
    header, payload, signature = genuine.split(".")
    raw = base64.urlsafe_b64decode(signature + "==")
    s = int.from_bytes(raw[32:], "big")
    twin = raw[:32] + (P256_ORDER - s).to_bytes(32, "big")
    high_s = f"{header}.{payload}.{base64.urlsafe_b64encode(twin).rstrip(b'=').decode()}"

    assert on_device(genuine) == "valid"
    assert on_device(signed(iss="https://other-issuer.example")) == "unknown_issuer"
    assert on_device(signed(nbf=now + 3600)) == "not_yet_valid"
    assert on_device(signed(exp="never")) == "tampered"
    assert on_device(high_s) == "tampered"
