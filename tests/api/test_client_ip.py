"""The client's address: X-Forwarded-For is believed only from TRUSTED_PROXIES, everywhere."""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.app import create_app
from api.clientip import resolve
from api.settings import LOOPBACK, PROJECT_ROOT, Settings, SettingsError, load_settings
from auth.models import AuditEvent, WebSession
from tests.auth.flows import activate, new_code
from tests.support import asgi_client
from tests.webauthn_soft import SoftAuthenticator

PROXY = (ipaddress.ip_network("10.0.0.0/8"),)
BOGUS_LOGIN = {"id": "AAAA", "rawId": "AAAA", "type": "public-key", "response": {}}


@pytest.mark.parametrize(
    ("peer", "header", "trusted", "client"),
    [
        # Nothing trusted (production's default): the header is the client's own words.
        ("203.0.113.9", ["198.51.100.1"], (), "203.0.113.9"),
        ("127.0.0.1", ["198.51.100.1"], (), "127.0.0.1"),
        # From a trusted proxy: the address it saw, the right-most entry.
        ("10.1.2.3", ["198.51.100.1"], PROXY, "198.51.100.1"),
        # A client that sends its own header through the proxy cannot choose its address.
        ("10.1.2.3", ["6.6.6.6, 198.51.100.1"], PROXY, "198.51.100.1"),
        ("10.1.2.3", ["6.6.6.6", "198.51.100.1"], PROXY, "198.51.100.1"),
        # Chains of trusted proxies are walked back to the first untrusted hop.
        ("10.1.2.3", ["6.6.6.6, 198.51.100.1, 10.9.9.9"], PROXY, "198.51.100.1"),
        # A peer that is not a trusted proxy is itself, whatever it says.
        ("198.51.100.1", ["10.1.2.3"], PROXY, "198.51.100.1"),
        # Garbage is never what a trusted proxy writes: stop at the proxy.
        ("10.1.2.3", ["not-an-ip"], PROXY, "10.1.2.3"),
        ("10.1.2.3", [""], PROXY, "10.1.2.3"),
        # The spellings proxies use; IPv4-mapped IPv6 is the IPv4 address.
        ("10.1.2.3", ["[2001:db8::1]:443"], PROXY, "2001:db8::1"),
        ("10.1.2.3", ["198.51.100.1:5000"], PROXY, "198.51.100.1"),
        ("::ffff:10.1.2.3", ["198.51.100.1"], PROXY, "198.51.100.1"),
        ("10.1.2.3", [], PROXY, "10.1.2.3"),
        (None, ["198.51.100.1"], PROXY, None),
    ],
)
def test_resolving_the_client_address(
    peer: str | None, header: list[str], trusted: Any, client: str | None
) -> None:
    assert resolve(peer, header, trusted) == client


def test_trusted_proxies_setting() -> None:
    assert load_settings({}).trusted_proxy_networks == LOOPBACK
    assert load_settings({"DUO_ENV": "test"}).trusted_proxy_networks == LOOPBACK
    assert load_settings({"TRUSTED_PROXIES": ""}).trusted_proxy_networks == ()
    assert load_settings({"TRUSTED_PROXIES": "10.0.0.0/8, ::1"}).trusted_proxy_networks == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("::1/128"),
    )
    assert Settings(environment="production").trusted_proxy_networks == ()
    with pytest.raises(SettingsError, match="TRUSTED_PROXIES"):
        load_settings({"TRUSTED_PROXIES": "10.0.0.0/33"})


def _app(settings: Settings, factory: async_sessionmaker[AsyncSession]) -> Litestar:
    return create_app(settings, session_factory=factory)


async def _login_statuses(client: httpx.AsyncClient, forwarded: list[str]) -> list[int]:
    return [
        (
            await client.post("/auth/login", json=BOGUS_LOGIN, headers={"x-forwarded-for": ip})
        ).status_code
        for ip in forwarded
    ]


async def test_an_untrusted_header_does_not_escape_the_per_ip_limit(
    settings: Settings, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    """TRUSTED_PROXIES empty: 61 attempts, each claiming another address, are one address."""
    app = _app(settings.with_overrides(trusted_proxies=()), session_factory)
    async with asgi_client(app) as client:
        statuses = await _login_statuses(client, [f"198.51.100.{i}" for i in range(61)])
    assert statuses[:60] == [400] * 60
    assert statuses[60] == 429


async def test_behind_a_trusted_proxy_each_client_has_its_own_limit_and_address(
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    db: AsyncSession,
    person_factory: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The test client connects from 127.0.0.1, a trusted proxy by default outside production:
    rate limits, the audit trail, the session and the access log see the forwarded client."""
    app = _app(settings, session_factory)
    async with asgi_client(app) as client:
        busy = await _login_statuses(client, ["198.51.100.7"] * 61)
        assert busy[60] == 429
        # Another client behind the same proxy is not locked out by the first one.
        assert await _login_statuses(client, ["198.51.100.8"]) == [400]

        me = await person_factory()
        code = await new_code(db, me.person["customer_number"])
        client.headers["x-forwarded-for"] = "6.6.6.6, 203.0.113.5"  # the first one is made up
        finished = await activate(client, SoftAuthenticator(), code, me.person["date_of_birth"])
        assert finished.status_code == 200, finished.text
    db.expire_all()
    audited = await db.scalars(
        select(AuditEvent.ip_address).where(
            AuditEvent.person_id == me.person["id"], AuditEvent.actor == "person"
        )
    )
    assert set(audited.all()) == {"203.0.113.5"}
    session_ip = await db.scalar(
        select(WebSession.ip_address).where(WebSession.person_id == me.person["id"])
    )
    assert session_ip == "203.0.113.5"
    logged = capsys.readouterr().err
    assert '"ip": "198.51.100.8"' in logged  # the access log line of that request
    assert "6.6.6.6" not in logged


# --- the real server: uvicorn must not believe the header by itself --------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """`duo-abroad serve` on SQLite with TRUSTED_PROXIES empty; its URL and PUBLIC_ORIGIN."""
    port = _free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DUO_ENV": "test",
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite3'}",
        "PUBLIC_ORIGIN": f"http://localhost:{port}",
        "TRUSTED_PROXIES": "",
        "LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "api.cli"]
    migrated = subprocess.run(  # noqa: S603 - our own module, fixed arguments
        [*command, "migrate"], env=env, cwd=PROJECT_ROOT, capture_output=True, check=False
    )
    assert migrated.returncode == 0, migrated.stderr
    log = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen(  # noqa: S603
        [*command, "serve", "--port", str(port)],
        env=env,
        cwd=PROJECT_ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, (tmp_path / "server.log").read_text()
            try:
                if httpx.get(f"{base}/health/live", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)
        yield base, env["PUBLIC_ORIGIN"]
    finally:
        process.terminate()
        process.wait(timeout=15)
        log.close()


def test_serve_does_not_believe_forwarded_for_from_the_host(served: tuple[str, str]) -> None:
    """uvicorn's default trusts X-Forwarded-For from 127.0.0.1: anything on the host could pick
    the address that per-IP limits count. With TRUSTED_PROXIES empty, nothing is believed."""
    base, origin = served
    with httpx.Client(base_url=base, headers={"origin": origin}) as client:
        statuses = [
            client.post(
                "/auth/login", json=BOGUS_LOGIN, headers={"x-forwarded-for": f"198.51.100.{i}"}
            ).status_code
            for i in range(61)
        ]
    assert statuses[:60] == [400] * 60
    assert statuses[60] == 429
