"""DUO staff in Chromium with CDP virtual authenticators (issue #13).

A staff member enrols through the one-time invite link and signs in with a passkey.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from api.database import create_engine, create_session_factory
from auth.audit import RequestMeta
from staff import accounts
from staff.models import Role
from tests.e2e.authenticator import VirtualAuthenticator
from tests.e2e.conftest import LiveServer, _in_thread, watch_for_problems

pytestmark = pytest.mark.e2e


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
