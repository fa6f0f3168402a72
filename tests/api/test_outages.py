"""Which errors are outages (a 503 and one warning) and which are bugs or configuration (a 500
with its traceback, or an exit): api/outages.py, without a network."""

from __future__ import annotations

import logging
import socket
from typing import Any

import asyncpg
import pytest
from redis import exceptions as redis_errors
from sqlalchemy import exc as sa_errors

from api.logging import configure_logging
from api.outages import (
    Backoff,
    Dependency,
    configuration_error,
    describe,
    unavailable,
)
from api.settings import Settings


def adapted(inner: BaseException) -> sa_errors.DBAPIError:
    """What SQLAlchemy raises for a DBAPI error: the driver's error as `orig` and cause."""
    try:
        raise sa_errors.OperationalError("SELECT 1", {}, inner) from inner
    except sa_errors.OperationalError as exc:
        return exc


@pytest.mark.parametrize(
    ("error", "dependency"),
    [
        (ConnectionRefusedError(111, "Connect call failed"), "database"),
        (ExceptionGroup("dependencies", [ConnectionResetError(104, "reset")]), "database"),
        (TimeoutError(), "database"),
        (socket.gaierror(-2, "Name or service not known"), "database"),
        (OSError(113, "No route to host"), "database"),
        (adapted(asyncpg.ConnectionDoesNotExistError("closed in the middle")), "database"),
        (adapted(asyncpg.CannotConnectNowError("the database system is starting up")), "database"),
        (adapted(asyncpg.QueryCanceledError("canceling statement due to statement timeout")),
         "database"),
        (asyncpg.InterfaceError("cannot call Connection.fetch(): connection is closed"),
         "database"),
        (sa_errors.TimeoutError("QueuePool limit reached"), "database"),
        (redis_errors.ConnectionError("Error 111 connecting"), "redis"),
        (redis_errors.TimeoutError("Timeout reading from socket"), "redis"),
        (adapted(asyncpg.UniqueViolationError("duplicate key")), None),
        (asyncpg.InterfaceError("another operation is in progress"), None),  # a bug
        (adapted(asyncpg.InvalidPasswordError("password authentication failed")), None),
        (ValueError("a bug"), None),
        (OSError(28, "No space left on device"), None),
    ],
)  # fmt: skip
def test_outages_are_told_from_bugs(error: BaseException, dependency: str | None) -> None:
    assert unavailable(error) == dependency


def test_a_refused_login_is_configuration_not_an_outage() -> None:
    for error in (
        adapted(asyncpg.InvalidPasswordError("password authentication failed")),
        adapted(asyncpg.InvalidCatalogNameError('database "duo" does not exist')),
    ):
        assert configuration_error(error)
        assert unavailable(error) is None
    assert not configuration_error(ConnectionRefusedError(111, "refused"))


def test_the_warning_names_the_cause() -> None:
    wrapped = ExceptionGroup("x", [adapted(ConnectionRefusedError(111, "Connect call failed"))])
    assert describe(wrapped) == "ConnectionRefusedError: [Errno 111] Connect call failed"
    assert describe(TimeoutError()) == "TimeoutError: no answer in time"


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Structured logs as the app configures them (before the test's capture starts)."""
    configure_logging(Settings(environment="test"))
    return caplog


def events(caplog: pytest.LogCaptureFixture, name: str) -> list[dict[str, Any]]:
    return [r.msg for r in caplog.records if isinstance(r.msg, dict) and r.msg.get("event") == name]


def test_one_warning_per_outage_and_one_line_at_its_end(logs: pytest.LogCaptureFixture) -> None:
    caplog = logs
    caplog.set_level(logging.INFO)
    database = Dependency("database", "requests answer 503")
    for _ in range(100):
        database.failed(ConnectionRefusedError(111, "refused"), path="/graphql")
    database.ok()  # outside an event loop: ends at once
    database.ok()
    database.failed(TimeoutError())  # a new outage
    assert [e["error"] for e in events(caplog, "dependency.unavailable")] == [
        "ConnectionRefusedError: [Errno 111] refused",
        "TimeoutError: no answer in time",
    ]
    assert len(events(caplog, "dependency.recovered")) == 1
    assert database.outages == 2


async def test_a_failure_soon_after_an_answer_is_the_same_outage(
    logs: pytest.LogCaptureFixture,
) -> None:
    """Coming back, a database may answer one connection and fail the next: one outage."""
    caplog = logs
    caplog.set_level(logging.INFO)
    database = Dependency("database", "requests answer 503")
    database.failed(ConnectionRefusedError(111, "refused"))
    database.ok()
    database.failed(ConnectionResetError(104, "reset"))  # within CONFIRM_SECONDS
    database.ok()
    assert len(events(caplog, "dependency.unavailable")) == 1
    assert database.down  # until CONFIRM_SECONDS pass without a failure


def test_backoff_doubles_to_its_cap_with_jitter() -> None:
    backoff = Backoff(base=0.5, cap=4.0)
    delays = [backoff.next_delay() for _ in range(6)]
    for delay, expected in zip(delays, (0.5, 1, 2, 4, 4, 4), strict=True):
        assert 0.8 * expected <= delay <= 1.2 * expected
    backoff.reset()
    assert backoff.next_delay() <= 0.6
