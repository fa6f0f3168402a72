"""The staff pages: Dutch first with English, the PWA's design tokens, nothing inline (CSP)."""

from __future__ import annotations

import json
import re
from importlib import resources

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from api.settings import PROJECT_ROOT
from staff.models import Role
from tests.staff.support import signed_in_member

STAFF = resources.files("staff")


def _tokens(css: str) -> dict[str, str]:
    root = re.search(r":root\s*\{(.*?)\}", css, re.S)
    assert root, "no :root block"
    return dict(re.findall(r"(--[\w-]+)\s*:\s*([^;]+);", root.group(1)))


def test_the_staff_css_uses_the_pwas_design_tokens() -> None:
    pwa = _tokens((PROJECT_ROOT / "pwa" / "css" / "app.css").read_text())
    staff = _tokens(STAFF.joinpath("static", "staff.css").read_text())
    assert staff == pwa


def test_both_languages_have_every_text() -> None:
    nl = json.loads(STAFF.joinpath("locales", "nl.json").read_text())
    en = json.loads(STAFF.joinpath("locales", "en.json").read_text())
    assert sorted(nl) == sorted(en)
    assert all(nl[key].strip() for key in nl)


def test_templates_carry_no_inline_script_style_or_handlers() -> None:
    """The CSP allows scripts and styles from files only ('self')."""
    for template in STAFF.joinpath("templates").iterdir():
        files = template.iterdir() if template.is_dir() else [template]
        for file in files:
            text = file.read_text()
            assert not re.search(r"<script(?![^>]*\bsrc=)", text), file.name
            assert "<style" not in text, file.name
            assert not re.search(r"\sstyle=", text), file.name
            assert not re.search(r"\son[a-z]+=", text), file.name


async def test_pages_are_dutch_first_with_an_english_switch(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    await signed_in_member(db, client, frozenset({Role.ADMIN}))
    dutch = await client.get("/staff/")
    assert '<html lang="nl">' in dutch.text
    assert "Medewerkers" in dutch.text
    assert "content-security-policy" in dutch.headers
    assert "script-src 'self'" in dutch.headers["content-security-policy"]
    assert dutch.headers["cache-control"] == "no-store"
    # Under no-referrer a browser's form posts carry `Origin: null`, which the edge refuses.
    assert dutch.headers["referrer-policy"] == "same-origin"

    switched = await client.get("/staff/language", params={"to": "en", "next": "/staff/"})
    assert (switched.status_code, switched.headers["location"]) == (303, "/staff/")
    english = await client.get("/staff/")
    assert '<html lang="en">' in english.text
    assert "Staff accounts" in english.text


async def test_the_language_switch_only_returns_inside_the_staff_ui(
    client: httpx.AsyncClient,
) -> None:
    for target in ("https://evil.example/", "//evil.example/staff/", "/graphql"):
        answer = await client.get("/staff/language", params={"to": "en", "next": target})
        assert answer.headers["location"] == "/staff/"


async def test_the_language_switch_keeps_the_page_and_its_query(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    await signed_in_member(db, client, frozenset({Role.FORMS}))

    page = await client.get("/staff/forms", params={"age": "7"})

    assert 'href="/staff/language?to=en&amp;next=/staff/forms%3Fage%3D7"' in page.text


async def test_pages_name_an_icon_the_staff_ui_serves(client: httpx.AsyncClient) -> None:
    """No /favicon.ico 404 on every page; on a staff host of its own only /staff/ is served,
    so the icon is the staff UI's own file, not the PWA's /icons/."""
    sign_in = await client.get("/staff/sign-in")
    icon = re.search(r'<link rel="icon" href="([^"]+)"', sign_in.text)
    assert icon, "no icon link"
    assert icon.group(1).startswith("/staff/")
    served = await client.get(icon.group(1))
    assert (served.status_code, served.headers["content-type"]) == (200, "image/svg+xml")
