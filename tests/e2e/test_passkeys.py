"""Passkeys in the PWA, in Chromium with CDP virtual authenticators (issue 3, "Proof expected").

One person's journey across three devices: activate with a code from DUO, save the recovery
key, sign out and in again, add a second device through a link, remove a passkey, and recover
on a third device with the recovery key. Plus: a failed fingerprint check, and Dutch.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from records.demo import DEMO_CUSTOMER_NUMBER, customer_number
from tests.e2e.authenticator import TRACK_AUTOFILL, VirtualAuthenticator
from tests.e2e.conftest import IssuedActivation, LiveServer, new_phone, watch_for_problems

pytestmark = pytest.mark.e2e

SCREENSHOTS = Path(tempfile.gettempdir()) / "duo-abroad-screens"
RECOVERY_KEY = re.compile(r"[0-9A-Z]{5}(-[0-9A-Z]{5}){4}")
# An older browser: no WebAuthn Level 3 JSON helpers, so the app's base64url fallback runs.
WITHOUT_JSON_HELPERS = """
delete PublicKeyCredential.parseCreationOptionsFromJSON;
delete PublicKeyCredential.parseRequestOptionsFromJSON;
delete PublicKeyCredential.prototype.toJSON;
"""


@dataclass(frozen=True, slots=True)
class Device:
    """A browser profile (its own cookies and storage) with its own authenticator."""

    page: Page
    authenticator: VirtualAuthenticator


OpenDevice = Callable[..., Device]


@pytest.fixture
def open_device(browser: Browser) -> Iterator[OpenDevice]:
    """Open more devices; each fails the test on page errors and CSP violations."""
    opened: list[tuple[BrowserContext, list[str]]] = []

    def open_one(*, locale: str = "en-GB", init_script: str | None = None) -> Device:
        context = new_phone(browser, locale=locale)
        context.add_init_script(script=TRACK_AUTOFILL)
        if init_script:
            context.add_init_script(script=init_script)
        page = context.new_page()
        opened.append((context, watch_for_problems(page)))
        return Device(page=page, authenticator=VirtualAuthenticator.attach(page))

    yield open_one
    problems = [problem for _, found in opened for problem in found]
    for context, _ in opened:
        context.close()
    assert problems == [], problems


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=SCREENSHOTS / name, full_page=True)


def wait_for_dashboard(page: Page, name: str) -> None:
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Hello, {name}")


def activate(page: Page, origin: str, issued: IssuedActivation) -> str:
    """Activation in the UI, up to the recovery key screen; returns the key shown."""
    page.goto(f"{origin}/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    page.get_by_role("link", name="Activate your account").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Activate your account")
    code = page.get_by_label("Activation code")
    # Forgiving input: lower case and spaces become the code's printed form.
    code.fill(issued.code.replace("-", " ").lower())
    expect(code).to_have_value(issued.code)
    page.get_by_label("Date of birth").fill(issued.date_of_birth.isoformat())
    page.get_by_role("button", name="Continue and create a passkey").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Save your recovery key")
    key = page.locator("#recovery-key").inner_text()
    assert RECOVERY_KEY.fullmatch(key), key
    return key


def confirm_recovery_key_saved(page: Page) -> None:
    page.get_by_label("I have saved my recovery key somewhere safe").check()
    page.get_by_role("button", name="Continue", exact=True).click()


def sign_out(page: Page) -> None:
    page.get_by_role("button", name="Sign out", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    expect(page.locator("#live")).to_contain_text("You have been signed out")


def with_autofill_pending(
    page: Page, authenticator: VirtualAuthenticator, reach_sign_in: Callable[[], object]
) -> None:
    """Reach the sign-in page with its autofill request waiting, as for a real person.

    The virtual authenticator would answer it at once (as if a passkey had been picked from
    the autofill list); without presence simulation it stays pending, also once presence
    simulation is back on, so that the button can be tested.
    """
    authenticator.set_presence(False)
    reach_sign_in()
    page.wait_for_function("() => window.autofillPending === true")
    # From the page to the authenticator: a hop between processes.
    page.wait_for_timeout(250)
    authenticator.set_presence(True)


def sign_out_leaving_autofill_pending(page: Page, authenticator: VirtualAuthenticator) -> None:
    with_autofill_pending(page, authenticator, lambda: sign_out(page))


def test_passkey_journey_across_three_devices(
    live_server: LiveServer, context: BrowserContext, page: Page, open_device: OpenDevice
) -> None:
    origin = live_server.origin
    issued = live_server.issue_activation_code(DEMO_CUSTOMER_NUMBER)
    context.add_init_script(script=TRACK_AUTOFILL)
    phone = VirtualAuthenticator.attach(page)

    # 1. Activation: code + date of birth, passkey, then the recovery key, shown once.
    page.goto(f"{origin}/")
    expect(page.get_by_role("button", name="Sign in with a passkey")).to_be_visible()
    expect(page.locator("#signin-username")).to_have_attribute("autocomplete", "username webauthn")
    # Autofill waits quietly: nothing to report before someone picks a passkey.
    page.wait_for_timeout(200)
    expect(page.get_by_role("alert")).to_have_count(0)
    screenshot(page, "signin.png")
    page.get_by_role("link", name="Activate your account").click()
    expect(page.locator("[aria-current='step']")).to_have_text("Activation code")
    screenshot(page, "activation.png")
    recovery_key = activate(page, origin, issued)
    assert len(phone.credentials()) == 1
    expect(page.locator(".success")).to_contain_text("Your passkey is ready")
    expect(page.get_by_text("This is the only time you see this key")).to_be_visible()
    screenshot(page, "recovery-key.png")
    # Moving on needs an explicit "I have saved it".
    page.get_by_role("button", name="Continue", exact=True).click()
    expect(page.get_by_label("I have saved my recovery key somewhere safe")).to_be_focused()
    expect(page.get_by_text("Confirm that you have saved your recovery key")).to_be_visible()
    confirm_recovery_key_saved(page)
    wait_for_dashboard(page, issued.name)
    assert live_server.cookie_name in {c["name"] for c in context.cookies()}

    # Deadlines: the Dutch calendar day first, the moment in the person's zone (Jakarta) second.
    deadline = page.locator("#deadlines li").first
    moment = deadline.locator(".deadline-local time").get_attribute("datetime")
    assert moment is not None
    dutch_day = datetime.fromisoformat(moment).astimezone(ZoneInfo("Europe/Amsterdam")).date()
    expect(deadline.locator(".deadline-due")).to_have_text(
        f"Due {dutch_day.day} {dutch_day:%B %Y} (Netherlands time)"
    )
    expect(deadline.locator(".deadline-due time")).to_have_attribute(
        "datetime", dutch_day.isoformat()
    )
    expect(deadline.locator(".deadline-local")).to_contain_text("GMT+7")

    # 2. Sign out, then sign in usernameless with the button (it cancels pending autofill).
    sign_out_leaving_autofill_pending(page, phone)
    assert live_server.cookie_name not in {c["name"] for c in context.cookies()}
    page.get_by_role("button", name="Sign in with a passkey").click()
    wait_for_dashboard(page, issued.name)

    # 3. The security page: one device-bound passkey, so a nudge to add another.
    page.get_by_role("link", name="Security").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Security")
    expect(page.get_by_role("link", name="Security")).to_have_attribute("aria-current", "page")
    passkeys = page.locator("#passkeys li.passkey")
    expect(passkeys).to_have_count(1)
    expect(passkeys.first).to_contain_text("This device only")
    # Made and used here: marked as this device's; named by its browser and system (#16).
    expect(passkeys.first.locator(".tag-here")).to_have_text("This device")
    expect(passkeys.first.get_by_role("heading")).to_have_text(re.compile(r"^Chrome on Linux"))
    expect(passkeys.first).to_contain_text("last used")
    expect(page.locator("#nudge")).to_contain_text("Add a second passkey")
    expect(page.locator("#recovery")).to_contain_text("You have a recovery key")
    expect(page.locator("#sessions li")).to_have_count(1)
    expect(page.locator("#sessions li").first).to_contain_text("This device")
    events = page.locator("#security-events")
    for action in ("Signed in with a passkey", "Passkey added", "Activation code issued by DUO"):
        expect(events).to_contain_text(action)

    # This authenticator already holds the account's passkey: the browser refuses another.
    page.get_by_role("button", name="Add a passkey on this device").click()
    expect(page.locator("#add-error")).to_contain_text("This device already has a passkey")

    # Rename, inline.
    passkeys.first.get_by_role("button", name=re.compile(r"^Rename ")).click()
    name_field = page.get_by_label("Name", exact=True)
    expect(name_field).to_be_focused()
    name_field.fill("Ayu's phone")
    page.get_by_role("button", name="Save").click()
    expect(passkeys.first.get_by_role("heading")).to_have_text("Ayu's phone")
    expect(page.locator("#live")).to_have_text("Passkey renamed to Ayu's phone.")

    # 4. A passkey on a second device, through a link (or its QR code).
    page.locator("#add-other").click()
    panel = page.locator("#device-link-panel")
    expect(panel.get_by_role("img")).to_have_attribute("src", re.compile(r"^data:image/svg\+xml"))
    expect(page.locator("#device-link-countdown")).to_have_text(re.compile(r"^(10:00|9:[0-5]\d)$"))
    link = page.locator("#device-link-url").input_value()
    assert link.startswith(f"{origin}/#/link/"), link
    screenshot(page, "security.png")

    tablet = open_device()
    tablet.page.goto(link)
    expect(tablet.page.get_by_role("heading", level=1)).to_have_text("Add this device")
    tablet.page.get_by_role("button", name="Create a passkey on this device").click()
    wait_for_dashboard(tablet.page, issued.name)
    assert len(tablet.authenticator.credentials()) == 1
    # The spent link is gone from the address bar (a reload must not try it again).
    assert tablet.page.evaluate("location.hash") == ""

    # The phone's page notices the new passkey by itself, and drops the used link.
    expect(passkeys).to_have_count(2)
    # Only the phone's own passkey is "this device" here; the tablet's is named by its browser
    # and system (the phone's was renamed above, so no number is needed).
    expect(passkeys.locator(".tag-here")).to_have_count(1)
    expect(passkeys.nth(1).get_by_role("heading")).to_have_text("Chrome on Linux")
    expect(panel).to_have_count(0)
    expect(page.locator("#live")).to_have_text("A passkey was added on your other device.")
    expect(page.locator("#nudge")).to_have_count(0)

    # 5. Sessions: end the tablet's from the phone.
    sessions = page.locator("#sessions li")
    expect(sessions).to_have_count(2)
    sessions.filter(has_not_text="This device").get_by_role("button").click()
    expect(sessions).to_have_count(1)
    expect(page.locator("#live")).to_have_text("That device has been signed out.")
    tablet.authenticator.set_presence(False)
    tablet.page.reload()
    expect(tablet.page.get_by_role("heading", level=1)).to_have_text("Sign in")
    expect(tablet.page.get_by_text(issued.name)).to_have_count(0)
    # Browser autofill: picking the passkey there signs in, without the button.
    tablet.authenticator.set_presence(True)
    tablet.page.reload()
    wait_for_dashboard(tablet.page, issued.name)

    # 6. Remove the tablet's passkey; the last one then asks for the recovery key.
    passkeys.nth(1).get_by_role("button", name=re.compile(r"^Remove ")).click()
    page.get_by_role("button", name="Remove passkey").click()
    expect(passkeys).to_have_count(1)
    expect(page.locator("#live")).to_contain_text("removed")
    passkeys.first.get_by_role("button", name=re.compile(r"^Remove ")).click()
    key_field = page.locator("#passkeys").get_by_label("Recovery key", exact=True)
    expect(key_field).to_be_focused()
    key_field.fill("AAAAA-BBBBB-CCCCC-DDDDD-EEEEE")
    page.get_by_role("button", name="Remove passkey").click()
    expect(page.get_by_text("That is not your current recovery key")).to_be_visible()
    expect(key_field).to_have_attribute("aria-invalid", "true")
    page.get_by_role("button", name="Cancel").click()
    expect(passkeys).to_have_count(1)
    sign_out(page)

    # 7. A third device, an older browser: recover with the key saved at activation.
    laptop = open_device(init_script=WITHOUT_JSON_HELPERS)
    laptop.page.goto(f"{origin}/")
    laptop.page.get_by_role("link", name="Lost your passkey? Use your recovery key").click()
    expect(laptop.page.get_by_role("heading", level=1)).to_have_text("Use your recovery key")
    laptop.page.get_by_label("Recovery key", exact=True).fill(recovery_key)
    laptop.page.get_by_role("button", name="Continue and create a passkey").click()
    expect(laptop.page.get_by_role("heading", level=1)).to_have_text("Save your recovery key")
    new_key = laptop.page.locator("#recovery-key").inner_text()
    assert RECOVERY_KEY.fullmatch(new_key)
    assert new_key != recovery_key
    confirm_recovery_key_saved(laptop.page)
    wait_for_dashboard(laptop.page, issued.name)
    assert len(laptop.authenticator.credentials()) == 1
    # The older browser signs in with the fallback too.
    sign_out_leaving_autofill_pending(laptop.page, laptop.authenticator)
    laptop.page.get_by_role("button", name="Sign in with a passkey").click()
    wait_for_dashboard(laptop.page, issued.name)

    # 8. A new recovery key (shown once again), then "sign out everywhere".
    laptop.page.get_by_role("link", name="Security").click()
    laptop.page.get_by_role("button", name="Create a new recovery key").click()
    laptop.page.get_by_role("button", name="Create new recovery key").click()
    expect(laptop.page.get_by_role("heading", level=1)).to_have_text("Save your recovery key")
    renewed_key = laptop.page.locator("#recovery-key").inner_text()
    assert RECOVERY_KEY.fullmatch(renewed_key)
    assert renewed_key != new_key
    confirm_recovery_key_saved(laptop.page)
    expect(laptop.page.get_by_role("heading", level=1)).to_have_text("Security")
    expect(laptop.page.locator("#live")).to_have_text(
        "Your new recovery key is active. The old one no longer works."
    )
    expect(laptop.page.locator("#security-events")).to_contain_text("New recovery key created")
    laptop.page.get_by_role("button", name="Sign out everywhere").click()
    with_autofill_pending(
        laptop.page,
        laptop.authenticator,
        lambda: laptop.page.get_by_role("button", name="Sign out everywhere").click(),
    )
    expect(laptop.page.get_by_role("heading", level=1)).to_have_text("Sign in")
    expect(laptop.page.locator("#live")).to_contain_text("signed out on every device")
    # Every other device too: the phone (signed out already) and the tablet.
    tablet.authenticator.set_presence(False)
    tablet.page.reload()
    expect(tablet.page.get_by_role("heading", level=1)).to_have_text("Sign in")


def test_failed_user_verification_shows_an_error_and_signs_no_one_in(
    live_server: LiveServer, context: BrowserContext, page: Page
) -> None:
    # Person 3 reads English (person 2's profile is Dutch, and the app follows a profile).
    issued = live_server.issue_activation_code(customer_number(3))
    context.add_init_script(script=TRACK_AUTOFILL)
    phone = VirtualAuthenticator.attach(page)
    activate(page, live_server.origin, issued)
    confirm_recovery_key_saved(page)
    wait_for_dashboard(page, issued.name)

    sign_out_leaving_autofill_pending(page, phone)
    phone.set_user_verified(False)  # the fingerprint does not match
    page.get_by_role("button", name="Sign in with a passkey").click()

    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("The passkey request was cancelled or did not complete")
    expect(alert).to_be_focused()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    expect(page.get_by_role("button", name="Sign in with a passkey")).to_be_enabled()
    assert live_server.cookie_name not in {c["name"] for c in context.cookies()}

    # Once the device can verify the person again, the same button works.
    phone.set_user_verified(True)
    with_autofill_pending(page, phone, page.reload)
    page.get_by_role("button", name="Sign in with a passkey").click()
    wait_for_dashboard(page, issued.name)


def test_sign_in_and_activation_in_dutch(live_server: LiveServer, open_device: OpenDevice) -> None:
    device = open_device(locale="nl-NL")
    page = device.page
    page.goto(f"{live_server.origin}/")
    expect(page.locator("html")).to_have_attribute("lang", "nl")
    expect(page.get_by_role("heading", level=1)).to_have_text("Inloggen")
    expect(page.get_by_role("button", name="Inloggen met een passkey")).to_be_visible()
    expect(page.get_by_label("Klantnummer")).to_have_attribute("autocomplete", "username webauthn")
    expect(
        page.get_by_role("link", name="Passkey kwijt? Gebruik uw herstelsleutel")
    ).to_be_visible()
    expect(page.get_by_role("alert")).to_have_count(0)
    screenshot(page, "signin-nl.png")

    page.get_by_role("link", name="Account activeren").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Account activeren")
    page.get_by_role("button", name="Verder en passkey maken").click()
    expect(
        page.get_by_text("Vul alle 16 letters en cijfers van uw activeringscode in.")
    ).to_be_visible()
    expect(page.get_by_text("Vul uw geboortedatum in.")).to_be_visible()
    expect(page.get_by_label("Activeringscode")).to_be_focused()

    # A spent or made-up device link: checked before any button is offered (#16 item 16), and
    # explained in Dutch.
    page.goto(f"{live_server.origin}/#/link/not-a-real-token")
    expect(page.get_by_role("heading", level=1)).to_have_text("Dit apparaat toevoegen")
    expect(page.get_by_role("alert")).to_contain_text("Deze link werkt niet")
    expect(page.get_by_role("button", name="Passkey maken op dit apparaat")).to_have_count(0)
    assert device.authenticator.credentials() == []
