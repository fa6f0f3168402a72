"""A DUO administrator imports a register file in Chromium: the page sends the file, follows
the background import to the end and downloads the report of rejected lines (issue #13, §5)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, FilePayload, Page, expect

from staff.models import Role
from tests.e2e.authenticator import VirtualAuthenticator
from tests.e2e.conftest import LiveServer, watch_for_problems
from tests.e2e.test_staff import invite_link
from tests.records.import_support import deadline, jsonl, person

pytestmark = pytest.mark.e2e


@pytest.fixture
def desk(browser: Browser) -> Iterator[Page]:
    context: BrowserContext = browser.new_context(
        viewport={"width": 1280, "height": 900}, locale="nl-NL", accept_downloads=True
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    problems = watch_for_problems(page)
    VirtualAuthenticator.attach(page)
    yield page
    context.close()
    assert problems == [], problems


def test_an_admin_uploads_a_register_file_and_downloads_the_report(
    live_server: LiveServer, desk: Page, tmp_path: Path
) -> None:
    page = desk
    page.goto(invite_link(live_server, "Ilse Kok", {Role.ADMIN}))
    page.get_by_role("button", name="Mijn passkey maken").click()
    expect(page.get_by_text("Aangemeld als Ilse Kok")).to_be_visible()
    page.get_by_role("navigation", name="Onderdelen").get_by_role(
        "link", name="Gegevensimport"
    ).click()

    page.get_by_role("button", name="Uploaden en importeren").click()
    expect(page.get_by_role("alert")).to_contain_text("Kies een bestand")

    body = jsonl(person("E2EIMP0001"), b"{oops", deadline("E2EIMP0001"))
    page.get_by_label("Bestand", exact=True).set_input_files(
        files=[FilePayload(name="register.jsonl", mimeType="application/x-ndjson", buffer=body)]
    )
    page.get_by_role("button", name="Uploaden en importeren").click()
    expect(page.get_by_role("heading", name="Import van register.jsonl")).to_be_visible()

    deadline_at = time.monotonic() + 20
    while page.locator("#import-status").inner_text() != "Klaar":
        assert time.monotonic() < deadline_at, page.locator("#import-status").inner_text()
        page.wait_for_timeout(300)
        page.get_by_role("link", name="Vernieuwen").click()
    expect(page.get_by_role("row", name="Personen")).to_contain_text("1")
    expect(page.get_by_role("cell", name="INVALID_JSON")).to_be_visible()

    with page.expect_download() as download:
        page.get_by_role("link", name="Rapport downloaden (CSV)").click()
    saved = tmp_path / "report.csv"
    download.value.save_as(saved)
    lines = saved.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "line,type,field,code,detail"
    assert lines[1].startswith("2,,,INVALID_JSON,")
