"""The API through database and Redis outages (issue #12): the app reaches PostgreSQL or Redis
through a TCP proxy that the test kills or freezes. Outages answer 503 with Retry-After in the
usual JSON error shape, GraphQL and REST alike, in bounded time, with one warning per outage;
sign-in keeps working while Redis is out; /health/ready says what is wrong."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from litestar import Litestar
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import make_url, text
from sqlalchemy.exc import DBAPIError

from api.app import create_app
from api.database import create_engine
from api.outages import CONFIRM_SECONDS, unavailable
from api.settings import Settings
from auth.sessions import create_session
from tests.faults.support import Proxy
from tests.notifications.support import Committed, person_without_reminders
from tests.support import asgi_client

# Small timeouts (tests/faults/support.py FAST_FAULTS), as settings.
FAST = {
    "database_connect_timeout_seconds": 1.0,
    "database_statement_timeout_seconds": 1.5,
    "database_command_timeout_seconds": 2.0,
    "database_pool_timeout_seconds": 2.0,
    "redis_timeout_seconds": 0.5,
    "ready_timeout_seconds": 1.0,
}
VIEWER = {"query": "{ viewer { person { givenNames } unreadMessages } }"}
MARK_READ = {
    "query": "mutation($id: ID!) { markMessageRead(id: $id) { id } }",
    "variables": {"id": "00000000-0000-0000-0000-000000000000"},
}
REDIS_URL = "redis://127.0.0.1:6379/3"


def events(caplog: pytest.LogCaptureFixture, name: str) -> list[dict[str, Any]]:
    """The structured log events of that name (structlog hands its event dicts to logging)."""
    return [r.msg for r in caplog.records if isinstance(r.msg, dict) and r.msg.get("event") == name]


async def dispose(app: Litestar) -> None:
    await app.state.session_factory.kw["bind"].dispose()
    if app.state.redis is not None:
        await app.state.redis.aclose()


@pytest.fixture
def database_proxy(
    on_postgres: None, proxies: Callable[[str, int], Proxy], database_url: str
) -> Proxy:
    server = make_url(database_url)
    return proxies(server.host or "127.0.0.1", server.port or 5432)


@pytest.fixture
async def proxied_app(database_proxy: Proxy, database_url: str) -> AsyncIterator[Litestar]:
    """The app with its own engine, on the database through the proxy (made before the test
    body, so that the test's log capture sees what it logs)."""
    settings = Settings(
        environment="test",
        database_url=database_proxy.url(database_url),
        allow_adhoc_queries=True,
        **FAST,  # type: ignore[arg-type]
    )
    app = create_app(settings)
    yield app
    await dispose(app)


async def signed_in(app: Litestar, committed: Committed) -> httpx.AsyncClient:
    """A client with a session of a person made (and committed) on the real database."""
    async with committed.factory() as db:
        person_id = await person_without_reminders(db)
        committed.person_ids.append(person_id)
        issued = await create_session(db, person_id=person_id, absolute_timeout=timedelta(hours=1))
        await db.commit()
    client = asgi_client(app)
    client.cookies.set("duo_session", issued.token, domain="testserver.local")
    return client


async def timed(request: Any) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await request
    return response, time.monotonic() - started


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "5"
    assert response.headers["content-type"].startswith("application/json")
    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "SERVICE_UNAVAILABLE"}
    assert "temporarily unavailable" in error["message"]


async def test_a_database_outage_answers_503_at_once_and_warns_once(
    proxied_app: Litestar,
    database_proxy: Proxy,
    committed: Committed,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    async with await signed_in(proxied_app, committed) as client:
        assert (await client.post("/graphql", json=VIEWER)).status_code == 200
        database_proxy.kill()
        for _ in range(5):
            for request in (
                client.post("/graphql", json=VIEWER),
                client.post("/graphql", json=MARK_READ),
                client.get("/graphql", params={"query": VIEWER["query"]}),
                client.post("/auth/login/options", json={}),
                client.get("/forms/attachments/00000000-0000-0000-0000-000000000000"),
            ):
                response, seconds = await timed(request)
                assert_unavailable(response)
                assert seconds < 1.0  # refused at once: nothing to wait for
        ready, seconds = await timed(client.get("/health/ready"))
        assert (ready.status_code, ready.json()["database"]) == (503, "unreachable")
        assert seconds < 1.0
        assert (await client.get("/health/live")).status_code == 200

        database_proxy.start()
        back = await client.post("/graphql", json=VIEWER)
        assert back.status_code == 200
        assert "errors" not in back.json()
        await asyncio.sleep(CONFIRM_SECONDS + 0.5)
    assert [(e["dependency"], e["impact"]) for e in events(caplog, "dependency.unavailable")] == [
        ("database", "requests answer 503; workers wait")
    ]
    assert [e["dependency"] for e in events(caplog, "dependency.recovered")] == ["database"]
    assert events(caplog, "http.unexpected_error") == []
    assert events(caplog, "graphql.unexpected_error") == []
    assert not [r for r in caplog.records if r.exc_info]  # no traceback at all


async def test_a_partitioned_database_gives_503s_within_seconds_not_a_hang(
    proxied_app: Litestar,
    database_proxy: Proxy,
    committed: Committed,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """SIGSTOP on the proxy: connections stay open and nothing answers. Command and connect
    timeouts end each request (2 s and 1 s here; defaults 5 s and 2 s)."""
    caplog.set_level(logging.INFO)
    async with await signed_in(proxied_app, committed) as client:
        assert (await client.post("/graphql", json=VIEWER)).status_code == 200
        database_proxy.freeze()
        try:
            answers = await asyncio.gather(
                *(timed(client.post("/graphql", json=VIEWER)) for _ in range(5)),
                timed(client.post("/auth/login/options", json={})),
            )
            for response, seconds in answers:
                assert_unavailable(response)
                assert seconds < 6.0  # at most a command timeout and a connect timeout, plus
            ready, seconds = await timed(client.get("/health/ready"))
            assert (ready.status_code, ready.json()["database"]) == (503, "timeout")
            assert seconds < 1.5  # READY_TIMEOUT_SECONDS
        finally:
            database_proxy.thaw()
        assert (await client.post("/graphql", json=VIEWER)).status_code == 200
        assert (await client.get("/health/ready")).json()["status"] == "ok"
        await asyncio.sleep(CONFIRM_SECONDS + 0.5)
    warned = events(caplog, "dependency.unavailable")
    assert [(e["dependency"], e["error"]) for e in warned] == [
        ("database", "TimeoutError: no answer in time")
    ]
    assert [e["dependency"] for e in events(caplog, "dependency.recovered")] == ["database"]


@pytest.fixture
async def redis_proxy(proxies: Callable[[str, int], Proxy]) -> Proxy:
    probe = Redis.from_url(REDIS_URL)
    try:
        await probe.ping()
    except RedisConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379 (CI starts one)")
    finally:
        await probe.aclose()
    return proxies("127.0.0.1", 6379)


@pytest.fixture
async def app_with_redis(
    settings: Settings, session_factory: Any, redis_proxy: Proxy
) -> AsyncIterator[Litestar]:
    """The suite's app (on either database) with Redis behind the proxy."""
    app = create_app(
        settings.with_overrides(redis_url=redis_proxy.url(REDIS_URL), **FAST),
        session_factory=session_factory,
    )
    yield app
    await app.state.redis.aclose()


async def test_sign_in_keeps_working_on_per_process_limits_while_redis_is_out(
    app_with_redis: Litestar, redis_proxy: Proxy, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with asgi_client(app_with_redis) as client:
        assert (await client.post("/auth/login/options", json={})).status_code == 200
        assert (await client.get("/health/ready")).json()["redis"] == "ok"
        redis_proxy.kill()

        for _ in range(3):
            response, seconds = await timed(client.post("/auth/login/options", json={}))
            assert response.status_code == 200, response.text
            assert seconds < 1.5
        # The limits still hold, counted by this process: 10 activation attempts per IP.
        wrong = {"code": "AAAA-BBBB-CCCC-DDDD", "dateOfBirth": "1990-01-01"}
        codes = [
            (await client.post("/auth/activation", json=wrong)).json()["errors"][0]["extensions"]
            for _ in range(11)
        ]
        assert [c["code"] for c in codes[:10]] == ["ACTIVATION_FAILED"] * 10
        assert codes[10]["code"] == "RATE_LIMITED"

        ready = await client.get("/health/ready")
        assert ready.status_code == 200  # sign-in works without Redis: still ready
        assert (ready.json()["status"], ready.json()["redis"]) == ("degraded", "unreachable")

        redis_proxy.start()
        await asyncio.sleep(5.5)  # the limiter tries Redis again 5 s after a failure
        assert (await client.post("/auth/login/options", json={})).status_code == 200
        assert (await client.get("/health/ready")).json()["status"] == "ok"
        await asyncio.sleep(CONFIRM_SECONDS + 0.5)
    warned = events(caplog, "dependency.unavailable")
    assert [(e["dependency"], e.get("degraded")) for e in warned] == [
        ("redis", "sign-in rate limits counted per process")
    ]
    assert [e["dependency"] for e in events(caplog, "dependency.recovered")] == ["redis"]
    assert events(caplog, "http.unexpected_error") == []


async def test_a_statement_running_past_its_timeout_is_cancelled_by_postgresql(
    on_postgres: None, database_url: str
) -> None:
    """DATABASE_STATEMENT_TIMEOUT_SECONDS is PostgreSQL's statement_timeout on every
    connection of the server and the workers: the server cancels the statement, and that is
    an outage for the edge (a 503), not a bug."""
    settings = Settings(database_url=database_url, **FAST)  # type: ignore[arg-type]
    engine = create_engine(database_url, timeouts=settings)
    try:
        started = time.monotonic()
        with pytest.raises(DBAPIError) as caught:
            async with engine.connect() as connection:
                await connection.execute(text("SELECT pg_sleep(5)"))
        assert time.monotonic() - started < 3
    finally:
        await engine.dispose()
    assert "statement timeout" in str(caught.value)
    assert unavailable(caught.value) == "database"


@pytest.fixture
async def refused_app(database_proxy: Proxy, database_url: str) -> AsyncIterator[Litestar]:
    """The app on a database whose port is closed (the proxy killed before it starts)."""
    database_proxy.kill()
    settings = Settings(
        environment="test",
        database_url=database_proxy.url(database_url),
        allow_adhoc_queries=True,
        **FAST,  # type: ignore[arg-type]
    )
    app = create_app(settings)
    yield app
    await dispose(app)


async def test_a_database_refusing_connections_from_the_start_gives_503s_and_one_warning(
    refused_app: Litestar, caplog: pytest.LogCaptureFixture
) -> None:
    """Nothing listens (the port is closed, not frozen) when the app starts and while it
    serves: it starts anyway, answers 503 with Retry-After at once, REST and GraphQL alike, and
    /health/ready names the database."""
    caplog.set_level(logging.INFO)
    async with refused_app.lifespan(), asgi_client(refused_app) as client:
        # A session cookie: GraphQL looks it up in the database.
        client.cookies.set("duo_session", "x" * 43, domain="testserver.local")
        for _ in range(3):
            for request in (
                client.post("/graphql", json=VIEWER),
                client.post("/graphql", json=MARK_READ),
                client.post("/auth/login/options", json={}),
                client.get("/forms/attachments/00000000-0000-0000-0000-000000000000"),
            ):
                response, seconds = await timed(request)
                assert_unavailable(response)
                assert seconds < 1.0
        ready, seconds = await timed(client.get("/health/ready"))
        assert seconds < 1.5
        assert ready.status_code == 503
        assert ready.json() == {
            "status": "unavailable",
            "database": "unreachable",
            "migrations": "unknown",
            "redis": "not configured",
        }
    warned = events(caplog, "dependency.unavailable")
    assert [(e["dependency"], e["error"][:22]) for e in warned] == [
        ("database", "ConnectionRefusedError")
    ]
    assert events(caplog, "http.unexpected_error") == []
    assert not [r for r in caplog.records if r.exc_info]


@pytest.fixture
async def misconfigured_app(on_postgres: None, database_url: str) -> AsyncIterator[Litestar]:
    """The app on a database that does not exist (as after a wrong DATABASE_URL or a
    password changed under a running server)."""
    missing = make_url(database_url).set(database="duo_no_such_database")
    settings = Settings(
        environment="test",
        database_url=missing.render_as_string(hide_password=False),
        allow_adhoc_queries=True,
        **FAST,  # type: ignore[arg-type]
    )
    app = create_app(settings)
    yield app
    await dispose(app)


async def test_a_database_that_refuses_who_we_are_answers_503_and_logs_one_error(
    misconfigured_app: Litestar, caplog: pytest.LogCaptureFixture
) -> None:
    """Not a 500 with a traceback per request: the service is unavailable, the operator gets
    one error line naming the cause, and /health/ready says the database is misconfigured."""
    caplog.set_level(logging.INFO)
    async with asgi_client(misconfigured_app) as client:
        client.cookies.set("duo_session", "x" * 43, domain="testserver.local")
        for _ in range(3):
            for request in (
                client.post("/graphql", json=VIEWER),
                client.post("/auth/login/options", json={}),
            ):
                assert_unavailable(await request)
        ready = await client.get("/health/ready")
        assert ready.status_code == 503
        assert ready.json()["database"] == "misconfigured"
    warned = events(caplog, "dependency.unavailable")
    assert [(e["level"], e["error"]) for e in warned] == [
        (
            "error",
            'InvalidCatalogNameError: database "duo_no_such_database" does not exist',
        )
    ]
    assert events(caplog, "http.unexpected_error") == []
    assert events(caplog, "graphql.unexpected_error") == []
    assert not [r for r in caplog.records if r.exc_info]
