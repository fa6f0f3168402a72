"""Fixtures for the push tests: a real Web Push receiver (npm web-push-testing) and an app whose
push machinery is closed at teardown."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from api.app import create_app
from api.settings import PROJECT_ROOT, Settings
from records.models import Person
from tests.notifications.support import Committed, Sink, free_port

RECEIVER = PROJECT_ROOT / "node_modules" / "web-push-testing" / "src" / "bin" / "server.js"


@dataclass(frozen=True, slots=True)
class Receiver:
    """web-push-testing's HTTP API (all POST + JSON), see ../shared/TESTING.md."""

    base: str
    log: Path

    async def subscribe(self, application_server_key: str) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.base) as client:
            response = await client.post(
                "/subscribe",
                json={"applicationServerKey": application_server_key, "userVisibleOnly": "true"},
            )
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()["data"]
        return data

    async def messages(self, client_hash: str) -> list[str]:
        async with httpx.AsyncClient(base_url=self.base) as client:
            response = await client.post("/get-notifications", json={"clientHash": client_hash})
        assert response.status_code == 200, response.text
        messages: list[str] = response.json()["data"]["messages"]
        return messages

    async def expire(self, client_hash: str) -> None:
        async with httpx.AsyncClient(base_url=self.base) as client:
            response = await client.post(f"/expire-subscription/{client_hash}")
        assert response.status_code == 200, response.text


@pytest.fixture(scope="session")
def push_receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Receiver]:
    node = shutil.which("node")
    if node is None or not RECEIVER.exists():
        reason = (
            "!!! The Web Push receiver (npm web-push-testing) is not installed: the tests that "
            "decrypt real pushes are SKIPPED. Install it with `npm ci` "
            "(scripts/test-prereqs.sh does this)."
        )
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    port = free_port()
    log = tmp_path_factory.mktemp("push-receiver") / "receiver.log"
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - our pinned test helper, fixed arguments
            [node, str(RECEIVER), str(port)], stdout=out, stderr=subprocess.STDOUT
        )
    base = f"http://localhost:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                pytest.fail(f"web-push-testing exited: {log.read_text()}")
            try:
                if httpx.post(f"{base}/status", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"web-push-testing did not start: {log.read_text()}")
            time.sleep(0.1)
        yield Receiver(base=base, log=log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture
async def app(
    settings: Settings, session_factory: async_sessionmaker[AsyncSession]
) -> AsyncIterator[Litestar]:
    """The suite's app, its VAPID key made as at server start, its HTTP session closed after.

    (Made lazily inside a request instead, the key would live in that request's SAVEPOINT,
    which the test harness rolls back; a real server's separate transaction keeps it.)
    """
    application = create_app(settings, session_factory=session_factory)
    await application.state["push"].keys()
    yield application
    await application.state["push"].close()


@pytest.fixture
async def committed(engine: AsyncEngine) -> AsyncIterator[Committed]:
    """Sessions with real transactions, for workers whose jobs run side by side (the per-test
    transaction is one connection, which concurrent sessions cannot share). The persons made
    through it are deleted afterwards, with everything that hangs off them."""
    made = Committed(async_sessionmaker(engine, expire_on_commit=False, autoflush=False))
    try:
        yield made
    finally:
        async with made.factory() as db:
            if made.person_ids:
                await db.execute(delete(Person).where(Person.id.in_(made.person_ids)))
            await db.commit()


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    service = Sink()
    await service.start()
    yield service
    await service.stop()
