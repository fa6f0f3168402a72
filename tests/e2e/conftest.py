"""Browser tests: the real server in a subprocess, its own demo database, and Chromium.

Playwright's sync API marks its event loop as running in this thread between calls, so every
async database step here runs in a worker thread with an event loop of its own.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import ParamSpec, TypeVar

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    ViewportSize,
    expect,
    sync_playwright,
)
from sqlalchemy import make_url, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from api.database import create_engine, create_session_factory
from api.migrate import upgrade
from api.settings import PROJECT_ROOT, Settings
from auth.activation import issue_code
from auth.cookies import session_cookie_name
from auth.sessions import create_session
from records.demo import DEMO_CUSTOMER_NUMBER, seed_demo
from records.models import Person

CHROMIUM = Path("/usr/bin/chromium")
# The launch that works on these machines (see TESTING.md, "Real browser").
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE: ViewportSize = {"width": 390, "height": 844}
READY_TIMEOUT_S = 30.0
# Given to the server and used here to issue activation codes it accepts (codes are stored
# as an HMAC under this key). Set explicitly: not the dev default, whatever that becomes.
SECRET_KEY = "e2e-only-secret-key-0123456789abcdef"

# Assertions wait as long as actions do: the machine may be busy with other test runs.
expect.set_options(timeout=10_000)

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class LiveServer:
    """`duo-abroad serve` on a free port, and the database it uses."""

    origin: str
    database_url: str
    cookie_name: str
    log_path: Path

    def new_session_token(self) -> str:
        """A fresh session for the demo person, as the passkey login would create it."""
        return _in_thread(asyncio.run, _create_demo_session(self.database_url))

    def issue_activation_code(self, customer_number: str) -> IssuedActivation:
        """What DUO staff hand out after an identity check: a code for this person."""
        return _in_thread(asyncio.run, _issue_activation(self.database_url, customer_number))


@dataclass(frozen=True, slots=True)
class IssuedActivation:
    code: str
    date_of_birth: date
    name: str


@pytest.fixture(scope="module")
def chromium() -> Path:
    if CHROMIUM.exists():
        return CHROMIUM
    reason = (
        f"!!! {CHROMIUM} IS MISSING: the browser (e2e) tests cannot run. "
        "Install it with `apt-get install -y chromium` (scripts/test-prereqs.sh does this as root)."
    )
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason + " SKIPPED.")


@pytest.fixture(scope="module")
def e2e_database_url(chromium: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database with demo data, never the one the rest of the suite uses."""
    given = os.environ.get("DATABASE_URL", "")
    if given.startswith("postgresql+asyncpg://"):
        url = _in_thread(asyncio.run, _recreate_postgres_database(given))
    else:
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('e2e-db') / 'duo-abroad.sqlite3'}"
    # Alembic's env.py calls asyncio.run: a worker thread, like every other async step here.
    _in_thread(upgrade, url)
    _in_thread(asyncio.run, _seed(url))
    yield url
    if given.startswith("postgresql+asyncpg://"):
        _in_thread(asyncio.run, _drop_postgres_database(given, url))


@pytest.fixture(scope="module")
def live_server_env() -> dict[str, str]:
    """More environment for the server of a test module (override it in the module)."""
    return {}


@pytest.fixture(scope="module")
def live_server(
    e2e_database_url: str, tmp_path_factory: pytest.TempPathFactory, live_server_env: dict[str, str]
) -> Iterator[LiveServer]:
    port = _free_port()
    origin = f"http://localhost:{port}"
    executable = Path(sys.executable).parent / "duo-abroad"
    env = {
        **os.environ,
        "DUO_ENV": "test",
        "PUBLIC_ORIGIN": origin,
        "DATABASE_URL": e2e_database_url,
        "SECRET_KEY": SECRET_KEY,
        # Persisted queries only, as in production: the PWA must work without query text.
        "GRAPHQL_ADHOC": "0",
        # Staff record imports keep their files here, not in the repository's var/.
        "IMPORT_DIR": str(tmp_path_factory.mktemp("e2e-imports")),
        **live_server_env,
    }
    log_path = tmp_path_factory.mktemp("e2e-server") / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 - our own entry point, fixed arguments
            [str(executable), "serve", "--port", str(port)],
            env=env,
            cwd=PROJECT_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_ready(f"http://127.0.0.1:{port}/health/ready", process, log_path)
        settings = Settings(
            public_origin=origin, database_url=e2e_database_url, secret_key=SECRET_KEY
        )
        yield LiveServer(
            origin=origin,
            database_url=e2e_database_url,
            cookie_name=session_cookie_name(settings),
            log_path=log_path,
        )
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def browser(chromium: Path) -> Iterator[Browser]:
    # Module scope: Playwright's loop must be gone before async tests in other modules run.
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def new_phone(browser: Browser, *, locale: str = "en-GB") -> BrowserContext:
    """A fresh profile on a phone-sized screen: no service worker, storage or cookies yet."""
    context = browser.new_context(
        viewport=PHONE,
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale=locale,
        timezone_id="Europe/Amsterdam",
    )
    context.set_default_timeout(10_000)
    return context


def watch_for_problems(page: Page) -> list[str]:
    """Collect uncaught errors and Content-Security-Policy violations of a page."""
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))
    page.on(
        "console",
        lambda message: (
            problems.append(f"console: {message.text}")
            if message.type == "error" and "Content Security Policy" in message.text
            else None
        ),
    )
    return problems


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = new_phone(browser)
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    """A page that fails the test on uncaught errors and Content-Security-Policy violations."""
    page = context.new_page()
    problems = watch_for_problems(page)
    yield page
    assert problems == [], problems


@pytest.fixture
def signed_in(live_server: LiveServer, context: BrowserContext) -> str:
    """Put a valid session cookie for the demo person in the browser; returns the token."""
    token = live_server.new_session_token()
    context.add_cookies(
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
    return token


def _in_thread(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run fn in a worker thread and wait: asyncio.run works there, whatever this thread does."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(fn, *args, **kwargs).result()


async def _seed(url: str) -> None:
    engine = create_engine(url)
    try:
        async with create_session_factory(engine)() as db:
            await seed_demo(db, persons=3)
    finally:
        await engine.dispose()


async def _create_demo_session(url: str) -> str:
    engine = create_engine(url)
    try:
        async with create_session_factory(engine)() as db:
            person_id = await db.scalar(
                select(Person.id).where(Person.customer_number == DEMO_CUSTOMER_NUMBER)
            )
            assert person_id is not None, "demo person missing: was the database seeded?"
            issued = await create_session(
                db, person_id=person_id, absolute_timeout=timedelta(hours=12)
            )
            await db.commit()
            return issued.token
    finally:
        await engine.dispose()


async def _issue_activation(url: str, customer_number: str) -> IssuedActivation:
    engine = create_engine(url)
    try:
        async with create_session_factory(engine)() as db:
            issued = await issue_code(
                db, secret_key=SECRET_KEY, customer_number=customer_number, issued_by="staff:e2e"
            )
            await db.commit()
            person = issued.person
            return IssuedActivation(
                code=issued.code,
                date_of_birth=person.date_of_birth,
                name=f"{person.given_names} {person.family_name}",
            )
    finally:
        await engine.dispose()


def _e2e_database_name(url: str) -> str:
    name = f"{make_url(url).database}_e2e"
    # Interpolated into CREATE/DROP DATABASE below: only plain identifiers.
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ValueError(f"unexpected database name in DATABASE_URL: {name!r}")
    return name


async def _recreate_postgres_database(url: str) -> str:
    """Drop and create `<dbname>_e2e` beside the given database; returns its URL."""
    name = _e2e_database_name(url)
    # CREATE/DROP DATABASE cannot run inside a transaction.
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await engine.dispose()
    return make_url(url).set(database=name).render_as_string(hide_password=False)


async def _drop_postgres_database(url: str, e2e_url: str) -> None:
    name = make_url(e2e_url).database
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await engine.dispose()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_until_ready(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited with {process.returncode}:\n{_tail(log_path)}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"the server was not ready within {READY_TIMEOUT_S:.0f} s:\n{_tail(log_path)}")


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
