"""A form the app said it would send is never lost (issue 10), in Chromium, in English and Dutch.

Sessions that end while forms wait (offline, with the app closed), sign-out with forms waiting
(each of its three choices), another person signing in on the same device, and a form on a
version DUO no longer accepts. Each scenario runs in both languages (the texts asserted are
read from the app's locale files) and checks the rows in the server's database, not only the
screen. Sign-in is the app's own: a passkey from a CDP virtual authenticator.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from uuid import UUID

import pytest
from playwright.sync_api import Browser, Page, expect

from api.settings import PROJECT_ROOT
from records.demo import DEMO_CUSTOMER_NUMBER, customer_number
from tests.e2e.authenticator import TRACK_AUTOFILL, VirtualAuthenticator
from tests.e2e.conftest import LiveServer, new_phone, watch_for_problems
from tests.e2e.phones import (
    READ_DEVICE,
    Phone,
    end_sessions,
    enrol_passkey,
    new_session,
    person_id,
    stored,
    submissions_of,
    wait_until,
)
from tests.e2e.test_forms_outbox import tiny_png, wait_for_service_worker

pytestmark = pytest.mark.e2e

LOCALES = {"en": "en-GB", "nl": "nl-NL"}
CATALOGUE = Path(str(resources.files("forms").joinpath("catalogue")))
# What the outbox keeps of an entry in clear: enough to count and order, nothing of the form.
CLEAR_FIELDS = ["blobs", "clientId", "owner", "queuedAt", "sealed", "state"]
REPLAY = "async () => (await import('/js/outbox.js')).replay()"
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
            const { saveDraft } = await import("/js/drafts.js");
            await saveDraft({ formId: q1.formId, formVersion: 1, definition: q1,
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
