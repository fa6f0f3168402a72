"""A form the app said it would send is never lost (issue 10), in Chromium, in English and Dutch.

Sessions that end while forms wait (offline, with the app closed), sign-out with forms waiting
(each of its three choices), another person signing in on the same device, and a form on a
version DUO no longer accepts. Each scenario runs in both languages (the texts asserted are
read from the app's locale files) and checks the rows in the server's database, not only the
screen. Sign-in is the app's own: a passkey from a CDP virtual authenticator.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import tempfile
import time
from base64 import b64decode
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import cbor2
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.database import create_engine, create_session_factory, utcnow
from api.settings import PROJECT_ROOT
from auth.models import Passkey, WebAuthnUser, WebSession
from auth.sessions import create_session, hash_token
from forms.models import FormSubmission
from records.demo import DEMO_CUSTOMER_NUMBER, customer_number
from records.models import Person
from tests.e2e.authenticator import TRACK_AUTOFILL, VirtualAuthenticator
from tests.e2e.conftest import LiveServer, new_phone, watch_for_problems
from tests.e2e.test_forms_outbox import tiny_png, wait_for_service_worker

pytestmark = pytest.mark.e2e

T = TypeVar("T")
LOCALES = {"en": "en-GB", "nl": "nl-NL"}
CATALOGUE = Path(str(resources.files("forms").joinpath("catalogue")))
SHOTS = Path(tempfile.gettempdir()) / "duo-abroad-screens"
# What the outbox keeps of an entry in clear: enough to count and order, nothing of the form.
CLEAR_FIELDS = ["blobs", "clientId", "owner", "queuedAt", "sealed", "state"]
READ_DEVICE = """async () => {
    if (!(await indexedDB.databases()).some((d) => d.name === "duo-abroad")) return null;
    const db = await new Promise((resolve, reject) => {
        const request = indexedDB.open("duo-abroad");
        request.onsuccess = () => resolve(request.result);
        request.onerror = () => reject(request.error);
    });
    const all = (name) => new Promise((resolve) => {
        const request = db.transaction(name).objectStore(name).getAll();
        request.onsuccess = () => resolve(request.result);
    });
    const [entries, drafts, keys] = [await all("outbox"), await all("drafts"), await all("keys")];
    db.close();
    return {
        entries: entries.map((e) => ({ clientId: e.clientId, owner: e.owner, state: e.state,
                                       fields: Object.keys(e).sort() })),
        drafts: drafts.map((d) => Object.keys(d).sort()),
        keys: keys.map((k) => ({ owner: k.owner, hasKey: Boolean(k.key) })),
    };
}"""
REPLAY = "async () => (await import('/js/outbox.js')).replay()"
CLIENT_IDS = """async () =>
    (await (await import("/js/outbox.js")).listOutbox()).map((entry) => entry.clientId)"""
NOTIFICATIONS = """async () =>
    (await self.registration.getNotifications({ tag: "duo-outbox" })).map((n) => n.title)"""
COUNT_WINDOWS = """async () =>
    (await self.clients.matchAll({ type: "window", includeUncontrolled: true })).length"""


@pytest.fixture(scope="module")
def live_server_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The catalogue with versions dated from today: one retired, one that soon will be.

    change-of-address v2 was published 100 days ago, so v1 (grace period 90 days) is retired;
    general-question gets a v2 published 10 days ago, so v1 is accepted for 80 more days.
    """
    directory = tmp_path_factory.mktemp("catalogue")
    for path in CATALOGUE.glob("*.json"):
        shutil.copy(path, directory / path.name)
    now = datetime.now(UTC).replace(microsecond=0)

    def publish(name: str, version: int, when: datetime, source: str | None = None) -> None:
        data = json.loads((directory / (source or name)).read_text())
        data.update(version=version, publishedAt=when.isoformat().replace("+00:00", "Z"))
        (directory / name).write_text(json.dumps(data))

    publish("change-of-address.v2.json", 2, now - timedelta(days=100))
    publish("general-question.v2.json", 2, now - timedelta(days=10), "general-question.v1.json")
    return {"FORMS_CATALOGUE_DIR": str(directory), "FORMS_GRACE_DAYS": "90"}


# --- DUO's side: the server's database ---------------------------------------------------


def on_database(server: LiveServer, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work` in a session of the server's database (its own thread and event loop)."""

    async def run() -> T:
        engine = create_engine(server.database_url)
        try:
            async with create_session_factory(engine)() as db:
                result = await work(db)
                await db.commit()
                return result
        finally:
            await engine.dispose()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, run()).result()


def person_id(server: LiveServer, number: str) -> UUID:
    async def find(db: AsyncSession) -> UUID:
        found = await db.scalar(select(Person.id).where(Person.customer_number == number))
        assert found is not None, number
        return found

    return on_database(server, find)


def stored(server: LiveServer, client_id: str) -> list[tuple[UUID, int, dict[str, Any]]]:
    """The submissions DUO stored under this outbox entry's id: (person, version, content)."""

    async def rows(db: AsyncSession) -> list[tuple[UUID, int, dict[str, Any]]]:
        found = await db.execute(
            select(
                FormSubmission.person_id, FormSubmission.form_version, FormSubmission.content
            ).where(FormSubmission.client_id == UUID(client_id))
        )
        return [(row[0], row[1], row[2]) for row in found]

    return on_database(server, rows)


def submissions_of(server: LiveServer, person: UUID) -> int:
    async def count(db: AsyncSession) -> int:
        mine = FormSubmission.person_id == person
        return len((await db.scalars(select(FormSubmission.id).where(mine))).all())

    return on_database(server, count)


def end_sessions(server: LiveServer, person: UUID, how: str) -> None:
    """The server-side session ends: idle for too long, past its absolute end, or revoked."""

    async def end(db: AsyncSession) -> None:
        sessions = WebSession.person_id == person
        if how == "idle":
            idle = utcnow() - timedelta(minutes=31)
            await db.execute(update(WebSession).where(sessions).values(last_seen_at=idle))
        elif how == "absolute":
            over = utcnow() - timedelta(seconds=1)
            await db.execute(update(WebSession).where(sessions).values(expires_at=over))
        else:  # "sign out everywhere" from another device
            await db.execute(delete(WebSession).where(sessions))

    on_database(server, end)


def session_exists(server: LiveServer, token: str) -> bool:
    async def find(db: AsyncSession) -> bool:
        mine = WebSession.token_hash == hash_token(token)
        return await db.scalar(select(WebSession.id).where(mine)) is not None

    return on_database(server, find)


@dataclass(frozen=True, slots=True)
class PersonsPasskey:
    """A passkey DUO registered for a person, and its private key (held by their device)."""

    person: UUID
    credential_id: bytes
    private_key_pkcs8: bytes
    user_handle: bytes


def enrol_passkey(server: LiveServer, person: UUID) -> PersonsPasskey:
    """What activation leaves behind, made directly: the passkey row and the device's key."""
    key = ec.generate_private_key(ec.SECP256R1())
    numbers = key.public_key().public_numbers()
    # COSE_Key, EC2 P-256 ES256 (RFC 9053 §7.1.1), as the server stores it.
    cose = cbor2.dumps(
        {1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")}
    )
    credential_id = secrets.token_bytes(16)

    async def add(db: AsyncSession) -> bytes:
        handle = await db.get(WebAuthnUser, person)
        if handle is None:
            handle = WebAuthnUser(person_id=person, user_handle=secrets.token_bytes(32))
            db.add(handle)
        db.add(
            Passkey(
                person_id=person,
                credential_id=credential_id,
                public_key=cose,
                aaguid="00000000-0000-0000-0000-000000000000",
                name="e2e phone",
                transports=["internal"],
            )
        )
        await db.flush()
        return handle.user_handle

    user_handle = on_database(server, add)
    pkcs8 = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return PersonsPasskey(person, credential_id, pkcs8, user_handle)


def new_session(server: LiveServer, person: UUID) -> str:
    async def create(db: AsyncSession) -> str:
        issued = await create_session(db, person_id=person, absolute_timeout=timedelta(hours=12))
        return issued.token

    return on_database(server, create)


# --- the person's side: a phone with the app ----------------------------------------------


@dataclass
class Phone:
    """One device: its browser profile, the app's page and its passkey authenticator."""

    server: LiveServer
    lang: str
    texts: dict[str, str]
    context: BrowserContext
    page: Page
    authenticator: VirtualAuthenticator
    problems: list[str]
    sign_counts: dict[bytes, int] = field(default_factory=dict)

    def t(self, key: str, **params: object) -> str:
        text = self.texts[key]
        for name, value in params.items():
            text = text.replace(f"{{{name}}}", str(value))
        return text

    def tp(self, key: str, count: int) -> str:
        # English and Dutch: "one" for exactly 1, "other" for every other count.
        return self.t(f"{key}.{'one' if count == 1 else 'other'}", count=count)

    def before(self, key: str, placeholder: str) -> str:
        """The start of a message, up to where a value (a date, a number) is filled in."""
        return self.texts[key].split(f"{{{placeholder}}}")[0].strip()

    def open_app(self, path: str = "/") -> Page:
        """A new window of the app, with its own authenticator (passkeys are per device)."""
        self.page = self.context.new_page()
        self.problems += watch_for_problems(self.page)
        self.authenticator = VirtualAuthenticator.attach(self.page)
        self.authenticator.set_presence(False)
        self.page.goto(f"{self.server.origin}{path}")
        return self.page

    def signed_in_by_cookie(self, person: UUID) -> None:
        """A session that started earlier (a passkey sign-in yesterday, say)."""
        token = new_session(self.server, person)
        self.context.add_cookies(
            [{"name": self.server.cookie_name, "value": token, "url": self.server.origin}]
        )

    def sign_in(self, passkey: PersonsPasskey) -> None:
        """On the sign-in page: the person's passkey, with the app's sign-in button."""
        page = self.page
        expect(page.get_by_role("heading", level=1)).to_have_text(self.t("signin.title"))
        # The page's autofill request waits first (presence off), as for a real person. It
        # starts once per visit of the page, online (after an offline sign-out: a new visit).
        if not page.evaluate("() => window.autofillPending"):
            page.reload()
        page.wait_for_function("() => window.autofillPending === true")
        page.wait_for_timeout(250)
        # Only this person's passkey on the device (whoever used it before took theirs along);
        # its counter goes on where it was, as the server expects (WebAuthn §6.1.1).
        held = {b64decode(c["credentialId"]): c for c in self.authenticator.credentials()}
        for credential_id, credential in held.items():
            self.sign_counts[credential_id] = credential["signCount"]
        self.authenticator.clear_credentials()
        self.authenticator.add_credential(
            credential_id=passkey.credential_id,
            private_key_pkcs8=passkey.private_key_pkcs8,
            user_handle=passkey.user_handle,
            rp_id="localhost",
            sign_count=self.sign_counts.get(passkey.credential_id, 0),
        )
        self.authenticator.set_presence(True)
        page.get_by_role("button", name=self.t("signin.button")).click()
        expect(page.locator("#person")).to_be_visible()
        self.authenticator.set_presence(False)

    def open_forms(self) -> None:
        self.page.locator("#sections-nav a[href='#/forms']").click()
        expect(self.page.get_by_role("heading", level=1)).to_have_text(self.t("forms.title"))
        expect(self.page.locator("#catalogue li")).not_to_have_count(0)

    def queue_question_offline(self, subject: str) -> str:
        """Fill "Ask DUO a question" with a photo and press Send offline; the entry's id."""
        page = self.page
        before = set(page.evaluate(CLIENT_IDS))
        self.context.set_offline(True)
        page.locator("#catalogue a[href='#/forms/general-question']").click()
        page.locator("#f-topic").select_option("repayment")
        page.locator("#f-subject").fill(subject)
        page.locator("#f-question").fill(f"{subject}: how do I pay from abroad?")
        page.locator("input[type=file]").set_input_files(
            {"name": "evidence.png", "mimeType": "image/png", "buffer": tiny_png()}
        )
        expect(page.locator(".file-list li")).to_have_count(1)
        page.get_by_role("button", name=self.t("forms.send"), exact=True).click()
        expect(page.locator("#live")).to_have_text(self.t("forms.queuedOffline"))
        [client_id] = set(page.evaluate(CLIENT_IDS)) - before
        entry = page.locator(f"#entry-{client_id}")
        expect(entry).to_have_attribute("data-state", "queued")
        expect(entry).to_contain_text(self.t("forms.next.queuedOffline"))
        return str(client_id)

    def device(self) -> dict[str, Any]:
        """What the device keeps (IndexedDB), as anyone with the browser's tools could see."""
        found: dict[str, Any] = self.page.evaluate(READ_DEVICE)
        return found

    def screenshot(self, name: str) -> None:
        SHOTS.mkdir(exist_ok=True)
        self.page.screenshot(path=SHOTS / f"{name}-{self.lang}.png", full_page=True)

    def sign_out_button(self) -> str:
        """Press "Sign out"; returns the session cookie that was signed in (to check its end)."""
        [token] = [
            c["value"] for c in self.context.cookies() if c["name"] == self.server.cookie_name
        ]
        self.page.get_by_role("button", name=self.t("dashboard.signOut"), exact=True).click()
        return token

    def wait_for_session_end(self, token: str) -> None:
        wait_until(lambda: not session_exists(self.server, token), "the session was not ended")


@pytest.fixture
def phone(
    browser: Browser, live_server: LiveServer, request: pytest.FixtureRequest
) -> Iterator[Phone]:
    lang: str = request.param
    context = new_phone(browser, locale=LOCALES[lang])
    context.add_init_script(script=TRACK_AUTOFILL)
    page = context.new_page()
    problems = watch_for_problems(page)
    authenticator = VirtualAuthenticator.attach(page)
    authenticator.set_presence(False)
    texts = json.loads((PROJECT_ROOT / "pwa" / "locales" / f"{lang}.json").read_text("utf-8"))
    yield Phone(live_server, lang, texts, context, page, authenticator, problems)
    context.close()
    assert problems == [], problems


def in_both_languages(test: Callable[..., None]) -> Callable[..., None]:
    marked: Callable[..., None] = pytest.mark.parametrize("phone", list(LOCALES), indirect=True)(
        test
    )
    return marked


def start_on_forms(phone: Phone, person: UUID) -> Page:
    phone.signed_in_by_cookie(person)
    page = phone.page
    page.goto(f"{phone.server.origin}/#/forms")
    expect(page.locator("#catalogue li")).not_to_have_count(0)
    wait_for_service_worker(page)
    expect(page.locator("#catalogue li")).not_to_have_count(0)
    return page


def wait_until(check: Callable[[], bool], what: str, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


# --- the scenarios ------------------------------------------------------------------------


@in_both_languages
def test_a_session_that_ends_offline_keeps_the_form_until_the_person_signs_in_again(
    live_server: LiveServer, phone: Phone
) -> None:
    ayu = person_id(live_server, DEMO_CUSTOMER_NUMBER)
    passkey = enrol_passkey(live_server, ayu)
    page = start_on_forms(phone, ayu)
    client_id = phone.queue_question_offline(f"Bus ride {phone.lang}")
    # Still on the bus, the person starts another form; it is open when the session ends.
    page.locator("#catalogue a[href='#/forms/change-of-address']").click()
    page.locator("#f-city").fill("Surabaya")

    # Offline for longer than the idle timeout: the server ends the session meanwhile.
    end_sessions(live_server, ayu, "idle")
    phone.context.set_offline(False)

    # Back online, the replay meets no session: the form stays, and the person is told how
    # to send it. Before issue 10 the entry was wiped here, and nobody was told.
    expect(page.get_by_role("heading", level=1)).to_have_text(phone.t("signin.title"))
    expect(page.locator("#live")).to_have_text(phone.tp("status.sessionEndedWaiting", 1))
    expect(page.locator("#outbox-waiting")).to_contain_text(phone.tp("signin.waitingForms", 1))
    phone.screenshot("outbox-signed-out")
    assert stored(live_server, client_id) == []
    device = phone.device()
    [kept] = device["entries"]
    assert kept["clientId"] == client_id
    assert kept["state"] == "queued"
    # Sealed: no title, content or file in clear, and the key that opens them is gone.
    assert kept["fields"] == CLEAR_FIELDS
    assert device["drafts"] == [["blobs", "id", "owner", "savedAt", "sealed"]]
    assert device["keys"] == [{"owner": kept["owner"], "hasKey": False}]
    # A reload (the app started again) still says so, and still sends nothing.
    page.reload()
    expect(page.locator("#outbox-waiting")).to_contain_text(phone.tp("signin.waitingForms", 1))
    assert stored(live_server, client_id) == []

    # The same person signs in again: the form goes out, exactly once.
    phone.sign_in(passkey)
    expect(page.locator("#live")).to_contain_text(phone.tp("status.waitingSent", 1))
    [(owner, version, content)] = stored(live_server, client_id)
    assert owner == ayu
    assert (version, content["subject"]) == (2, f"Bus ride {phone.lang}")
    phone.open_forms()
    received = page.locator(f"#entry-{client_id}")
    expect(received).to_have_attribute("data-state", "received")
    expect(received).to_contain_text(phone.t("forms.next.received"))
    assert page.evaluate(REPLAY) == "done"
    assert len(stored(live_server, client_id)) == 1
    # The form that was open comes back as it was typed.
    page.locator("#catalogue a[href='#/forms/change-of-address']").click()
    expect(page.locator("#f-city")).to_have_value("Surabaya")


@in_both_languages
def test_someone_else_signing_in_on_the_device_neither_sees_nor_sends_the_kept_forms(
    live_server: LiveServer, phone: Phone
) -> None:
    ayu = person_id(live_server, DEMO_CUSTOMER_NUMBER)
    budi = person_id(live_server, customer_number(2))
    ayus_passkey, budis_passkey = enrol_passkey(live_server, ayu), enrol_passkey(live_server, budi)
    page = start_on_forms(phone, ayu)
    client_id = phone.queue_question_offline(f"Shared phone {phone.lang}")
    # "Sign out everywhere" on another device while this one is offline.
    end_sessions(live_server, ayu, "revoked")
    phone.context.set_offline(False)
    expect(page.locator("#outbox-waiting")).to_contain_text(phone.tp("signin.waitingForms", 1))
    expect(page.locator("#outbox-waiting")).to_contain_text(phone.t("signin.waitingNotYou"))
    budis_before = submissions_of(live_server, budi)

    # Budi signs in on Ayu's phone: Ayu's form is neither sent under his account nor shown.
    phone.sign_in(budis_passkey)
    phone.open_forms()
    expect(page.locator("#outbox")).to_contain_text(phone.t("forms.outboxEmpty"))
    expect(page.get_by_role("button", name=phone.t("forms.sendNow"))).to_be_disabled()
    assert page.evaluate(REPLAY) == "done"
    assert stored(live_server, client_id) == []
    assert submissions_of(live_server, budi) == budis_before
    # Still on the device, sealed, bound to Ayu (not to Budi).
    device = phone.device()
    [kept] = [e for e in device["entries"] if e["clientId"] == client_id]
    assert kept["state"] == "queued"
    assert kept["fields"] == CLEAR_FIELDS
    assert {k["owner"] for k in device["keys"]} != {kept["owner"]}

    # Budi signs out (nothing of his waits: no question) and is not told about Ayu's form.
    phone.sign_out_button()
    expect(page.get_by_role("heading", level=1)).to_have_text(phone.t("signin.title"))
    expect(page.locator("#live")).to_have_text(phone.t("status.signedOut"))
    expect(page.locator("#outbox-waiting")).to_have_count(0)

    # Ayu signs in again: her form goes out under her account, once.
    phone.sign_in(ayus_passkey)
    expect(page.locator("#live")).to_contain_text(phone.tp("status.waitingSent", 1))
    assert [row[0] for row in stored(live_server, client_id)] == [ayu]
    assert submissions_of(live_server, budi) == budis_before


@in_both_languages
def test_sign_out_with_a_waiting_form_asks_first_and_does_what_the_person_chose(
    live_server: LiveServer, phone: Phone
) -> None:
    """Send them first / keep them until the next sign-in / discard them."""
    sari = person_id(live_server, customer_number(3))
    passkey = enrol_passkey(live_server, sari)
    page = start_on_forms(phone, sari)

    # 1. "Send them first": offline it cannot, and says so; online it sends, then signs out.
    first = phone.queue_question_offline(f"Send first {phone.lang}")
    session = phone.sign_out_button()
    expect(page.get_by_role("heading", level=1)).to_have_text(phone.t("signOut.title"))
    expect(page.locator("#view-title")).to_be_focused()
    expect(page.locator("#sign-out-waiting")).to_have_text(phone.tp("signOut.forms", 1))
    question = json.loads((CATALOGUE / "general-question.v1.json").read_text())["title"]
    expect(page.locator("#view ul.list li")).to_contain_text([question[phone.lang]])
    send = page.get_by_role("button", name=phone.t("signOut.send"))
    expect(send).to_have_accessible_description(phone.t("signOut.sendNote"))
    phone.screenshot("outbox-sign-out-question")
    send.click()
    expect(page.locator("#sign-out-outcome")).to_have_text(phone.t("signOut.offline"))
    expect(page.locator("#sign-out-outcome")).to_be_focused()
    assert stored(live_server, first) == []
    phone.context.set_offline(False)
    page.get_by_role("button", name=phone.t("signOut.send")).click()
    expect(page.locator("#live")).to_have_text(phone.t("status.signedOutSent"))
    expect(page.get_by_role("heading", level=1)).to_have_text(phone.t("signin.title"))
    assert [row[0] for row in stored(live_server, first)] == [sari]
    phone.wait_for_session_end(session)
    assert phone.device() is None  # nothing left on the device at all

    # 2. "Keep them on this device" (offline: the sign-out itself waits for the connection).
    phone.sign_in(passkey)
    phone.open_forms()
    kept = phone.queue_question_offline(f"Keep {phone.lang}")
    session = phone.sign_out_button()
    keep = page.get_by_role("button", name=phone.t("signOut.keep"))
    expect(keep).to_have_accessible_description(phone.t("signOut.keepNote"))
    keep.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(phone.t("signin.title"))
    expect(page.locator("#live")).to_have_text(phone.t("status.signOutPending"))
    expect(page.locator("#outbox-waiting")).to_contain_text(phone.tp("signin.waitingForms", 1))
    phone.context.set_offline(False)
    # Back online the sign-out is finished, and the kept form is not sent: the person chose
    # to send it only after signing in again (the cookie worked until then).
    expect(page.locator("#live")).to_have_text(phone.tp("status.signedOutKept", 1))
    phone.wait_for_session_end(session)
    assert page.evaluate(REPLAY) == "signedOut"
    assert stored(live_server, kept) == []
    phone.sign_in(passkey)
    expect(page.locator("#live")).to_contain_text(phone.tp("status.waitingSent", 1))
    assert [row[0] for row in stored(live_server, kept)] == [sari]

    # 3. "Discard them": gone from the device, never sent, also after signing in again.
    phone.open_forms()
    discarded = phone.queue_question_offline(f"Discard {phone.lang}")
    session = phone.sign_out_button()
    discard = page.get_by_role("button", name=phone.t("signOut.discard"))
    expect(discard).to_have_accessible_description(phone.t("signOut.discardNote"))
    discard.click()
    expect(page.locator("#live")).to_have_text(phone.t("status.signOutPending"))
    expect(page.locator("#outbox-waiting")).to_have_count(0)
    phone.context.set_offline(False)
    expect(page.locator("#live")).to_have_text(phone.t("status.signedOut"))
    phone.wait_for_session_end(session)
    assert phone.device() is None
    phone.sign_in(passkey)
    phone.open_forms()
    expect(page.locator(f"#entry-{discarded}")).to_have_count(0)
    assert page.evaluate(REPLAY) == "done"
    assert stored(live_server, discarded) == []


MIGRATE_EXAMPLE = """async () => {
    const { migrateDraft } = await import("/js/form-migrate.js");
    const label = (en) => ({ en, nl: en });
    const from = { version: 1, jsonSchema: { type: "object", properties: {
        name: { type: "string" }, plan: { type: "string", enum: ["a", "b"] },
        amount: { type: "integer" } } },
      ui: { order: ["/name", "/plan", "/amount"], fields: {
        "/name": { widget: "text", label: label("Name") },
        "/plan": { widget: "select", label: label("Plan"),
                   options: { a: label("A"), b: label("B") } },
        "/amount": { widget: "text", label: label("Amount") } } } };
    const to = { version: 2, jsonSchema: { type: "object", required: ["iban"], properties: {
        name: { type: "string" }, plan: { type: "string", enum: ["a"] },
        amount: { type: "string" }, iban: { type: "string" } } },
      ui: { order: ["/name", "/plan", "/amount", "/iban"], fields: {
        "/name": { widget: "text", label: label("Name") },
        "/plan": { widget: "select", label: label("Plan"), options: { a: label("A") } },
        "/amount": { widget: "text", label: label("Amount") },
        "/iban": { widget: "text", label: label("IBAN") } } } };
    return migrateDraft(from, to, { name: "Ayu", plan: "b", amount: 12 }, []);
}"""


@in_both_languages
def test_a_form_on_a_retired_version_moves_to_the_current_one_and_is_sent(
    live_server: LiveServer, phone: Phone
) -> None:
    ayu = person_id(live_server, DEMO_CUSTOMER_NUMBER)
    page = start_on_forms(phone, ayu)
    # Queued long ago on change-of-address v1, which DUO no longer accepts; and a draft of a
    # question started on general-question v1, which DUO accepts for 80 more days.
    address = {
        "addressLine1": "Jalan Sudirman 1",
        "postalCode": "10220",
        "city": "Jakarta",
        "country": "ID",
        "movedOn": "2026-10-01",
    }
    old_id = page.evaluate(
        """async (content) => {
            const { query } = await import("/js/api.js");
            const outbox = await import("/js/outbox.js");
            const first = async (id) => (await query("FormsDefinition", { id, version: 1 })).form;
            const v1 = await first("change-of-address");
            const q1 = await first("general-question");
            await outbox.saveDraft({ formId: q1.formId, formVersion: 1, definition: q1,
                values: { topic: "repayment", subject: "Started on version 1" },
                files: [], errors: {} });
            return (await outbox.enqueue({ definition: v1, content, files: [] })).clientId;
        }""",
        address,
    )
    page.reload()
    retired = page.locator(f"#entry-{old_id}")
    expect(retired).to_have_attribute("data-state", "retired", timeout=20_000)
    expect(retired).to_contain_text(phone.t("forms.state.retired"))
    expect(retired).to_contain_text(phone.t("forms.next.retired"))
    phone.screenshot("outbox-retired")
    assert stored(live_server, old_id) == []
    # The draft on a version that will soon be refused says until when.
    question = page.locator("#catalogue li", has=page.locator("a[href='#/forms/general-question']"))
    expect(question).to_contain_text(phone.before("forms.draftAcceptedUntil", "version"))
    page.locator("#catalogue a[href='#/forms/general-question']").click()
    expect(page.locator("#accepted-until")).to_contain_text(
        phone.before("forms.draftAcceptedUntil", "version")
    )
    expect(page.locator("#f-subject")).to_have_value("Started on version 1")
    page.get_by_role("link", name=phone.t("forms.back")).click()

    # The person moves the retired one to the current version and sees what changed.
    retired.get_by_role("button", name=phone.t("forms.moveToNewVersion")).click()
    expect(page.locator("#changes-title")).to_have_text(phone.t("forms.changes.title"))
    expect(page.locator("#changes-title")).to_be_focused()
    expect(page.locator("#live")).to_have_text(phone.t("forms.changes.announce"))
    moved_text = phone.t("forms.changes.text", **{"from": 1, "to": 2})
    expect(page.locator("#changes")).to_contain_text(moved_text)
    v2 = json.loads((CATALOGUE / "change-of-address.v2.json").read_text())
    labels = v2["ui"]["fields"]
    added = page.locator("#changes-added li")
    expect(added).to_have_text(
        [labels[p]["label"][phone.lang] for p in ("/addressLine2", "/region", "/phone")]
    )
    expect(page.locator("#changes")).to_contain_text(phone.t("forms.changes.allCarried"))
    expect(page.locator("#replaces-note")).to_have_text(phone.t("forms.replacesNote"))
    phone.screenshot("outbox-new-version")
    expect(page.locator("#draft-note")).to_contain_text("2")
    for name, value in address.items():
        expect(page.locator(f"#f-{name}")).to_have_value(value)
    # The old entry waits in the outbox until its successor is queued.
    waiting = page.evaluate("async () => (await import('/js/outbox.js')).listOutbox()")
    assert [(e["clientId"], e["state"]) for e in waiting] == [(old_id, "retired")]

    page.locator("#f-region").fill("DKI Jakarta")
    page.get_by_role("button", name=phone.t("forms.send"), exact=True).click()
    received = page.locator("#outbox li.outbox-entry[data-state='received']")
    expect(received).to_have_count(1, timeout=20_000)
    expect(page.locator(f"#entry-{old_id}")).to_have_count(0)
    new_id = (received.get_attribute("id") or "").removeprefix("entry-")
    [(owner, version, content)] = stored(live_server, new_id)
    assert (owner, version) == (ayu, 2)
    assert content == {**address, "region": "DKI Jakarta"}
    assert stored(live_server, old_id) == []

    # What does not carry over is listed with the answer given, never dropped silently: a
    # choice that no longer exists, a number that became text; a new required question.
    moved = page.evaluate(MIGRATE_EXAMPLE)
    assert moved["values"] == {"name": "Ayu"}
    assert [(d["pointer"], d["answer"]) for d in moved["changes"]["dropped"]] == [
        ("/plan", {"text": {"en": "B", "nl": "B"}}),
        ("/amount", {"plain": "12"}),
    ]
    assert moved["changes"]["added"] == [
        {"pointer": "/iban", "label": {"en": "IBAN", "nl": "IBAN"}, "required": True}
    ]


@in_both_languages
def test_the_service_worker_keeps_the_form_when_the_session_ended_with_the_app_closed(
    live_server: LiveServer, phone: Phone
) -> None:
    """Background Sync with no window open meets an ended session: nothing is dropped."""
    ayu = person_id(live_server, DEMO_CUSTOMER_NUMBER)
    passkey = enrol_passkey(live_server, ayu)
    phone.context.grant_permissions(["notifications"], origin=live_server.origin)
    page = start_on_forms(phone, ayu)
    client_id = phone.queue_question_offline(f"App closed {phone.lang}")

    # Close the app; about:blank keeps the browser and gives DevTools to fire the sync event.
    blank = phone.context.new_page()
    devtools = phone.context.new_cdp_session(blank)
    scopes: dict[str, str] = {}
    devtools.on(
        "ServiceWorker.workerRegistrationUpdated",
        lambda event: scopes.update(
            {r["scopeURL"]: r["registrationId"] for r in event["registrations"]}
        ),
    )
    devtools.send("ServiceWorker.enable")
    page.close()
    [worker] = [w for w in phone.context.service_workers if w.url.endswith("/sw-module.js")]
    assert worker.evaluate(COUNT_WINDOWS) == 0

    # The session passes its absolute end; then the connection comes back.
    end_sessions(live_server, ayu, "absolute")
    phone.context.set_offline(False)
    wait_until(lambda: f"{live_server.origin}/" in scopes, "no service worker registration")
    devtools.send(
        "ServiceWorker.dispatchSyncEvent",
        {
            "origin": live_server.origin,
            "registrationId": scopes[f"{live_server.origin}/"],
            "tag": "duo-outbox",
            "lastChance": False,
        },
    )
    # The worker tells the person (in the app's language) and keeps the form, sealed.
    title = phone.tp("forms.backgroundSignIn", 1)
    wait_until(lambda: worker.evaluate(NOTIFICATIONS) == [title], "no notification")
    assert stored(live_server, client_id) == []
    kept = worker.evaluate(
        """async () => {
            const db = await new Promise((resolve) => {
                const request = indexedDB.open("duo-abroad");
                request.onsuccess = () => resolve(request.result);
            });
            const entries = await new Promise((resolve) => {
                const request = db.transaction("outbox").objectStore("outbox").getAll();
                request.onsuccess = () => resolve(request.result);
            });
            db.close();
            return entries.map((e) => [e.clientId, e.state, Boolean(e.sealed)]);
        }"""
    )
    assert kept == [[client_id, "queued", True]]

    # Opened again, the app says what waits; the person signs in and it goes out once.
    app = phone.open_app("/")
    expect(app.get_by_role("heading", level=1)).to_have_text(phone.t("signin.title"))
    expect(app.locator("#outbox-waiting")).to_contain_text(phone.tp("signin.waitingForms", 1))
    phone.sign_in(passkey)
    expect(app.locator("#live")).to_contain_text(phone.tp("status.waitingSent", 1))
    assert [row[0] for row in stored(live_server, client_id)] == [ayu]


# IndexedDB as the app left it before the outbox was bound to its owner (database version 2):
# drafts by form, entries in clear with their files.
LEGACY_DEVICE = """async ({ content, png }) => {
    const { query } = await import("/js/api.js");
    const definition = (await query("FormsDefinition", { id: "general-question" })).form;
    const db = await new Promise((resolve, reject) => {
        const request = indexedDB.open("duo-abroad", 2);
        request.onupgradeneeded = () => {
            request.result.createObjectStore("snapshots", { keyPath: "name" });
            request.result.createObjectStore("drafts", { keyPath: "formId" });
            request.result.createObjectStore("outbox", { keyPath: "clientId" });
        };
        request.onsuccess = () => resolve(request.result);
        request.onerror = () => reject(request.error);
    });
    const clientId = crypto.randomUUID();
    const blob = new Blob([new Uint8Array(png)], { type: "image/png" });
    const file = { key: "photo", pointer: "/attachments", name: "evidence.png", type: "image/png" };
    await new Promise((resolve, reject) => {
        const tx = db.transaction(["outbox", "drafts"], "readwrite");
        tx.objectStore("outbox").put({
            clientId, formId: definition.formId, formVersion: definition.version,
            title: definition.title, definition, content, state: "queued", errors: [],
            files: [{ ...file, blob, attachmentId: null }], receipt: null, submissionId: null,
            receivedAt: null, queuedAt: Date.now() });
        tx.objectStore("drafts").put({
            formId: definition.formId, formVersion: definition.version, definition,
            values: { subject: "Draft from before" }, files: [], errors: {},
            savedAt: Date.now() });
        tx.oncomplete = resolve;
        tx.onerror = () => reject(tx.error);
    });
    db.close();
    return clientId;
}"""


def test_forms_waiting_when_the_app_is_updated_are_kept_and_sent(
    live_server: LiveServer, browser: Browser
) -> None:
    """A device that queued a form with the app before this change: nothing is lost."""
    context = new_phone(browser)
    try:
        ayu = person_id(live_server, DEMO_CUSTOMER_NUMBER)
        token = new_session(live_server, ayu)
        context.add_cookies(
            [{"name": live_server.cookie_name, "value": token, "url": live_server.origin}]
        )
        page = context.new_page()
        problems = watch_for_problems(page)
        # A page of the origin that is not the app, to leave the old database behind.
        page.goto(f"{live_server.origin}/manifest.webmanifest")
        content = {"topic": "repayment", "subject": "Before the update", "question": "Still there?"}
        client_id = page.evaluate(LEGACY_DEVICE, {"content": content, "png": list(tiny_png())})

        page.goto(f"{live_server.origin}/#/forms")
        received = page.locator(f"#entry-{client_id}")
        expect(received).to_have_attribute("data-state", "received", timeout=20_000)
        [(owner, _, stored_content)] = stored(live_server, client_id)
        assert owner == ayu
        assert stored_content["subject"] == "Before the update"
        assert len(stored_content["attachments"]) == 1
        # The draft moved along, now sealed for its owner like every other record.
        page.locator("#catalogue a[href='#/forms/general-question']").click()
        expect(page.locator("#f-subject")).to_have_value("Draft from before")
        device = page.evaluate(READ_DEVICE)
        assert [e["fields"] for e in device["entries"]] == [CLEAR_FIELDS]
        assert problems == [], problems
    finally:
        context.close()
