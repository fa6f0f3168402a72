"""Requesting access in the PWA (issue 13, section 2), in Chromium with a fake camera.

A person without DigiD or code fills in the request, photographs their passport, records the
video with the four digits, and sends it; DUO's helpdesk approves it; the same browser then
creates a passkey and reaches the dashboard. A browser with another secret gets nothing.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    FilePayload,
    Page,
    expect,
    sync_playwright,
)
from sqlalchemy import select

from access import review
from access.models import AccessRequest
from api.database import create_engine, create_session_factory
from api.settings import Settings
from auth.models import AuditEvent
from records.demo import DEMO_CUSTOMER_NUMBER, customer_number
from records.models import Person
from staff.models import Role
from tests.access.support import DETAILS, new_secret, sha256, webm_bytes
from tests.e2e.authenticator import VirtualAuthenticator
from tests.e2e.conftest import CHROMIUM_ARGS, LiveServer, _in_thread, new_phone, watch_for_problems
from tests.e2e.test_passkeys import screenshot
from tests.e2e.test_staff import invite_link
from tests.forms.support import jpeg_bytes, png_bytes

pytestmark = pytest.mark.e2e

# Chromium's fake camera and microphone, and no permission prompt (TESTING.md, the brief).
CAMERA_ARGS = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
HELPDESK = uuid.uuid4()


@pytest.fixture(scope="module")
def camera_browser(chromium: Path) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(chromium), args=[*CHROMIUM_ARGS, *CAMERA_ARGS]
        )
        yield browser
        browser.close()


@pytest.fixture
def phone(camera_browser: Browser) -> Iterator[tuple[BrowserContext, list[str]]]:
    context = new_phone(camera_browser)
    context.grant_permissions(["camera", "microphone"])
    problems: list[str] = []
    yield context, problems
    context.close()
    assert problems == [], problems


async def _person(url: str, number: str) -> tuple[uuid.UUID, str, str]:
    engine = create_engine(url)
    try:
        async with create_session_factory(engine)() as db:
            person = await db.scalar(select(Person).where(Person.customer_number == number))
            assert person is not None
            return (
                person.id,
                f"{person.given_names} {person.family_name}",
                person.date_of_birth.isoformat(),
            )
    finally:
        await engine.dispose()


async def _approve(url: str, request_id: uuid.UUID, person_id: uuid.UUID) -> str:
    engine = create_engine(url)
    try:
        async with create_session_factory(engine)() as db:
            await review.claim(db, request_id, staff_id=HELPDESK)
            await review.approve(
                db,
                request_id,
                staff_id=HELPDESK,
                person_id=person_id,
                settings=Settings(environment="test"),
            )
            digits = await db.scalar(
                select(AccessRequest.liveness_digits).where(AccessRequest.id == request_id)
            )
            await db.commit()
            return str(digits)
    finally:
        await engine.dispose()


async def _views(url: str, person_id: uuid.UUID) -> list[tuple[str, str, str]]:
    """The staff views of this person's record: (role, purpose kind, purpose reference)."""
    engine = create_engine(url)
    try:
        async with create_session_factory(engine)() as db:
            rows = await db.scalars(
                select(AuditEvent).where(
                    AuditEvent.person_id == person_id, AuditEvent.action == "staff.view_person"
                )
            )
            return [
                (
                    str(e.details.get("staffRole")),
                    str(e.details.get("purposeKind")),
                    str(e.details.get("purposeReference")),
                )
                for e in rows
            ]
    finally:
        await engine.dispose()


def stored_request(page: Page) -> dict[str, str]:
    raw = page.evaluate("() => localStorage.getItem('duo.accessRequest')")
    assert raw, "the browser keeps its request"
    stored: dict[str, str] = json.loads(raw)
    return stored


def fill_request(page: Page, origin: str, *, name: str, dob: str, number: str) -> str:
    """From the sign-in page to a sent request; returns the digits the app showed."""
    page.goto(f"{origin}/")
    page.get_by_role("link", name="No DigiD and no code? Request access").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Request access")
    screenshot(page, "access-intro.png")
    page.get_by_role("button", name="Start your request").click()

    # Missing fields are named, and focus goes to the first one.
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_text("Fill in your full name.")).to_be_visible()
    expect(page.get_by_label("Full name")).to_be_focused()
    page.get_by_label("Full name").fill(name)
    page.get_by_label("Date of birth").fill(dob)
    page.get_by_label("Country where you live").select_option("AU")
    page.get_by_label("DUO customer number").fill(number)
    page.get_by_label("E-mail address").fill("person@example.org")
    page.get_by_label("I had DigiD but lost it").check()
    page.get_by_role("button", name="Continue").click()

    expect(
        page.get_by_role("heading", name="Photo of your passport or identity card")
    ).to_be_visible()
    # A file that is not a photo is refused before sending.
    page.get_by_label("Choose a photo or file").set_input_files(
        files=[FilePayload(name="notes.txt", mimeType="text/plain", buffer=b"hello")]
    )
    expect(page.locator("#access-document-error")).to_contain_text("JPEG, PNG or PDF")
    page.get_by_label("Choose a photo or file").set_input_files(
        files=[FilePayload(name="passport.png", mimeType="image/png", buffer=png_bytes(600_000))]
    )
    expect(page.locator("#live")).to_have_text("DUO has received your document.")
    expect(page.get_by_text("passport.png")).to_be_visible()
    page.get_by_role("button", name="Continue").click()

    expect(page.get_by_role("heading", name="A short video of you")).to_be_visible()
    digits = page.locator("#access-digits").inner_text().replace("\n", "").replace(" ", "")
    assert len(digits) == 4
    assert digits.isdigit()
    page.get_by_role("button", name="Turn on the camera").click()
    page.get_by_role("button", name="Start recording").click()
    expect(page.get_by_role("button", name="Stop recording")).to_be_enabled(timeout=6_000)
    screenshot(page, "access-recording.png")
    page.get_by_role("button", name="Stop recording").click()
    expect(page.locator("#access-recorded")).to_be_visible()
    screenshot(page, "access-recorded.png")
    page.get_by_role("button", name="Send this video").click()
    expect(page.locator("#access-video-done")).to_have_text("DUO has received your video.")
    page.get_by_role("button", name="Continue").click()

    expect(page.get_by_role("heading", name="Your request")).to_be_visible()
    expect(page.get_by_text(name)).to_be_visible()
    screenshot(page, "access-review.png")
    page.get_by_role("button", name="Send to DUO").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your request for access")
    expect(page.locator("#access-status")).to_contain_text("waiting for DUO's helpdesk")
    screenshot(page, "access-sent.png")
    return digits


def test_a_person_requests_access_is_approved_by_the_helpdesk_and_creates_a_passkey(
    live_server: LiveServer, phone: tuple[BrowserContext, list[str]], camera_browser: Browser
) -> None:
    context, problems = phone
    page = context.new_page()
    problems += watch_for_problems(page)
    authenticator = VirtualAuthenticator.attach(page)
    number = customer_number(2)
    person_id, name, dob = _in_thread(asyncio.run, _person(live_server.database_url, number))

    digits = fill_request(page, live_server.origin, name=name, dob=dob, number=number)
    request_id = stored_request(page)["id"]

    # A helpdesk member, in a desktop browser of their own, signs in with a staff passkey.
    desk_context = camera_browser.new_context(
        viewport={"width": 1280, "height": 900}, locale="en-GB"
    )
    try:
        desk = desk_context.new_page()
        problems += watch_for_problems(desk)
        VirtualAuthenticator.attach(desk)
        desk.goto(invite_link(live_server, "Hanna de Wit", {Role.HELPDESK}))
        desk.get_by_role("button", name="Mijn passkey maken").click()
        expect(desk.get_by_text("Aangemeld als Hanna de Wit")).to_be_visible()
        desk.get_by_role("link", name="English").click()
        desk.get_by_role("navigation", name="Staff sections").get_by_role(
            "link", name="Activation requests"
        ).click()
        expect(desk.get_by_role("heading", level=1)).to_have_text("Activation requests")
        expect(desk.locator("#stats-open")).to_have_text("1")
        row = desk.locator("#queue tbody tr").filter(has_text=name)
        row.get_by_role("button", name="Review").click()
        expect(desk.get_by_role("heading", level=1)).to_have_text(f"Access request: {name}")
        expect(desk.locator("#digits")).to_have_text(digits)
        # The documents inline: the photo shows, the video plays (it was recorded in Chromium).
        expect(desk.locator("figure.document img")).to_have_js_property("complete", True)
        assert desk.locator("figure.document img").evaluate("img => img.naturalWidth") > 0
        video = desk.locator("figure.document video")
        video.evaluate(
            "v => new Promise((ok, no) => { v.onloadedmetadata = ok; v.onerror = no; v.load(); })"
        )
        assert video.evaluate("v => v.videoWidth") > 0
        screenshot(desk, "access-staff-request.png")
        desk.get_by_label(re.compile(f"^{re.escape(name)} \\({number}\\)")).check()
        desk.get_by_role("button", name="Approve").click()
        expect(desk.get_by_role("status")).to_contain_text("Approved")
        expect(desk.locator("#request-status")).to_have_text("Approved")
    finally:
        desk_context.close()

    # The person's browser learns of it (the app checks again) and creates the passkey.
    page.get_by_role("button", name="Check the status now").click()
    expect(page.locator("#access-status")).to_contain_text("Approved")
    screenshot(page, "access-approved.png")
    page.get_by_role("button", name="Create a passkey").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Save your recovery key")
    page.get_by_label("I have saved my recovery key somewhere safe").check()
    page.get_by_role("button", name="Continue", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Hello, {name}")
    assert len(authenticator.credentials()) == 1
    # The request is spent and forgotten on this device.
    assert page.evaluate("() => localStorage.getItem('duo.accessRequest')") is None

    # The helpdesk's look at this person's record was logged for them (staff.audit's view log:
    # the role, and this request as the purpose).
    views = _in_thread(asyncio.run, _views(live_server.database_url, person_id))
    assert ("helpdesk", "activation_request", str(request_id)) in views


def test_a_secret_from_another_browser_gets_nothing(
    live_server: LiveServer, phone: tuple[BrowserContext, list[str]], camera_browser: Browser
) -> None:
    context, problems = phone
    page = context.new_page()
    problems += watch_for_problems(page)
    number = customer_number(3)
    person_id, name, dob = _in_thread(asyncio.run, _person(live_server.database_url, number))
    fill_request(page, live_server.origin, name=name, dob=dob, number=number)
    mine = stored_request(page)
    _in_thread(asyncio.run, _approve(live_server.database_url, uuid.UUID(mine["id"]), person_id))

    # Another browser learns the request id (not the secret) and tries its own.
    other = new_phone(camera_browser)
    try:
        thief = other.new_page()
        problems += watch_for_problems(thief)
        thief.goto(f"{live_server.origin}/")
        expect(thief.get_by_role("heading", name="Sign in", level=1)).to_be_visible()
        forged = json.dumps({"id": mine["id"], "secret": "A" * 43})
        thief.evaluate(f"localStorage.setItem('duo.accessRequest', {json.dumps(forged)})")
        thief.goto(f"{live_server.origin}/#/access")
        thief.reload()  # a fresh start that finds the forged request in storage
        expect(thief.get_by_role("button", name="Start your request")).to_be_visible()
        answer = thief.evaluate(
            """async (id) => {
                const r = await fetch('/auth/access-request', {method: 'POST',
                  headers: {'Content-Type': 'application/json'},
                  body: JSON.stringify({requestId: id, secret: 'A'.repeat(43)})});
                return [r.status, (await r.json()).errors[0].extensions.code];
            }""",
            mine["id"],
        )
        assert answer == [400, "ACCESS_REQUEST_INVALID"]
    finally:
        other.close()
    # The right browser still can.
    page.reload()
    expect(page.locator("#access-status")).to_contain_text("Approved")
    expect(page.get_by_role("button", name="Create a passkey")).to_be_enabled()


def test_a_slow_connection_that_drops_resumes_the_upload_with_progress(
    live_server: LiveServer, phone: tuple[BrowserContext, list[str]]
) -> None:
    context, problems = phone
    page = context.new_page()
    problems += watch_for_problems(page)
    page.goto(f"{live_server.origin}/#/access")
    page.get_by_role("button", name="Start your request").click()
    page.get_by_label("Full name").fill("Ayu Lestari")
    page.get_by_label("Date of birth").fill("1991-07-02")
    page.get_by_label("Country where you live").select_option("ID")
    page.get_by_label("E-mail address").fill("ayu@example.org")
    page.get_by_label("I never had DigiD").check()
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_label("Choose a photo or file")).to_be_visible()

    # A slow mobile uplink (about 100 KB/s), then the connection drops for a while.
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": 150,
            "downloadThroughput": 200 * 1024,
            "uploadThroughput": 100 * 1024,
        },
    )
    scan = b"%PDF-1.4\n" + b"0" * 1_500_000 + b"\n%%EOF\n"
    page.get_by_label("Choose a photo or file").set_input_files(
        files=[FilePayload(name="id-card.pdf", mimeType="application/pdf", buffer=scan)]
    )
    bar = page.locator("#document-progress")
    expect(bar).to_be_visible()
    page.wait_for_function(
        "() => { const b = document.getElementById('document-progress');"
        " return b && b.value > 0 && b.value < b.max; }"
    )
    expect(page.locator("#document-progress-text")).to_contain_text("of 1.4 MB sent")
    context.set_offline(True)
    page.wait_for_timeout(2_500)
    sent_before = page.evaluate("() => document.getElementById('document-progress').value")
    context.set_offline(False)
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    expect(page.locator("#live")).to_have_text("DUO has received your document.", timeout=60_000)
    assert sent_before < len(scan), "the drop came before the end"
    # Resumed, not started again: one file, received once.
    expect(page.locator("#access-document .file-list li")).to_have_count(1)
    expect(page.get_by_text("id-card.pdf")).to_be_visible()


REFUSE_CAMERA = """
navigator.mediaDevices.getUserMedia = () =>
  Promise.reject(new DOMException("Permission denied", "NotAllowedError"));
"""


def test_a_refused_camera_says_how_else_to_get_access_in_dutch(
    live_server: LiveServer, camera_browser: Browser
) -> None:
    context = new_phone(camera_browser, locale="nl-NL")
    context.add_init_script(script=REFUSE_CAMERA)
    try:
        page = context.new_page()
        problems = watch_for_problems(page)
        page.goto(f"{live_server.origin}/")
        page.get_by_role("link", name="Geen DigiD en geen code? Vraag toegang aan").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Toegang aanvragen")
        page.get_by_role("button", name="Aanvraag beginnen").click()
        page.get_by_label("Volledige naam").fill("Sanne de Vries")
        page.get_by_label("Geboortedatum").fill("1990-05-01")
        page.get_by_label("Land waar u woont").select_option("CA")
        page.get_by_label("E-mailadres").fill("sanne@example.org")
        page.get_by_label("Ik heb nooit DigiD gehad").check()
        page.get_by_role("button", name="Verder").click()
        page.get_by_label("Kies een foto of bestand").set_input_files(
            files=[FilePayload(name="paspoort.jpg", mimeType="image/jpeg", buffer=jpeg_bytes())]
        )
        expect(page.locator("#live")).to_have_text("DUO heeft uw document ontvangen.")
        page.get_by_role("button", name="Verder").click()
        page.get_by_role("button", name="Camera aanzetten").click()
        alert = page.locator("#access-camera-error")
        expect(alert).to_be_focused()
        expect(alert).to_contain_text("geblokkeerd")
        expect(alert).to_contain_text("videogesprek met DUO of aan een DUO-balie")
        alert.get_by_role("link", name="Ik heb een activeringscode").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Account activeren")
        assert problems == [], problems
    finally:
        context.close()


def submit_by_http(origin: str, number: str, name: str, dob: str) -> str:
    """A request as a browser sends it (REST, the request's secret in a header); its id."""
    me = new_secret()
    auth = {"authorization": f"Bearer {me}"}
    with httpx.Client(base_url=origin, headers={"origin": origin}) as client:
        created = client.post(
            "/access/requests",
            json={**DETAILS, "fullName": name, "dateOfBirth": dob, "customerNumber": number},
            headers=auth,
        )
        assert created.status_code == 201, created.text
        request_id = str(created.json()["id"])
        for kind, data, filename in (
            ("document", png_bytes(2000), "passport.png"),
            ("video", webm_bytes(), "liveness.webm"),
        ):
            file = client.post(
                f"/access/requests/{request_id}/files",
                json={
                    "kind": kind,
                    "filename": filename,
                    "size": len(data),
                    "sha256": sha256(data),
                },
                headers=auth,
            ).json()
            client.put(
                f"/access/requests/{request_id}/files/{file['id']}/chunks",
                params={"offset": 0},
                content=data,
                headers={**auth, "content-type": "application/octet-stream"},
            ).raise_for_status()
            client.post(
                f"/access/requests/{request_id}/files/{file['id']}/complete", json={}, headers=auth
            ).raise_for_status()
        client.post(
            f"/access/requests/{request_id}/submit", json={}, headers=auth
        ).raise_for_status()
    return request_id


def test_the_person_sees_that_the_helpdesk_viewed_their_record(
    live_server: LiveServer, camera_browser: Browser
) -> None:
    _, name, dob = _in_thread(asyncio.run, _person(live_server.database_url, DEMO_CUSTOMER_NUMBER))
    submit_by_http(live_server.origin, DEMO_CUSTOMER_NUMBER, name, dob)
    token = live_server.new_session_token()  # the person signed in on their phone
    desk_context = camera_browser.new_context(locale="en-GB")
    person_context = new_phone(camera_browser)
    try:
        desk = desk_context.new_page()
        VirtualAuthenticator.attach(desk)
        desk.goto(invite_link(live_server, "Joris Smit", {Role.HELPDESK}))
        desk.get_by_role("button", name="Mijn passkey maken").click()
        expect(desk.get_by_text("Aangemeld als Joris Smit")).to_be_visible()
        desk.goto(f"{live_server.origin}/staff/activation")
        desk.locator("#queue tbody tr").filter(has_text=name).get_by_role(
            "button", name="Behandelen"
        ).click()
        expect(desk.locator("#digits")).to_be_visible()

        person_context.add_cookies(
            [
                {
                    "name": live_server.cookie_name,
                    "value": token,
                    "domain": "localhost",
                    "path": "/",
                    "httpOnly": True,
                    "sameSite": "Lax",
                }
            ]
        )
        page = person_context.new_page()
        page.goto(f"{live_server.origin}/#/security")
        expect(page.locator("#security-events")).to_contain_text(
            "DUO staff (helpdesk) viewed your record", timeout=5_000
        )
    finally:
        desk_context.close()
        person_context.close()
