"""A phone with the app, and DUO's database beside it: what the outbox e2e tests act with.

The person's side (`Phone`): the app in its own browser profile, in one language, with a
passkey authenticator and the app's own sign-in; DUO's side: rows read and sessions ended in
the server's database, and passkeys registered as activation leaves them.
"""

from __future__ import annotations

import asyncio
import secrets
import tempfile
import time
from base64 import b64decode
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import cbor2
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from playwright.sync_api import BrowserContext, Page, expect
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.database import create_engine, create_session_factory, utcnow
from auth.models import Passkey, WebAuthnUser, WebSession
from auth.sessions import create_session, hash_token
from forms.models import FormSubmission
from records.models import Person
from tests.e2e.authenticator import VirtualAuthenticator
from tests.e2e.conftest import LiveServer, watch_for_problems
from tests.e2e.test_forms_outbox import tiny_png

T = TypeVar("T")
SHOTS = Path(tempfile.gettempdir()) / "duo-abroad-screens"
# What the app keeps in IndexedDB, as anyone with the browser's developer tools could see it.
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
CLIENT_IDS = """async () =>
    (await (await import("/js/outbox.js")).listOutbox()).map((entry) => entry.clientId)"""


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


def wait_until(check: Callable[[], bool], what: str, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)
