"""The app in a person's hands (#16): status messages, outbox wording, labels, error summaries,
headings, formatting, navigation, reminders and passkeys, in English and in Dutch.

Every screen a test here touches is checked with axe-core, best-practice rules included: no
violation of any impact.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from base64 import urlsafe_b64encode
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from api.settings import PROJECT_ROOT
from forms.catalogue import load_catalogue
from notifications.models import PushSubscription
from tests.e2e.authenticator import VirtualAuthenticator
from tests.e2e.conftest import LiveServer, new_phone, watch_for_problems
from tests.e2e.phones import on_database
from tests.e2e.test_forms_outbox import wait_for_service_worker
from tests.e2e.test_staff import AXE

pytestmark = pytest.mark.e2e

LANGUAGES = ["en", "nl"]
TEXTS = {
    lang: json.loads((PROJECT_ROOT / "pwa" / "locales" / f"{lang}.json").read_text())
    for lang in LANGUAGES
}


def t(lang: str, key: str, **params: object) -> str:
    text: str = TEXTS[lang][key]
    for name, value in params.items():
        text = text.replace(f"{{{name}}}", str(value))
    return text


def before(lang: str, key: str, placeholder: str) -> str:
    """The start of a message, up to where a value is filled in."""
    start: str = TEXTS[lang][key].split(f"{{{placeholder}}}")[0]
    return start.strip()


def axe_violations(page: Page) -> list[str]:
    """axe-core's violations of any impact, WCAG 2.1 AA and best practice, on the page now."""
    if not AXE.exists():
        pytest.skip(f"{AXE} is missing: run `npm ci`")
    page.evaluate(AXE.read_text() + "\n;undefined")
    results: dict[str, Any] = page.evaluate(
        """axe.run(document, {
             runOnly: {type: "tag",
                       values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]},
             resultTypes: ["violations"],
           })"""
    )
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']]}"
        for v in results["violations"]
    ]


@pytest.fixture(scope="module")
def live_server_env() -> dict[str, str]:
    # The fake push service below runs on localhost (http is allowed outside production).
    return {"PUSH_ALLOWED_HOSTS": "localhost"}


@pytest.fixture(params=LANGUAGES)
def lang(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


@pytest.fixture
def phone(browser: Browser, lang: str) -> Iterator[BrowserContext]:
    """A phone whose person chose `lang` in the app (the saved choice the app reads first)."""
    context = new_phone(browser)
    context.add_init_script(f"localStorage.setItem('duo.language', '{lang}')")
    yield context
    context.close()


@pytest.fixture
def app(live_server: LiveServer, phone: BrowserContext) -> Iterator[Page]:
    """The app, signed in as the demo person; fails on uncaught errors and CSP violations."""
    token = live_server.new_session_token()
    origin = live_server.origin
    phone.add_cookies([{"name": live_server.cookie_name, "value": token, "url": origin}])
    page = phone.new_page()
    problems = watch_for_problems(page)
    yield page
    assert problems == [], problems


def go(page: Page, origin: str, route: str, heading: str | None = None) -> None:
    page.goto(f"{origin}/{route}")
    if heading is not None:
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)


# --- 3: a status message belongs to its page -------------------------------------------------


def test_status_messages_stay_on_the_page_that_said_them(
    live_server: LiveServer, app: Page, lang: str
) -> None:
    live = app.locator("#live")
    # A draft discarded: said on the forms page, gone once the person goes elsewhere.
    go(app, live_server.origin, "#/forms/general-question")
    expect(app.locator("#f-subject")).to_be_visible()
    app.get_by_role("button", name=t(lang, "forms.discard")).click()
    expect(app.get_by_role("heading", level=1)).to_have_text(t(lang, "forms.title"))
    expect(live).to_have_text(t(lang, "forms.discarded"))
    assert axe_violations(app) == []
    app.locator("a[href='#/security']").first.click()
    expect(app.get_by_role("heading", level=1)).to_have_text(t(lang, "security.title"))
    expect(live).to_have_text("")

    # A tampered extract's verdict stays on the verify page, not on Forms.
    go(app, live_server.origin, "#/verify/eyJhbGciOiJFUzI1NiJ9.eyJ4IjoxfQ.AAAA")
    expect(live).not_to_have_text("")
    app.evaluate("() => { location.hash = '#/forms'; }")
    expect(app.get_by_role("heading", level=1)).to_have_text(t(lang, "forms.title"))
    expect(live).to_have_text("")

    # The dashboard's "up to date" does not follow the person to Forms either.
    go(app, live_server.origin, "")
    expect(app.locator("#person")).to_be_visible()
    app.evaluate("() => { document.getElementById('live').textContent = ''; }")
    app.evaluate("async () => { window.dispatchEvent(new Event('online')); }")
    expect(live).to_have_text(t(lang, "status.updated"))
    app.evaluate("() => { location.hash = '#/forms'; }")
    expect(app.get_by_role("heading", level=1)).to_have_text(t(lang, "forms.title"))
    expect(live).to_have_text("")


# --- 4: the outbox speaks of waiting and sent forms in their own words -----------------------


def ask_question(page: Page, lang: str, subject: str) -> None:
    page.locator("#catalogue a[href='#/forms/general-question']").click()
    page.locator("#f-topic").select_option("repayment")
    page.locator("#f-subject").fill(subject)
    page.locator("#f-question").fill(f"{subject}: how do I pay from abroad?")
    page.get_by_role("button", name=t(lang, "forms.send"), exact=True).click()


def test_outbox_keeps_waiting_forms_apart_from_sent_ones(
    live_server: LiveServer, phone: BrowserContext, app: Page, lang: str
) -> None:
    live = app.locator("#live")
    go(app, live_server.origin, "#/forms", t(lang, "forms.title"))
    expect(app.locator("#catalogue li")).not_to_have_count(0)
    wait_for_service_worker(app)
    expect(app.locator("#catalogue li")).not_to_have_count(0)

    # Online: "sending" is replaced by what happened once DUO has the form.
    ask_question(app, lang, f"Sent online {lang}")
    expect(live).to_have_text(t(lang, "forms.receivedNow"), timeout=20_000)
    sent = app.locator("#forms-sent li.outbox-entry")
    expect(sent).to_have_count(1)
    expect(sent).to_have_attribute("data-state", "received")
    expect(sent).to_contain_text(before(lang, "forms.sentAt", "time"))
    expect(app.locator("#outbox h3").first).to_have_text(t(lang, "forms.sentList"))

    # Offline: the offline wording, and the form is listed as waiting, not as sent.
    phone.set_offline(True)
    ask_question(app, lang, f"Waiting offline {lang}")
    expect(live).to_have_text(t(lang, "forms.queuedOffline"))
    waiting = app.locator("#forms-waiting li.outbox-entry")
    expect(waiting).to_have_count(1)
    expect(waiting).to_have_attribute("data-state", "queued")
    expect(waiting).to_contain_text(before(lang, "forms.savedAt", "time"))
    expect(waiting).not_to_contain_text(before(lang, "forms.sentAt", "time") + " ")
    expect(sent).to_have_count(1)
    expect(app.locator("#forms-waiting-title")).to_have_text(t(lang, "forms.waitingList"))
    assert axe_violations(app) == []

    # Back online: it moves to "Sent to DUO".
    phone.set_offline(False)
    expect(app.locator("#forms-waiting")).to_have_count(0, timeout=20_000)
    expect(sent).to_have_count(2)


# --- 2: a label says "(optional)" once: the catalogue's label, as it is ----------------------


def control_id(pointer: str) -> str:
    return "f" + re.sub(r"[^A-Za-z0-9]", "-", pointer)


def test_every_field_of_every_form_shows_the_catalogues_label_as_it_is(
    live_server: LiveServer, app: Page, lang: str
) -> None:
    forms = load_catalogue().current_versions(datetime.now(UTC))
    assert len(forms) >= 6
    for form in forms:
        go(app, live_server.origin, f"#/forms/{form.form_id}", form.title[lang])
        for pointer, hint in form.ui["fields"].items():
            widget = hint.get("widget")
            if widget == "group":
                continue
            expected = hint["label"][lang]
            if widget == "radio":
                shown = app.locator(f"#{control_id(pointer)} > legend")
            elif widget == "checkbox":
                shown = app.locator(f"label:has(> #{control_id(pointer)})")
            else:
                shown = app.locator(f"label[for='{control_id(pointer)}']")
            assert (shown.text_content() or "").strip() == expected, f"{form.form_id} {pointer}"
        # A screen reader reads the accessible name: no marker twice there either.
        for marker in ("(optional)", "(niet verplicht)"):
            assert app.locator("#form").inner_text().count(f"{marker} {marker}") == 0
        if form.form_id in {"change-of-address", "general-question"}:
            assert axe_violations(app) == []


# --- 11 + 15: error summaries link to their fields; the named field is marked and focused -----


def test_a_forms_error_summary_links_to_each_field_in_error(
    live_server: LiveServer, app: Page, lang: str
) -> None:
    go(app, live_server.origin, "#/forms/general-question")
    expect(app.locator("#f-subject")).to_be_visible()
    app.get_by_role("button", name=t(lang, "forms.send"), exact=True).click()
    summary = app.locator("#error-summary")
    expect(summary).to_be_visible()
    expect(summary.get_by_role("heading", level=2)).to_have_text(t(lang, "form.errorSummary"))
    links = summary.get_by_role("link")
    expect(links).to_have_count(3)  # topic, subject, question
    expect(app.locator("#f-topic")).to_be_focused()
    expect(links.nth(1)).to_have_attribute("href", "#f-subject")
    expect(links.nth(1)).to_contain_text(t(lang, "forms.error.required"))
    links.nth(1).click()
    expect(app.locator("#f-subject")).to_be_focused()
    expect(app.locator("#f-subject")).to_have_attribute("aria-invalid", "true")
    assert app.evaluate("() => location.hash") == "#/forms/general-question"
    assert axe_violations(app) == []


def test_reminder_preferences_mark_the_field_the_server_named_and_move_focus(
    live_server: LiveServer, app: Page, lang: str
) -> None:
    go(app, live_server.origin, "#/notifications", t(lang, "push.title"))
    offsets = app.locator("#push-offsets")
    # Numbers the server refuses: it names offsetsDays.
    offsets.fill("0, 99")
    app.get_by_role("button", name=t(lang, "push.save")).click()
    expect(offsets).to_have_attribute("aria-invalid", "true")
    expect(offsets).to_be_focused()
    expect(app.locator("#push-offsets-error")).to_have_text(t(lang, "push.invalid.offsetsDays"))
    summary = app.locator("#push-prefs-errors")
    expect(summary.get_by_role("link")).to_have_text(t(lang, "push.invalid.offsetsDays"))
    expect(summary.get_by_role("heading", level=3)).to_have_text(t(lang, "form.errorSummary"))
    assert axe_violations(app) == []
    # Not numbers at all: the same, without asking the server.
    offsets.fill("soon")
    app.locator("#push-quiet-start").focus()
    app.get_by_role("button", name=t(lang, "push.save")).click()
    expect(offsets).to_be_focused()
    expect(offsets).to_have_attribute("aria-invalid", "true")
    # Fixed: saved, and nothing is marked any more.
    offsets.fill("14, 3, 1")
    app.get_by_role("button", name=t(lang, "push.save")).click()
    expect(app.locator("#push-prefs")).to_contain_text(t(lang, "push.saved"))
    expect(offsets).not_to_have_attribute("aria-invalid", "true")
    expect(summary).to_have_count(0)


# --- 7: heading levels never skip ----------------------------------------------------------

SKIPPED_LEVELS = """() => {
    const levels = [...document.querySelectorAll("h1, h2, h3, h4, h5, h6")]
        .filter((h) => h.offsetParent !== null || h.closest("details"))
        .map((h) => [Number(h.tagName[1]), h.textContent.trim()]);
    const skips = [];
    let last = 0;
    for (const [level, text] of levels) {
        if (level > last + 1) skips.push(`h${last} -> h${level} "${text}"`);
        last = level;
    }
    return skips;
}"""


def test_no_screen_skips_a_heading_level_or_fails_axe(
    live_server: LiveServer, app: Page, lang: str
) -> None:
    screens = ["", "#/forms", "#/extracts", "#/notifications", "#/security"]
    screens += [
        f"#/forms/{f.form_id}" for f in load_catalogue().current_versions(datetime.now(UTC))
    ]
    violations: dict[str, list[str]] = {}
    for route in screens:
        go(app, live_server.origin, route)
        expect(app.locator("#view h1")).to_be_visible()
        app.wait_for_load_state("networkidle")
        assert app.evaluate(SKIPPED_LEVELS) == [], route or "dashboard"
        # Every screen, best practice included: no violation of any impact (#16's proof).
        if found := axe_violations(app):
            violations[route or "dashboard"] = found
    assert violations == {}


# --- 6: numbers, dates and relative time through Intl, with separation ----------------------


def test_grades_and_dates_follow_the_language_with_parts_kept_apart(
    live_server: LiveServer, app: Page, lang: str
) -> None:
    go(app, live_server.origin, "")
    expect(app.locator("#person")).to_be_visible()
    grades = app.locator("table.results tbody td.num").all_text_contents()
    numeric = [g for g in grades if re.fullmatch(r"\d+[.,]\d+", g)]
    assert numeric, grades
    decimal = "," if lang == "nl" else "."
    assert all(decimal in g for g in numeric), numeric
    # The due date and "in 27 days" are separate words, also for a screen reader.
    due = app.locator("#finance dd", has=app.locator("span.relative"))
    expect(due).to_have_count(1)
    text = due.text_content() or ""
    relative = app.locator("#finance span.relative").text_content() or ""
    assert text.endswith(f", {relative}"), text
    # Counts in messages are locale numbers too (a plural's {count}).
    assert app.evaluate("async () => (await import('/js/i18n.js')).tp('inbox.unread', 1234)") == t(
        lang, "inbox.unread.other", count="1,234" if lang == "en" else "1.234"
    )
    assert axe_violations(app) == []


# --- 9: phone-first navigation: one row at 320 px, keyboard and screen-reader usable --------

ROWS = """(selector) => new Set([...document.querySelectorAll(selector)]
    .filter((e) => e.offsetParent !== null)
    .map((e) => Math.round(e.getBoundingClientRect().top))).size"""
OVERFLOWING = """() => [...document.querySelectorAll('.tabbar-list a, .tabbar-more')]
    .filter((e) => e.scrollWidth > e.clientWidth + 1).map((e) => e.textContent)"""


def test_navigation_takes_one_row_at_320_px_and_works_from_the_keyboard(
    live_server: LiveServer, app: Page, lang: str
) -> None:
    app.set_viewport_size({"width": 320, "height": 640})
    go(app, live_server.origin, "")
    expect(app.locator("#person")).to_be_visible()
    nav = app.get_by_role("navigation", name=t(lang, "nav.label"))
    expect(nav).to_be_visible()
    # The header: logo, language and Sign out in one row; the sections: one row of five.
    assert app.evaluate(ROWS, ".tabbar-list > li") == 1
    assert app.evaluate(OVERFLOWING) == []
    header = app.locator(".site-header .bar").bounding_box()
    bar = app.locator(".tabbar-list").bounding_box()
    assert header is not None
    assert bar is not None
    assert header["height"] <= 64, header
    assert bar["height"] <= 64, bar
    assert bar["y"] + bar["height"] >= 640 - 1  # at the bottom, within thumb reach
    assert axe_violations(app) == []

    # Keyboard: "More" opens a list of the other destinations; Escape closes it.
    more = nav.get_by_role("button", name=t(lang, "nav.more"))
    expect(more).to_have_attribute("aria-expanded", "false")
    more.focus()
    app.keyboard.press("Enter")
    expect(more).to_have_attribute("aria-expanded", "true")
    menu = app.locator("#more-menu")
    expect(menu).to_be_visible()
    expect(menu.get_by_role("link", name=t(lang, "nav.inbox"))).to_be_focused()
    assert axe_violations(app) == []
    app.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    expect(more).to_be_focused()

    # Through "More" to Reminders: the page opens, the list closes, "More" shows where one is.
    app.keyboard.press("Enter")
    menu.get_by_role("link", name=t(lang, "nav.notifications")).click()
    expect(app.get_by_role("heading", level=1)).to_have_text(t(lang, "push.title"))
    expect(menu).to_be_hidden()
    expect(more).to_have_class(re.compile(r"\bcurrent\b"))
    # A destination of the bar: marked as the current page.
    nav.get_by_role("link", name=t(lang, "nav.forms")).click()
    expect(app.get_by_role("heading", level=1)).to_have_text(t(lang, "forms.title"))
    expect(nav.get_by_role("link", name=t(lang, "nav.forms"))).to_have_attribute(
        "aria-current", "page"
    )
    assert app.evaluate(ROWS, ".tabbar-list > li") == 1


# --- 13 + 14: push opt-in is honest and recoverable -----------------------------------------


class GonePushService(BaseHTTPRequestHandler):
    """A push service that no longer knows any device: 410 Gone (RFC 8030 §7.3)."""

    received = 0

    def do_POST(self) -> None:
        type(self).received += 1
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(410)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture(scope="module")
def gone_push_service() -> Iterator[str]:
    """Its endpoint base URL, on a port of this helper's range (9500-9599)."""
    for port in range(9590, 9600):
        try:
            server = ThreadingHTTPServer(("127.0.0.1", port), GonePushService)
            break
        except OSError:
            continue
    else:
        pytest.fail("no free port for the fake push service")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://localhost:{port}/push/"
    server.shutdown()
    server.server_close()


def b64url(raw: bytes) -> str:
    return urlsafe_b64encode(raw).rstrip(b"=").decode()


# PushManager.subscribe cannot reach a real push service here (TESTING.md): the page's
# PushManager hands out a subscription for the fake service instead, kept in localStorage so
# that it survives a reload like a real one; "fake-push-mode" makes it hang or refuse.
FAKE_PUSH = """(() => {
  const config = %s;
  const KEY = "fake-push-subscription";
  const make = (endpoint) => ({
    endpoint,
    expirationTime: null,
    toJSON: () => ({
      endpoint, expirationTime: null, keys: { p256dh: config.p256dh, auth: config.auth },
    }),
    unsubscribe: async () => { localStorage.removeItem(KEY); return true; },
  });
  PushManager.prototype.getSubscription = async function () {
    const endpoint = localStorage.getItem(KEY);
    return endpoint ? make(endpoint) : null;
  };
  PushManager.prototype.subscribe = function () {
    const mode = localStorage.getItem("fake-push-mode") || "ok";
    if (mode === "hang") return new Promise(() => {});
    if (mode === "refuse") return Promise.reject(new DOMException("refused", "AbortError"));
    localStorage.setItem(KEY, config.endpoint);
    return Promise.resolve(make(config.endpoint));
  };
  if (localStorage.getItem("fake-push-mode") === "deny") {
    Notification.requestPermission = async () => "denied";
  }
})();"""


def fake_push(phone: BrowserContext, endpoint_base: str) -> str:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    point = key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    endpoint = f"{endpoint_base}{secrets.token_urlsafe(12)}"
    config = {
        "endpoint": endpoint,
        "p256dh": b64url(point),
        "auth": b64url(secrets.token_bytes(16)),
    }
    phone.add_init_script(FAKE_PUSH % json.dumps(config))
    return endpoint


def test_a_subscription_the_server_reports_gone_is_dropped_and_turn_on_is_offered_again(
    live_server: LiveServer,
    phone: BrowserContext,
    app: Page,
    lang: str,
    gone_push_service: str,
) -> None:
    phone.grant_permissions(["notifications"], origin=live_server.origin)
    fake_push(phone, gone_push_service)
    go(app, live_server.origin, "#/notifications", t(lang, "push.title"))
    devices = app.locator("#push-devices")
    turn_on = app.get_by_role("button", name=t(lang, "push.enable"))
    turn_on.click()
    expect(devices).to_contain_text(t(lang, "push.thisDeviceOn"))
    expect(devices.locator("li.push-device")).to_have_count(1)
    expect(devices.locator("li.push-device")).to_contain_text(t(lang, "security.thisDevice"))

    # The push service answers 410: the server drops the device; so does the app.
    sent_before = GonePushService.received
    devices.get_by_role("button", name=t(lang, "push.test")).click()
    expect(devices).to_contain_text(t(lang, "push.testGone"))
    assert GonePushService.received == sent_before + 1
    expect(turn_on).to_be_visible()
    expect(devices).not_to_contain_text(t(lang, "push.thisDeviceOn"))
    expect(devices).to_contain_text(t(lang, "push.noDevices"))
    assert app.evaluate("() => localStorage.getItem('fake-push-subscription')") is None
    assert axe_violations(app) == []

    # On again; then a scheduled push finds it gone (the server deletes it): at the next start
    # the app does not register the dead endpoint again but offers "Turn on".
    turn_on.click()
    expect(devices).to_contain_text(t(lang, "push.thisDeviceOn"))

    async def delete_all(db: AsyncSession) -> None:
        await db.execute(delete(PushSubscription))

    on_database(live_server, delete_all)
    app.reload()
    expect(turn_on).to_be_visible()
    expect(devices).to_contain_text(t(lang, "push.noDevices"))
    expect(devices).not_to_contain_text(t(lang, "push.thisDeviceOn"))
    app.wait_for_timeout(500)  # the start's refreshSubscription has had its turn
    app.reload()
    expect(devices).to_contain_text(t(lang, "push.noDevices"))


@pytest.mark.parametrize("mode", ["deny", "refuse", "hang"])
def test_turning_reminders_on_says_what_to_do_when_it_cannot_work(
    live_server: LiveServer,
    phone: BrowserContext,
    app: Page,
    lang: str,
    gone_push_service: str,
    mode: str,
) -> None:
    if mode != "deny":
        phone.grant_permissions(["notifications"], origin=live_server.origin)
    fake_push(phone, gone_push_service)
    phone.add_init_script(f"localStorage.setItem('fake-push-mode', '{mode}')")
    app.clock.install()
    go(app, live_server.origin, "#/notifications", t(lang, "push.title"))
    turn_on = app.get_by_role("button", name=t(lang, "push.enable"))
    turn_on.click()
    expected = {
        "deny": "push.error.denied.chrome",
        "refuse": "push.error.subscribe",
        "hang": "push.error.timeout",
    }[mode]
    if mode == "hang":
        expect(app.locator("#push-enable")).to_be_disabled()
        app.clock.fast_forward(16_000)  # the app gives up after 15 s, not 40 s and more
    alert = app.locator("#push-devices .alert")
    expect(alert).to_have_text(t(lang, expected))
    expect(app.locator("#live")).to_have_text(t(lang, expected))
    expect(turn_on).to_be_enabled()
    assert axe_violations(app) == []


# --- 5: the reminder time zone: a searchable select, the profile's zone preselected ---------


def test_reminder_time_zone_is_a_searchable_select_with_the_profiles_zone_chosen(
    live_server: LiveServer, app: Page, lang: str
) -> None:
    go(app, live_server.origin, "#/notifications", t(lang, "push.title"))
    zone = app.get_by_label(t(lang, "push.zone"), exact=True)
    expect(zone).to_have_value("")
    expect(zone.locator("option:checked")).to_have_text(
        t(lang, "push.zoneProfileIs", zone="Asia/Jakarta")
    )
    assert zone.evaluate("(s) => s.tagName") == "SELECT"
    assert zone.locator("option").count() > 300  # the IANA zones this browser knows
    # The device (Europe/Amsterdam here) is a suggestion, not the answer.
    suggestion = app.get_by_role(
        "button", name=t(lang, "push.zoneUseDevice", zone="Europe/Amsterdam")
    )
    expect(suggestion).to_be_visible()
    assert axe_violations(app) == []

    # Filtering by a city narrows the list; the chosen option always stays.
    app.get_by_label(t(lang, "push.zoneFilter")).fill("sao paulo")
    visible = zone.locator("optgroup:not([hidden]) option:not([hidden])")
    expect(visible).to_have_count(1)
    expect(visible).to_have_attribute("value", "America/Sao_Paulo")
    zone.select_option("America/Sao_Paulo")
    app.get_by_role("button", name=t(lang, "push.save")).click()
    expect(app.locator("#live")).to_have_text(t(lang, "push.saved"))
    app.reload()
    expect(zone).to_have_value("America/Sao_Paulo")
    # The suggestion, taken: the device's zone is chosen and saved.
    suggestion.click()
    expect(zone).to_have_value("Europe/Amsterdam")
    expect(zone).to_be_focused()
    app.get_by_role("button", name=t(lang, "push.save")).click()
    expect(app.locator("#live")).to_have_text(t(lang, "push.saved"))
    app.reload()
    expect(zone).to_have_value("Europe/Amsterdam")
    # Back to following the profile.
    zone.select_option("")
    app.get_by_role("button", name=t(lang, "push.save")).click()
    expect(app.locator("#live")).to_have_text(t(lang, "push.saved"))


# --- 16: the device-link page checks the link first; 8: passkeys a person can tell apart -----

CREATE_LINK = """async () => (await (await import('/js/api.js')).mutate('CreateDeviceLink'))
    .createDeviceLink.url"""


def test_the_device_link_page_checks_the_link_and_says_for_whom_and_how_long(
    live_server: LiveServer, browser: Browser, phone: BrowserContext, app: Page, lang: str
) -> None:
    go(app, live_server.origin, "")
    expect(app.locator("#person")).to_be_visible()
    name = (app.locator("#person dd").first.text_content() or "").strip()
    url = app.evaluate(CREATE_LINK)

    # Another device, signed out: the account and the time left, then the button.
    other = new_phone(browser)
    other.add_init_script(f"localStorage.setItem('duo.language', '{lang}')")
    try:
        tablet = other.new_page()
        tablet.goto(url)
        expect(tablet.get_by_role("heading", level=1)).to_have_text(t(lang, "link.title"))
        status = tablet.locator("#device-link-status")
        expect(status).to_contain_text(t(lang, "link.account", name=name))
        in_ten = "in 10 minutes" if lang == "en" else "over 10 minuten"
        expect(status).to_contain_text(t(lang, "link.expires", time=in_ten))
        expect(tablet.get_by_role("button", name=t(lang, "link.submit"))).to_be_enabled()
        expect(tablet.locator("#sections-nav")).to_be_hidden()
        assert axe_violations(tablet) == []
        # A link that cannot work: said at once, and no button to try it.
        tablet.goto(f"{live_server.origin}/#/link/spent-or-made-up")
        expect(tablet.get_by_role("alert")).to_have_text(t(lang, "link.invalid"))
        expect(tablet.get_by_role("button", name=t(lang, "link.submit"))).to_have_count(0)
    finally:
        other.close()

    # This device, signed in: its header stays, and the page says who is signed in here.
    app.goto(url)
    status = app.locator("#device-link-status")
    expect(status).to_contain_text(t(lang, "link.signedInAs", name=name, account=name))
    expect(app.locator("#sections-nav")).to_be_visible()
    expect(app.locator("#live")).to_have_text("")
    assert axe_violations(app) == []


def test_a_passkey_added_here_is_named_marked_and_offered_a_new_name(
    live_server: LiveServer, app: Page, lang: str
) -> None:
    VirtualAuthenticator.attach(app)
    go(app, live_server.origin, "#/security", t(lang, "security.title"))
    app.get_by_role("button", name=t(lang, "security.addHere")).click()
    name_field = app.get_by_label(t(lang, "security.newName"), exact=True)
    expect(name_field).to_be_focused()
    expect(name_field).to_have_value(re.compile(r"^Chrome on Linux"))
    prompt = app.locator("[id^='rename-prompt-']")
    expect(prompt).to_have_text(t(lang, "security.renamePrompt"))
    assert axe_violations(app) == []
    name_field.fill(f"Phone {lang}")
    name_field.press("Enter")
    mine = app.locator("#passkeys li.passkey", has_text=f"Phone {lang}")
    expect(mine.locator(".tag-here")).to_have_text(t(lang, "security.thisDevice"))
    expect(prompt).to_have_count(0)


def test_the_signed_out_header_keeps_one_row_and_passes_axe(
    live_server: LiveServer, phone: BrowserContext, lang: str
) -> None:
    page = phone.new_page()
    page.set_viewport_size({"width": 320, "height": 640})
    page.goto(f"{live_server.origin}/")
    expect(page.get_by_role("heading", level=1)).to_have_text(t(lang, "signin.title"))
    expect(page.locator("#sections-nav")).to_be_hidden()
    header = page.locator(".site-header .bar").bounding_box()
    assert header is not None
    assert header["height"] <= 64, header
    expect(page.get_by_label(t(lang, "language.label"))).to_be_visible()
    assert axe_violations(page) == []
