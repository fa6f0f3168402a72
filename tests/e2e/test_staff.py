"""DUO staff in Chromium with CDP virtual authenticators (issue #13).

A staff member enrols through the one-time invite link and signs in with a passkey; a form a
person submitted with an attachment is opened, its attachment downloaded and the form
rejected with a reason; the person's inbox shows the rejection and their activity the staff
view. Every staff page is checked with axe-core (0 serious or critical violations).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import struct
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from api.database import create_engine, create_session_factory
from api.persisted import OPERATIONS_DIR
from api.settings import PROJECT_ROOT
from auth.audit import RequestMeta
from staff import accounts
from staff.models import Role
from tests.e2e.authenticator import VirtualAuthenticator
from tests.e2e.conftest import LiveServer, _in_thread, watch_for_problems

pytestmark = pytest.mark.e2e

AXE = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"


def axe_serious(page: Page) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now (WCAG 2.1 AA).

    Injected through DevTools' evaluate, which the page's CSP does not govern: the page itself
    still loads no script but its own.
    """
    if not AXE.exists():
        reason = f"{AXE} is missing: run `npm ci` (scripts/test-prereqs.sh does)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    page.evaluate(AXE.read_text() + "\n;undefined")
    results: dict[str, Any] = page.evaluate(
        """axe.run(document, {
             runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
             resultTypes: ["violations"],
           })"""
    )
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']]}"
        for v in results["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def invite_link(server: LiveServer, name: str, roles: set[Role]) -> str:
    """What an operator's `duo-abroad staff invite` prints."""

    async def run() -> str:
        engine = create_engine(server.database_url)
        try:
            async with create_session_factory(engine)() as db:
                issued = await accounts.invite(
                    db,
                    name=name,
                    roles=frozenset(roles),
                    origin=server.origin,
                    by=None,
                    meta=RequestMeta(),
                )
                await db.commit()
                return issued.url
        finally:
            await engine.dispose()

    return _in_thread(asyncio.run, run())


@pytest.fixture
def desk(browser: Browser) -> Iterator[tuple[Page, VirtualAuthenticator]]:
    """A staff member's desktop browser with a platform authenticator."""
    context: BrowserContext = browser.new_context(
        viewport={"width": 1280, "height": 900}, locale="nl-NL"
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    problems = watch_for_problems(page)
    yield page, VirtualAuthenticator.attach(page)
    context.close()
    assert problems == [], problems


def test_a_staff_member_enrols_with_the_invite_link_and_signs_in(
    live_server: LiveServer, desk: tuple[Page, VirtualAuthenticator]
) -> None:
    page, authenticator = desk
    link = invite_link(live_server, "Fenna Mulder", {Role.FORMS, Role.HELPDESK})

    page.goto(link)
    expect(page.get_by_role("heading", name="Uw passkey als medewerker instellen")).to_be_visible()
    assert "#" not in page.url  # the token left the address bar
    page.get_by_role("button", name="Mijn passkey maken").click()

    expect(page.get_by_text("Aangemeld als Fenna Mulder")).to_be_visible()
    assert len(authenticator.credentials()) == 1
    sections = page.get_by_role("navigation", name="Onderdelen")
    expect(sections.get_by_role("link", name="Formulieren")).to_be_visible()
    expect(sections.get_by_role("link", name="Medewerkers")).to_have_count(0)

    page.get_by_role("button", name="Afmelden").click()
    expect(page.get_by_role("heading", name="Aanmelden")).to_be_visible()
    page.goto(f"{live_server.origin}/staff/")
    expect(page.get_by_role("heading", name="Meld u aan om verder te gaan")).to_be_visible()
    page.get_by_role("link", name="Naar aanmelden").click()
    page.get_by_role("button", name="Aanmelden met een passkey").click()
    expect(page.get_by_text("Aangemeld als Fenna Mulder")).to_be_visible()

    page.get_by_role("link", name="English").click()
    expect(page.get_by_text("Signed in as Fenna Mulder")).to_be_visible()


def test_a_used_invite_link_says_so(
    live_server: LiveServer, desk: tuple[Page, VirtualAuthenticator], browser: Browser
) -> None:
    page, _ = desk
    link = invite_link(live_server, "Gijs Bos", {Role.AUDITOR})
    page.goto(link)
    page.get_by_role("button", name="Mijn passkey maken").click()
    expect(page.get_by_text("Aangemeld als Gijs Bos")).to_be_visible()

    other = browser.new_context(locale="en-GB")
    try:
        second = other.new_page()
        VirtualAuthenticator.attach(second)
        second.goto(link)
        second.get_by_role("button").filter(has_text="passkey").first.click()
        expect(second.get_by_role("status")).to_contain_text("not valid any more")
    finally:
        other.close()


def _png(padding: int) -> bytes:
    """A valid PNG (IHDR … IEND), what a phone's photo of a payslip is to the type check."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"tEXt", b"Comment\x00" + b"x" * padding)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
        + chunk(b"IEND", b"")
    )


def person_submits_income_statement(server: LiveServer, token: str, evidence: bytes) -> str:
    """The person's app: a resumable upload, then the persisted SubmitForm operation."""
    document = (OPERATIONS_DIR / "SubmitForm.graphql").read_text()
    with httpx.Client(base_url=server.origin, cookies={server.cookie_name: token}) as app:
        created = app.post(
            "/forms/attachments",
            json={
                "filename": "payslip-2025.png",
                "size": len(evidence),
                "sha256": hashlib.sha256(evidence).hexdigest(),
            },
        )
        assert created.status_code == 201, created.text
        attachment = created.json()["id"]
        sent = app.put(
            f"/forms/attachments/{attachment}/chunks",
            params={"offset": 0},
            content=evidence,
            headers={"content-type": "application/octet-stream"},
        )
        assert sent.status_code == 200, sent.text
        assert app.post(f"/forms/attachments/{attachment}/complete", json={}).status_code == 200
        client_id = str(uuid.uuid4())
        answer = app.post(
            "/graphql",
            json={
                "extensions": {
                    "persistedQuery": {
                        "version": 1,
                        "sha256Hash": hashlib.sha256(document.encode()).hexdigest(),
                    }
                },
                "variables": {
                    "input": {
                        "clientId": client_id,
                        "formId": "income-statement",
                        "formVersion": 1,
                        "content": {
                            "year": 2025,
                            "country": "ID",
                            "incomeType": "employment",
                            "income": 96000000,
                            "currency": "IDR",
                            "evidence": [attachment],
                        },
                    }
                },
            },
        )
        assert answer.json()["data"]["submitForm"]["status"] == "ACCEPTED", answer.text
        return client_id


def test_a_submitted_form_is_opened_downloaded_and_rejected_and_the_person_sees_it(
    live_server: LiveServer,
    desk: tuple[Page, VirtualAuthenticator],
    browser: Browser,
    tmp_path: Path,
) -> None:
    evidence = _png(2048)
    client_id = person_submits_income_statement(
        live_server, live_server.new_session_token(), evidence
    )
    page, _ = desk
    page.goto(invite_link(live_server, "Hanna Kuipers", {Role.FORMS}))
    page.get_by_role("button", name="Mijn passkey maken").click()
    expect(page.get_by_text("Aangemeld als Hanna Kuipers")).to_be_visible()
    assert axe_serious(page) == []

    page.get_by_role("navigation", name="Onderdelen").get_by_role(
        "link", name="Formulieren"
    ).click()
    expect(page.get_by_role("heading", name="Werkvoorraad formulieren")).to_be_visible()
    assert "Lestari" not in page.content()  # the queue names no one
    assert axe_serious(page) == []
    row = page.get_by_role("row").filter(has_text=client_id[:8])
    row.get_by_role("button", name="Openen").click()

    expect(page.get_by_text("Ayu Lestari")).to_be_visible()
    expect(page.get_by_text("Belangrijkste bron van inkomen")).to_be_visible()
    expect(page.get_by_text("Loondienst")).to_be_visible()
    expect(page.get_by_text("door DUO ondertekend, klopt met deze inhoud")).to_be_visible()
    expect(page.get_by_text("U behandelt dit formulier tot")).to_be_visible()
    assert axe_serious(page) == []
    page.get_by_role("link", name="Engels").click()
    expect(page.get_by_text("Main source of income")).to_be_visible()

    with page.expect_download() as downloading:
        page.get_by_role("link", name="payslip-2025.png").click()
    download = downloading.value
    assert download.suggested_filename == "payslip-2025.png"
    saved = tmp_path / "payslip.png"
    download.save_as(saved)
    assert saved.read_bytes() == evidence

    page.get_by_role("button", name="Besluit opslaan").click()  # nothing chosen yet
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("Kies verwerkt of afgewezen.")
    expect(summary).to_be_focused()
    assert axe_serious(page) == []
    page.get_by_label("Afgewezen").check()
    page.get_by_label("Reden (verplicht bij afwijzen; de persoon leest die)").fill(
        "The payslip does not show the 2025 total. Please add your annual tax statement."
    )
    page.get_by_role("button", name="Besluit opslaan").click()
    expect(page.get_by_role("status")).to_contain_text("Het formulier is afgewezen")

    person = browser.new_context(locale="en-GB", viewport={"width": 390, "height": 844})
    try:
        person.add_cookies(
            [
                {
                    "name": live_server.cookie_name,
                    "value": live_server.new_session_token(),
                    "domain": "localhost",
                    "path": "/",
                    "httpOnly": True,
                    "sameSite": "Lax",
                }
            ]
        )
        phone = person.new_page()
        problems = watch_for_problems(phone)
        phone.goto(f"{live_server.origin}/")
        inbox = phone.locator("#inbox")
        expect(inbox).to_contain_text("Your form could not be processed")
        phone.goto(f"{live_server.origin}/#/security")
        events = phone.locator("#security-events")
        expect(events).to_contain_text("DUO staff (forms team) viewed your record")
        expect(events).to_contain_text(f"reason: your form (reference {client_id[:8]})")
        expect(events).to_contain_text("DUO staff (forms team) downloaded an attachment")
        expect(events).to_contain_text("DUO staff (forms team) decided on your form")
        assert problems == [], problems
    finally:
        person.close()


def test_every_staff_page_passes_axe_and_works_from_the_keyboard(
    live_server: LiveServer, desk: tuple[Page, VirtualAuthenticator]
) -> None:
    page, _ = desk
    origin = live_server.origin
    page.goto(f"{origin}/staff/sign-in")
    assert axe_serious(page) == []
    link = invite_link(live_server, "Ilse Meijer", set(Role))
    page.goto(link)
    assert axe_serious(page) == []
    page.get_by_role("button", name="Mijn passkey maken").click()
    expect(page.get_by_text("Aangemeld als Ilse Meijer")).to_be_visible()

    # Keyboard: the first Tab reaches the skip link, which moves focus to the content.
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Naar de inhoud")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()

    visited = []
    for path in (
        "/staff/",
        "/staff/persons",
        "/staff/persons?customer=DA0000001",
        "/staff/persons?customer=",
        "/staff/extracts",
        "/staff/extracts?customer=DA0000001",
        "/staff/audit",
        "/staff/audit?since=nonsense",
        "/staff/admin/staff",
        "/staff/forms",
    ):
        page.goto(origin + path)
        visited.append((path, axe_serious(page)))
    assert [v for v in visited if v[1]] == []

    # A person's record: the purpose form (with its error summary), then the record.
    page.goto(f"{origin}/staff/persons?customer=DA0000001")
    page.get_by_role("link", name="Dossier openen").click()
    page.get_by_label("Reden", exact=True).fill("")
    page.get_by_role("button", name="Dossier openen").click()
    expect(page.get_by_role("alert")).to_contain_text("Geef aan waarom u dit dossier opent.")
    assert axe_serious(page) == []
    page.get_by_label("Reden", exact=True).fill("Phone call about a lost passkey")
    page.get_by_role("button", name="Dossier openen").click()
    expect(page.get_by_role("heading", name="Ayu Lestari DA0000001")).to_be_visible()
    assert axe_serious(page) == []

    # Staff accounts: the invite form with both errors, then a member's page.
    page.goto(f"{origin}/staff/admin/staff")
    page.get_by_role("button", name="Inschrijflink maken").click()
    expect(page.get_by_role("alert")).to_contain_text("Vul de naam van de medewerker in.")
    assert axe_serious(page) == []
    page.get_by_role("link", name="Beheren Ilse Meijer").click()
    assert axe_serious(page) == []


def test_signing_in_during_an_outage_says_so_in_the_pages_language(
    live_server: LiveServer, desk: tuple[Page, VirtualAuthenticator]
) -> None:
    """The ceremony's 503 (JSON, in English) becomes the page's own words; then it works."""
    page, _ = desk
    page.goto(invite_link(live_server, "Joost Vermeulen", {Role.AUDITOR}))
    page.get_by_role("button", name="Mijn passkey maken").click()
    expect(page.get_by_text("Aangemeld als Joost Vermeulen")).to_be_visible()
    page.get_by_role("button", name="Afmelden").click()
    expect(page.get_by_role("heading", name="Aanmelden")).to_be_visible()

    outage = {
        "status": 503,
        "headers": {"retry-after": "5"},
        "json": {
            "errors": [
                {
                    "message": "The service is temporarily unavailable. Please try again.",
                    "extensions": {"code": "SERVICE_UNAVAILABLE"},
                }
            ]
        },
    }
    page.route("**/staff/auth/login/options", lambda route: route.fulfill(**outage))
    page.get_by_role("button", name="Aanmelden met een passkey").click()
    status = page.get_by_role("status")
    expect(status).to_contain_text("de backoffice kan zijn gegevens nu niet bereiken")
    expect(status).not_to_contain_text("temporarily unavailable")

    page.unroute("**/staff/auth/login/options")
    page.get_by_role("button", name="Aanmelden met een passkey").click()
    expect(page.get_by_text("Aangemeld als Joost Vermeulen")).to_be_visible()
