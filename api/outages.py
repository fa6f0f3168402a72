"""Outages of the database and Redis as one process sees them.

Which errors mean "a dependency cannot be reached or does not answer in time" (as opposed to a
bug), and one warning when such an outage starts and one line when it ends, however many
requests, jobs or attempts ran into it in between (issue #12). Everything else about an outage
(503 answers, waiting, retrying) is decided where it is met: the HTTP edge, the worker.
"""

from __future__ import annotations

import asyncio
import errno
import random
import socket
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import asyncpg
import structlog
from redis import exceptions as redis_errors
from sqlalchemy import event
from sqlalchemy import exc as sa_errors
from sqlalchemy.ext.asyncio import AsyncEngine

log = structlog.get_logger("api.outages")

DATABASE = "database"
REDIS = "redis"
# Seconds a client is asked to wait (Retry-After) when a dependency is out.
RETRY_AFTER_SECONDS = 5
T = TypeVar("T")

# asyncpg's errors that say the server is gone, going, or not taking connections; the rest of
# its errors (a bad statement, a constraint) are answers, not outages.
_PG_UNAVAILABLE: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,  # connection failures, including "does not exist"
    asyncpg.CannotConnectNowError,  # 57P03: starting up or shutting down
    asyncpg.AdminShutdownError,  # 57P01
    asyncpg.CrashShutdownError,  # 57P02
    asyncpg.TooManyConnectionsError,  # 53300
    asyncpg.QueryCanceledError,  # 57014: statement_timeout ran out (a database too slow)
)
# A connect that finds no way to the server (not a ConnectionError subclass in Python).
_NETWORK_ERRNOS = frozenset(
    {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ENETDOWN, errno.ETIMEDOUT}
)
_PG_CONFIGURATION: tuple[type[BaseException], ...] = (
    asyncpg.InvalidAuthorizationSpecificationError,  # 28000: no such role
    asyncpg.InvalidPasswordError,  # 28P01
    asyncpg.InvalidCatalogNameError,  # 3D000: no such database
    asyncpg.UndefinedTableError,  # 42P01: migrations not applied
)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and everything behind it: causes, contexts, a DBAPI error's original, the members
    of an exception group (Litestar's dependency resolution raises one)."""
    stack, seen = [exc], set()
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, BaseExceptionGroup):
            stack.extend(current.exceptions)
        for inner in (current.__cause__, current.__context__, getattr(current, "orig", None)):
            if isinstance(inner, BaseException):
                stack.append(inner)


def unavailable(exc: BaseException) -> str | None:
    """The dependency `exc` says cannot be reached or did not answer in time, else None."""
    found = _culprit(exc)
    return found[0] if found else None


def _culprit(exc: BaseException) -> tuple[str, BaseException] | None:
    for inner in _chain(exc):
        if isinstance(inner, redis_errors.ConnectionError | redis_errors.TimeoutError):
            return REDIS, inner
        if isinstance(inner, _PG_CONFIGURATION):
            return None  # the configuration, not an outage: retrying cannot help
        if isinstance(inner, sa_errors.TimeoutError):  # no pooled connection in time
            return DATABASE, inner
        if isinstance(inner, sa_errors.DBAPIError) and inner.connection_invalidated:
            return DATABASE, inner
        if isinstance(inner, _PG_UNAVAILABLE):
            return DATABASE, inner
        if isinstance(inner, asyncpg.InterfaceError) and "closed" in str(inner):
            return DATABASE, inner
        # Raised as they are by asyncpg's connect and by its command timeout; the app makes
        # no other network calls that let them through (push sends classify their own).
        if isinstance(inner, ConnectionError | TimeoutError | socket.gaierror):
            return DATABASE, inner
        if isinstance(inner, OSError) and inner.errno in _NETWORK_ERRNOS:
            return DATABASE, inner
    return None


def never_migrated(exc: BaseException) -> bool:
    """A table is missing: `duo-abroad migrate` has not run (or not this far)."""
    return any(isinstance(inner, asyncpg.UndefinedTableError) for inner in _chain(exc))


def configuration_error(exc: BaseException) -> bool:
    """The database refuses who we are or what we ask for: a deployment mistake."""
    return any(isinstance(inner, _PG_CONFIGURATION) for inner in _chain(exc))


def describe(exc: BaseException) -> str:
    """What an operator needs to see in the one warning: the error that made it an outage."""
    found = _culprit(exc)
    misconfigured = (i for i in _chain(exc) if isinstance(i, _PG_CONFIGURATION))
    inner = found[1] if found else next(misconfigured, exc)
    text = str(inner) or ("no answer in time" if isinstance(inner, TimeoutError) else "")
    return f"{type(inner).__name__}: {text}"[:300]


# An outage is over once the dependency has answered and then not failed for this long: a
# database that flaps while it comes back (the pool's connection works, the job queue's does
# not yet) is one outage, with one warning and one line at its end.
CONFIRM_SECONDS = 3.0


@dataclass
class Dependency:
    """One dependency's state as this process sees it."""

    name: str
    impact: str  # what users notice while it is out, for the operator reading the warning
    down_since: float | None = None
    answered_at: float | None = None  # since then no failure: the outage is ending
    outages: int = 0
    _confirm: asyncio.TimerHandle | None = field(default=None, repr=False)

    @property
    def down(self) -> bool:
        """In an outage, or not yet past its end (CONFIRM_SECONDS without a failure)."""
        return self.down_since is not None

    def failed(self, exc: BaseException, *, level: str = "warning", **context: Any) -> None:
        """Note a failure; only the first of an outage is logged (at `level`)."""
        if self._confirm is not None:  # it was coming back: still the same outage
            self._confirm.cancel()
            self._confirm = None
            self.answered_at = None
        if self.down_since is not None:
            return
        self.down_since = time.monotonic()
        self.outages += 1
        getattr(log, level)(
            "dependency.unavailable",
            dependency=self.name,
            error=describe(exc),
            impact=self.impact,
            **context,
        )

    def ok(self) -> None:
        """Note a success; ends an outage once nothing fails for CONFIRM_SECONDS."""
        if self.down_since is None or self.answered_at is not None:
            return
        self.answered_at = time.monotonic()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._recovered()
            return
        self._confirm = loop.call_later(CONFIRM_SECONDS, self._recovered)

    def _recovered(self) -> None:
        if self.down_since is None or self.answered_at is None:
            return
        seconds = round(self.answered_at - self.down_since, 1)
        self.down_since = self.answered_at = self._confirm = None
        log.info("dependency.recovered", dependency=self.name, after_seconds=seconds)


@dataclass
class Outages:
    """The dependencies of one process (one app, one worker)."""

    database: Dependency = field(
        default_factory=lambda: Dependency(DATABASE, "requests answer 503; workers wait")
    )
    redis: Dependency = field(
        default_factory=lambda: Dependency(REDIS, "rate limits are counted per process")
    )

    def failed(self, exc: BaseException, **context: Any) -> str | None:
        """Note `exc` if it is an outage; which dependency it was, else None."""
        name = unavailable(exc)
        if name is not None:
            self.get(name).failed(exc, **context)
        return name

    def refused(self, exc: BaseException, **context: Any) -> bool:
        """Note `exc` if the database refuses who we are or what we ask for (a wrong password,
        no such database, migrations not applied): for the edges an outage too (503, logged
        once), but at error level, since it will not end by itself. Workers and commands end
        on it instead (configuration_error)."""
        if not configuration_error(exc):
            return False
        self.database.failed(exc, level="error", misconfigured=True, **context)
        return True

    def get(self, name: str) -> Dependency:
        return self.redis if name == REDIS else self.database

    def watch(self, engine: AsyncEngine) -> None:
        """A connection handed out by the pool (pre-pinged, or new) proves the database is
        back: end a database outage there, once, whatever request or job gets it."""

        def checked_out(*_: object) -> None:
            if self.database.down_since is not None:  # one attribute read per checkout
                self.database.ok()

        event.listen(engine.sync_engine, "checkout", checked_out)


class DependencyUnavailable(Exception):
    """Raised at an edge to answer 503 for an outage met deeper down (GraphQL)."""

    def __init__(self, dependency: str) -> None:
        super().__init__(f"{dependency} unavailable")
        self.dependency = dependency


@dataclass
class Backoff:
    """Waits between attempts: doubling from `base` to `cap`, jittered so that many processes
    recovering together do not knock in step."""

    base: float = 0.5
    cap: float = 5.0
    attempts: int = 0

    def next_delay(self) -> float:
        self.attempts += 1
        delay = min(self.cap, self.base * 2.0 ** (self.attempts - 1))
        return delay * random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not a secret

    def reset(self) -> None:
        self.attempts = 0


class Stopping(Exception):
    """A wait for a dependency was given up because the process is stopping."""


async def pause(seconds: float, stopping: asyncio.Event | None) -> None:
    """Sleep, but wake (with Stopping) as soon as `stopping` is set."""
    if stopping is None:
        await asyncio.sleep(seconds)
        return
    try:
        await asyncio.wait_for(stopping.wait(), timeout=seconds)
    except TimeoutError:
        return
    raise Stopping


async def until_available(
    operation: Callable[[], Awaitable[T]],
    outages: Outages,
    *,
    stopping: asyncio.Event | None = None,
    backoff: Backoff | None = None,
    **context: Any,
) -> T:
    """Run `operation` until it gets through an outage; other errors are raised as they are.

    Each failed attempt is noted (one warning per outage) and followed by a backoff; Stopping
    if the process stops meanwhile.
    """
    backoff = backoff or Backoff()
    met: set[str] = set()
    while True:
        try:
            result = await operation()
        except Exception as exc:
            name = outages.failed(exc, **context)
            if name is None:
                raise
            met.add(name)
            await pause(backoff.next_delay(), stopping)
            continue
        for name in met:
            outages.get(name).ok()
        return result
