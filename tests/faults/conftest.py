"""Fixtures for the fault tests: PostgreSQL only (the faults are PostgreSQL's and Redis's),
TCP proxies to kill and freeze, worker processes to kill, the real push receiver."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.faults.support import Processes, Proxy

# The push tests' fixtures: the real receiver, and sessions with real transactions.
from tests.notifications.conftest import committed, push_receiver, sink  # noqa: F401


@pytest.fixture
def on_postgres(is_postgres: bool) -> None:
    if not is_postgres:
        pytest.skip(
            "needs PostgreSQL (DATABASE_URL): these faults are of a database server and its "
            "connections, which the embedded SQLite file does not have"
        )


@pytest.fixture
def proxies() -> Iterator[Callable[[str, int], Proxy]]:
    """Start a proxy to host:port; every one is killed at the end."""
    made: list[Proxy] = []

    def start(host: str, port: int) -> Proxy:
        proxy = Proxy(host, port)
        proxy.start()
        made.append(proxy)
        return proxy

    yield start
    for proxy in made:
        proxy.kill()


@pytest.fixture
def processes() -> Iterator[Processes]:
    running = Processes()
    yield running
    running.kill_all()
