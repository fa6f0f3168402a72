"""The production topology, end to end: Caddy with TLS (its internal CA) on https://localhost:<port>
in front of 2 app processes and 2 workers of the installed package, on PostgreSQL and Redis.

In Chromium over https: activation, a passkey (RP ID localhost, the `__Host-` session cookie),
sign-in, a form, and a reminder that reaches the real push receiver. Then one app process and
one worker are killed (SIGKILL) and the same journey and a second reminder still complete,
exactly once, through what is left. Metrics of every process add up on one scrape.

The processes run with DUO_ENV=test and otherwise production's settings: production sends
pushes only to public push services over https, and the receiver here is on loopback.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from playwright.sync_api import BrowserContext, Page, expect, sync_playwright
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select, update

from api.database import create_engine, create_session_factory, utcnow
from records.demo import DEMO_CUSTOMER_NUMBER, DEMO_DATE_OF_BIRTH
from records.models import Deadline, Person
from tests.deploy.support import Installed, outside_checkout, production_env, stop, wait_ready
from tests.e2e.authenticator import TRACK_AUTOFILL, VirtualAuthenticator
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, _in_thread, new_phone, watch_for_problems
from tests.e2e.test_forms_outbox import COUNT_SUBMISSIONS
from tests.e2e.test_passkeys import with_autofill_pending
from tests.notifications.conftest import RECEIVER
from tests.notifications.support import add_deadline, free_port, set_preferences

pytestmark = pytest.mark.e2e

CADDYFILE = Path(__file__).resolve().parents[2] / "deploy" / "Caddyfile"
CODE = re.compile(r"[0-9A-Z]{4}(?:-[0-9A-Z]{4}){3}")
# A reminder is posted by the minute tick (one worker at a time), then delivered.
REMINDER_TIMEOUT_S = 150.0


class Topology:
    """The processes of one host, and how to reach them."""

    def __init__(self, installed: Installed, env: dict[str, str], cwd: Path, logs: Path) -> None:
        self.installed = installed
        self.env = env
        self.cwd = cwd
        self.logs = logs
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(
        self, name: str, *args: str, program: str | None = None, env: dict[str, str] | None = None
    ) -> Path:
        """`duo-abroad ARGS` (or `program ARGS`) with the topology's environment (or `env`)."""
        log = self.logs / f"{name}.log"
        command = [program or str(self.installed.cli), *args]
        with log.open("wb") as out:
            self.processes[name] = subprocess.Popen(  # noqa: S603 - fixed commands
                command, env=env or self.env, cwd=self.cwd, stdout=out, stderr=out
            )
        return log

    def kill(self, name: str) -> None:
        """SIGKILL: no shutdown code runs, as when a machine or the OOM killer takes it."""
        process = self.processes[name]
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def stop_all(self) -> None:
        for process in self.processes.values():
            stop(process)


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[str]:
    node = shutil.which("node")
    if node is None or not RECEIVER.exists():
        pytest.fail("the Web Push receiver is missing: run `npm ci` (scripts/test-prereqs.sh)")
    port = free_port()
    with (tmp_path / "receiver.log").open("wb") as out:
        process = subprocess.Popen([node, str(RECEIVER), str(port)], stdout=out, stderr=out)  # noqa: S603
    base = f"http://localhost:{port}"
    try:
        _until(lambda: _status(f"{base}/status", method="POST") == 200, 20, "push receiver")
        yield base
    finally:
        stop(process)


def _status(url: str, *, method: str = "GET", **client: Any) -> int | None:
    try:
        return httpx.request(method, url, timeout=3, **client).status_code
    except httpx.TransportError:
        return None


def _until(check: Callable[[], object], seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}")


def _health_failures(caddy_log: Path, port: int) -> int:
    """How many of Caddy's active health checks of this upstream have failed so far."""
    return sum(
        1
        for line in caddy_log.read_text(errors="replace").splitlines()
        if "health_checker" in line and f'"host":"127.0.0.1:{port}"' in line
    )


def _spki_sha256(certificate: Path) -> str:
    """What --ignore-certificate-errors-spki-list wants: base64 SHA-256 of the leaf's SPKI."""
    leaf = x509.load_pem_x509_certificate(certificate.read_bytes())
    spki = leaf.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


async def _prepare_person(url: str) -> uuid.UUID:
    """The demo person with no reminders of their own demo deadlines and no quiet hours, so
    that the only reminders are this test's, at any hour of the day the test runs."""
    engine = create_engine(url)
    try:
        async with create_session_factory(engine)() as db:
            person_id = await db.scalar(
                select(Person.id).where(Person.customer_number == DEMO_CUSTOMER_NUMBER)
            )
            assert person_id is not None
            await db.execute(
                update(Deadline)
                .where(Deadline.person_id == person_id)
                .values(completed_at=utcnow())
            )
            await set_preferences(db, person_id)
            await db.commit()
            return person_id
    finally:
        await engine.dispose()


async def _due_reminder(url: str, person_id: uuid.UUID) -> uuid.UUID:
    """A deadline whose 1-day reminder fell due a few minutes ago."""
    engine = create_engine(url)
    try:
        async with create_session_factory(engine)() as db:
            deadline_id = await add_deadline(
                db, person_id, due_in=timedelta(days=1) - timedelta(minutes=5)
            )
            await db.commit()
            return deadline_id
    finally:
        await engine.dispose()


def _messages(receiver: str, client_hash: str) -> list[dict[str, Any]]:
    response = httpx.post(f"{receiver}/get-notifications", json={"clientHash": client_hash})
    assert response.status_code == 200, response.text
    return [json.loads(m) for m in response.json()["data"]["messages"]]


def _sign_out_and_in(page: Page, phone: VirtualAuthenticator, name: str) -> None:
    """Sign out, then in again with the passkey button, as in tests/e2e/test_passkeys.py: the
    sign-in page's autofill request is kept waiting so that the button does the signing in."""
    with_autofill_pending(
        page,
        phone,
        lambda: page.get_by_role("button", name="Sign out", exact=True).click(),
    )
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Hello, {name}")


def _send_question(page: Page, origin: str, subject: str) -> None:
    """ "Ask DUO a question", sent while online: it shows as received, and the server has it."""
    before = len(page.evaluate(COUNT_SUBMISSIONS))
    page.goto(f"{origin}/#/forms")
    page.locator("#catalogue").get_by_role("link", name="Ask DUO a question").click()
    page.get_by_label("Topic").select_option("repayment")
    page.get_by_label("Subject", exact=True).fill(subject)
    page.get_by_label("Your question").fill("How do I pay from Indonesia?")
    page.get_by_role("button", name="Send").click()
    received = page.locator("#outbox li.outbox-entry[data-state='received']")
    expect(received).not_to_have_count(0, timeout=20_000)
    assert len(page.evaluate(COUNT_SUBMISSIONS)) == before + 1


def _subscribe(page: Page, receiver: str) -> str:
    """What the PWA does on opt-in (PushManager.subscribe cannot reach a push service here):
    the push service's subscription, handed to the server with the page's own session."""
    key = page.evaluate(
        "async () => (await (await import('/js/api.js')).query('PushSettings'))"
        ".viewer.pushPublicKey"
    )
    made = httpx.post(
        f"{receiver}/subscribe", json={"applicationServerKey": key, "userVisibleOnly": "true"}
    ).json()["data"]
    device = {"endpoint": made["endpoint"], "keys": made["keys"], "deviceName": "Topology phone"}
    page.evaluate(
        "async (input) => (await import('/js/api.js')).mutate('SubscribePush', {input})", device
    )
    client_hash: str = made["clientHash"]
    return client_hash


def _scrape(url: str, token: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = httpx.get(url, headers={"authorization": f"Bearer {token}"}, timeout=10)
    assert response.status_code == 200, response.text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def test_tls_topology_survives_a_killed_app_process_and_worker(
    installed: Installed, scratch_database: str, receiver: str, tmp_path: Path
) -> None:
    caddy = shutil.which("caddy")
    if caddy is None or not CHROMIUM.exists():
        reason = "caddy and chromium are needed (scripts/test-prereqs.sh installs them)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    cwd = outside_checkout(tmp_path)
    site_port = free_port()
    origin = f"https://localhost:{site_port}"
    env = production_env(
        installed,
        database_url=scratch_database,
        public_origin=origin,
        data=cwd,
        DUO_ENV="test",
        TRUSTED_PROXIES="127.0.0.1/32,::1/128",
    )
    installed.run("migrate", env=env, cwd=cwd)
    installed.run("seed-demo", "--persons", "3", env=env, cwd=cwd)
    person_id = _in_thread(asyncio.run, _prepare_person(scratch_database))
    issued = installed.run(
        "activation", "issue", "--customer", DEMO_CUSTOMER_NUMBER, env=env, cwd=cwd
    ).stdout
    code = CODE.search(issued)
    name = re.search(r"activation code for (.+) \(", issued)
    assert code is not None, issued
    assert name is not None, issued

    topology = Topology(installed, env, cwd, tmp_path)
    try:
        app_ports = [free_port(), free_port()]
        for index, port in enumerate(app_ports):
            log = topology.start(f"app{index}", "serve", "--host", "127.0.0.1", "--port", str(port))
            wait_ready(
                f"http://127.0.0.1:{port}/health/ready", topology.processes[f"app{index}"], log
            )

        site = tmp_path / "caddy"
        (site / "sites").mkdir(parents=True)
        shutil.copy(CADDYFILE, site / "Caddyfile")
        caddy_env = {
            "PATH": env["PATH"],
            "HOME": str(site),
            "CADDY_GLOBAL_OPTIONS": "\n".join(
                [
                    "admin off",
                    "auto_https disable_redirects",
                    "skip_install_trust",
                    f"http_port {free_port()}",
                    f"storage file_system {site / 'data'}",
                ]
            ),
            "DUO_SITE": origin,
            "DUO_TLS": "tls internal",
            "DUO_UPSTREAMS": " ".join(f"127.0.0.1:{p}" for p in app_ports),
        }
        caddy_log = topology.start(
            "caddy",
            "run",
            "--config",
            str(site / "Caddyfile"),
            "--adapter",
            "caddyfile",
            program=caddy,
            env=caddy_env,
        )
        caddy_process = topology.processes["caddy"]
        root_ca = site / "data" / "pki" / "authorities" / "local" / "root.crt"
        leaf = site / "data" / "certificates" / "local" / "localhost" / "localhost.crt"
        _until(
            lambda: caddy_process.poll() is None and root_ca.exists() and leaf.exists(),
            30,
            "Caddy's certificates (or Caddy exited: see caddy.log)",
        )
        ca = ssl.create_default_context(cafile=str(root_ca))
        wait_ready(f"{origin}/health/ready", caddy_process, caddy_log, verify=ca)

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM),
                args=[
                    *CHROMIUM_ARGS,
                    f"--ignore-certificate-errors-spki-list={_spki_sha256(leaf)}",
                ],
            )
            context: BrowserContext = new_phone(browser)
            context.add_init_script(script=TRACK_AUTOFILL)
            page = context.new_page()
            problems = watch_for_problems(page)
            phone = VirtualAuthenticator.attach(page)

            # 1. Activation over https: code, date of birth, a passkey for RP ID localhost.
            page.goto(f"{origin}/")
            page.get_by_role("link", name="Activate your account").click()
            page.get_by_label("Activation code").fill(code.group(0))
            page.get_by_label("Date of birth").fill(DEMO_DATE_OF_BIRTH.isoformat())
            page.get_by_role("button", name="Continue and create a passkey").click()
            expect(page.get_by_role("heading", level=1)).to_have_text("Save your recovery key")
            (credential,) = phone.credentials()
            assert credential["rpId"] == "localhost"
            page.get_by_label("I have saved my recovery key somewhere safe").check()
            page.get_by_role("button", name="Continue", exact=True).click()
            expect(page.get_by_role("heading", level=1)).to_have_text(f"Hello, {name.group(1)}")
            cookie = next(c for c in context.cookies() if c["name"] == "__Host-duo_session")
            assert cookie["secure"] is True
            assert cookie["httpOnly"] is True
            assert cookie["path"] == "/"

            # 2. Sign out, sign in with the passkey; 3. a form; 4. a reminder by push.
            _sign_out_and_in(page, phone, name.group(1))
            _send_question(page, origin, "Before the crash")
            client_hash = _subscribe(page, receiver)
            first = _in_thread(asyncio.run, _due_reminder(scratch_database, person_id))
            for index in range(2):
                topology.start(f"worker{index}", "worker")
            (message,) = _until(
                lambda: _messages(receiver, client_hash), REMINDER_TIMEOUT_S, "reminder 1"
            )
            assert message["type"] == "reminder"
            assert message["deadlineId"] == str(first)

            # 5. One app process and one worker die without a word.
            noticed_before = _health_failures(caddy_log, app_ports[0])
            topology.kill("app0")
            topology.kill("worker0")
            # Requests without a body go elsewhere at once; one with a body in flight to the
            # dead process would fail once (deploy/Caddyfile): go on when Caddy knows.
            _until(
                lambda: _health_failures(caddy_log, app_ports[0]) > noticed_before,
                30,
                "Caddy's health check to notice the killed process",
            )

            # 6. The same journey through what is left, and a second reminder.
            _sign_out_and_in(page, phone, name.group(1))
            _send_question(page, origin, "After the crash")
            second = _in_thread(asyncio.run, _due_reminder(scratch_database, person_id))
            messages = _until(
                lambda: len(found := _messages(receiver, client_hash)) >= 2 and found,
                REMINDER_TIMEOUT_S,
                "reminder 2",
            )
            time.sleep(2)  # a duplicate would arrive about now
            messages = _messages(receiver, client_hash)
            assert [m["deadlineId"] for m in messages] == [str(first), str(second)]
            assert problems == [], problems
            context.close()
            browser.close()

        # One scrape of the surviving app process counts every process of the host: the
        # killed app's requests, both workers' pushes.
        samples = _scrape(f"http://127.0.0.1:{app_ports[1]}/metrics", env["METRICS_TOKEN"])
        signed_in = samples.get(
            ("duo_auth_ceremonies_total", frozenset({("step", "sign_in"), ("outcome", "ok")})), 0
        )
        assert signed_in == 2
        accepted = samples.get(
            ("duo_form_submissions_total", frozenset({("outcome", "accepted")})), 0
        )
        assert accepted == 2
        for line in (tmp_path / "app1.log").read_text().splitlines():
            json.loads(line)  # LOG_JSON
    finally:
        topology.stop_all()
