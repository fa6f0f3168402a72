"""The human-readable extract: English and Dutch, no inline script or style, a real PDF."""

from __future__ import annotations

import re

import httpx
import pytest
import segno
from sqlalchemy.ext.asyncio import AsyncSession

from extracts import pdf, render
from tests.extracts.flows import YILMAZ, create_extract, fetch_jws, holder


async def test_html_in_english_and_dutch_under_the_csp(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    _, diploma_id = await holder(client, db, given_names="Ayşe", family_name=YILMAZ)
    extract = await create_extract(client, diploma_id)
    en = await client.get(f"/extracts/{extract['id']}.html?lang=en")
    nl = await client.get(f"/extracts/{extract['id']}.html?lang=nl")
    assert '<html lang="en">' in en.text
    assert '<html lang="nl">' in nl.text
    for english in ("Diploma extract", "Date of birth", "10 July 2019"):
        assert english in en.text
    for dutch in ("Diploma-uittreksel", "Geboortedatum", "10 juli 2019"):
        assert dutch in nl.text
    assert f"Ayşe {YILMAZ}" in en.text
    for page in (en, nl):
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp
        assert "style-src 'self'" in csp
        text = page.text.lower()
        assert "<script" not in text
        assert "<style" not in text
        assert " style=" not in text
        assert not re.search(r"\son[a-z]+=", text), "inline event handler"
        assert '<link rel="stylesheet" href="/extracts/extract.css">' in page.text
        assert 'src="data:image/svg+xml' in page.text  # the QR code (img-src allows data:)
    css = await client.get("/extracts/extract.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")


async def test_the_qr_code_leads_to_a_short_check_address_not_the_jws(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    """#16 item 10: a small code a phone reads at print size, not the whole JWS."""
    _, diploma_id = await holder(client, db)
    extract = await create_extract(client, diploma_id)
    token = await fetch_jws(client, extract["id"])
    url = render.verification_url("http://localhost:8000", extract["id"])
    assert url == f"http://localhost:8000/v/{extract['id']}"
    qr = render.qr_code("http://localhost:8000", extract["id"])
    assert isinstance(qr.version, int)
    assert qr.version <= 5  # 37 by 37 modules at most: ~1.7 mm each in the 6 cm print
    assert qr.error == "M"
    page = (await client.get(f"/extracts/{extract['id']}.html?lang=en")).text
    assert qr.svg_data_uri(scale=4, border=4) in page
    whole = segno.make(f"http://localhost:8000/#/verify/{token}", error="l")
    assert whole.svg_data_uri(scale=4, border=4) not in page
    assert isinstance(whole.version, int)
    assert whole.version > 2 * qr.version  # what it was: a far denser code
    assert f'href="{url}"' in page
    assert ".jws)" not in page.split("downloads")[0]  # the check asks for no file


async def test_unknown_language_is_refused(client: httpx.AsyncClient, db: AsyncSession) -> None:
    _, diploma_id = await holder(client, db)
    extract = await create_extract(client, diploma_id)
    response = await client.get(f"/extracts/{extract['id']}.html?lang=de")
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "lang"}


@pytest.mark.parametrize("lang", ["en", "nl"])
async def test_pdf(client: httpx.AsyncClient, db: AsyncSession, lang: str) -> None:
    _, diploma_id = await holder(client, db, given_names="Ayşe", family_name=YILMAZ)
    extract = await create_extract(client, diploma_id)
    response = await client.get(f"/extracts/{extract['id']}.pdf?lang={lang}")
    assert response.status_code == 200
    assert response.content.startswith(b"%PDF")
    assert response.headers["content-disposition"].startswith("inline; filename=")


async def test_pdf_without_unicode_fonts_transliterates(
    client: httpx.AsyncClient, db: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, diploma_id = await holder(client, db, given_names="Ayşe", family_name=YILMAZ)
    extract = await create_extract(client, diploma_id)
    token = await fetch_jws(client, extract["id"])
    payload = (await client.get(f"/extracts/{extract['id']}.json")).json()["payload"]
    monkeypatch.setattr(pdf, "FONT_DIRS", ())
    document = pdf.render_pdf(
        payload, jws=token, kid="k", lang="en", public_origin="http://localhost:8000"
    )
    assert document.startswith(b"%PDF")
    assert pdf._latin1(f"Ayşe {YILMAZ} \u2014 Zoë") == "Ayse Yilmaz - Zoë"
