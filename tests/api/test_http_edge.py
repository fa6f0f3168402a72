"""The HTTP edge: health, headers, compression, request ids, CSRF and bad input."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.types import Message
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.app import create_app
from api.persisted import OPERATIONS_DIR
from api.settings import Settings
from extracts.keys import generate_private_jwk
from records.models import Person
from tests.support import asgi_client, sign_in

MUTATION = 'mutation { updatePreferences(input: {preferredLanguage: "nl"}) { id } }'


async def test_health_endpoints(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health/live")).json() == {"status": "ok"}
    ready = await client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["database"] == "ok"


async def test_ready_reports_503_when_the_database_is_unreachable(database_url: str) -> None:
    from api.database import create_engine, create_session_factory

    broken = create_engine("postgresql+asyncpg://nobody@127.0.0.1:9/unreachable")
    app = create_app(Settings(environment="test"), session_factory=create_session_factory(broken))
    async with asgi_client(app, "http://t.local") as client:
        response = await client.get("/health/ready")
    await broken.dispose()
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"


async def test_security_headers(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/live")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    # http://localhost development origin: no HSTS (it would pin localhost to https).
    assert "strict-transport-security" not in response.headers


async def test_hsts_on_https_origins(
    database_url: str, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    settings = Settings(environment="test", public_origin="https://abroad.duo.example")
    app = create_app(settings, session_factory=session_factory)
    async with asgi_client(app, "https://t.local") as client:
        response = await client.get("/health/live")
    assert "max-age=" in response.headers["strict-transport-security"]


async def test_request_id_is_echoed_or_generated(client: httpx.AsyncClient) -> None:
    given = await client.get("/health/live", headers={"x-request-id": "abc12345-trace"})
    assert given.headers["x-request-id"] == "abc12345-trace"
    hostile = await client.get("/health/live", headers={"x-request-id": "bad\nid"})
    assert hostile.headers["x-request-id"] != "bad\nid"
    assert len(hostile.headers["x-request-id"]) == 32


async def test_responses_are_compressed(
    client: httpx.AsyncClient, db: AsyncSession, person_factory: Any
) -> None:
    me = await person_factory()
    await sign_in(client, db, me.person["id"])
    query = (OPERATIONS_DIR / "Dashboard.graphql").read_text()  # well over the 512-byte minimum
    response = await client.post(
        "/graphql", json={"query": query}, headers={"accept-encoding": "br"}
    )
    assert response.headers["content-encoding"] == "br"
    gzip = await client.post("/graphql", json={"query": query}, headers={"accept-encoding": "gzip"})
    assert gzip.headers["content-encoding"] == "gzip"
    assert gzip.json()["data"]["viewer"]["person"]


async def _language(db: AsyncSession, person_id: Any) -> str:
    db.expire_all()
    return (await db.scalars(select(Person.preferred_language).where(Person.id == person_id))).one()


async def test_cross_site_post_cannot_run_a_mutation(
    client: httpx.AsyncClient, db: AsyncSession, person_factory: Any
) -> None:
    me = await person_factory(preferred_language="en")
    await sign_in(client, db, me.person["id"])
    for headers in (
        {"sec-fetch-site": "cross-site"},
        {"origin": "https://evil.example"},
        {"sec-fetch-site": "same-site", "origin": "https://sub.localhost:8000"},
    ):
        response = await client.post("/graphql", json={"query": MUTATION}, headers=headers)
        assert response.status_code == 403, headers
        assert response.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await _language(db, me.person["id"]) == "en"


async def test_form_and_text_posts_are_refused(
    client: httpx.AsyncClient, db: AsyncSession, person_factory: Any
) -> None:
    """The content types a cross-site <form> can send never reach the executor."""
    me = await person_factory(preferred_language="en")
    await sign_in(client, db, me.person["id"])
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
        response = await client.post(
            "/graphql",
            content=f'{{"query": "{MUTATION.replace(chr(34), chr(92) + chr(34))}"}}',
            headers={"content-type": content_type},
        )
        assert response.status_code == 400, content_type
        assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert await _language(db, me.person["id"]) == "en"


async def test_mutations_over_get_are_refused(
    client: httpx.AsyncClient, db: AsyncSession, person_factory: Any
) -> None:
    me = await person_factory(preferred_language="en")
    await sign_in(client, db, me.person["id"])
    response = await client.get(
        "/graphql", params={"query": MUTATION}, headers={"accept": "application/json"}
    )
    assert response.status_code == 400
    assert await _language(db, me.person["id"]) == "en"


async def test_same_origin_mutation_works(
    client: httpx.AsyncClient, db: AsyncSession, person_factory: Any
) -> None:
    me = await person_factory(preferred_language="en")
    await sign_in(client, db, me.person["id"])
    response = await client.post(
        "/graphql",
        json={"query": MUTATION},
        headers={"origin": "http://localhost:8000", "sec-fetch-site": "same-origin"},
    )
    assert response.status_code == 200
    assert "errors" not in response.json()
    assert await _language(db, me.person["id"]) == "nl"


async def test_malformed_json_is_a_clear_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert "JSON" in response.json()["errors"][0]["message"]


async def test_wrong_json_shapes_are_400(client: httpx.AsyncClient) -> None:
    for body in ({"query": 5}, {"query": "{ __typename }", "variables": [1]}, [{"query": "{a}"}]):
        response = await client.post("/graphql", json=body)
        assert response.status_code == 400, body


async def test_oversized_body_is_413(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql",
        content=b'{"query": "' + b" " * 1_100_000 + b'{ __typename }"}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_unknown_path_is_json_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/no/such/thing")
    assert response.status_code == 404
    assert response.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_unexpected_errors_are_masked(
    client: httpx.AsyncClient, db: AsyncSession, person_factory: Any, monkeypatch: Any
) -> None:
    """A bug inside a resolver is logged in full but the client only sees a generic message."""
    import records.service

    async def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("secret internal detail: password=hunter2")

    me = await person_factory()
    await sign_in(client, db, me.person["id"])
    monkeypatch.setattr(records.service, "list_enrolments", broken)
    response = await client.post("/graphql", json={"query": "{ viewer { enrolments { id } } }"})
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert "hunter2" not in response.text


async def test_service_worker_is_stamped_with_the_shell_version(client: httpx.AsyncClient) -> None:
    from api.app import PWA_DIR
    from api.pwa import shell_version

    response = await client.get("/sw.js")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    assert "__SHELL_VERSION__" not in response.text
    assert f'const VERSION = "{shell_version(PWA_DIR)}"' in response.text


async def test_module_service_worker_is_stamped_and_imports_the_outbox(
    client: httpx.AsyncClient,
) -> None:
    """What the app registers: stamped too (a new worker on any change), allowed by the CSP."""
    from api.app import PWA_DIR
    from api.pwa import shell_version

    response = await client.get("/sw-module.js")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    assert "__SHELL_VERSION__" not in response.text
    assert f"Shell version {shell_version(PWA_DIR)}," in response.text
    assert 'import "./sw.js";' in response.text
    assert 'from "./js/outbox.js";' in response.text
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "worker-src 'self'" in csp
    assert "connect-src 'self'" in csp


def test_shell_version_changes_with_any_file_under_pwa_worker_scripts_included(
    tmp_path: Path,
) -> None:
    from api.pwa import shell_version

    for name in ("sw.js", "sw-module.js", "js/outbox.js"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("// v1\n")
    before = shell_version(tmp_path)
    for name in ("sw.js", "sw-module.js", "js/outbox.js"):
        (tmp_path / name).write_text("// v2\n")
        assert shell_version(tmp_path) != before, name
        before = shell_version(tmp_path)


async def test_api_responses_are_never_cached(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"query": "{ __typename }"})
    assert response.headers["cache-control"] == "no-store"


async def test_share_tokens_are_not_written_to_the_access_log(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    await client.get("/s/very-secret-share-token")
    assert "very-secret-share-token" not in caplog.text
    assert "/s/…" in caplog.text


async def test_public_verification_accepts_other_sites(client: httpx.AsyncClient) -> None:
    """A verifier's own page may call the public endpoint; it carries no session."""
    response = await client.post(
        "/extracts/verify",
        json={"jws": "not-a-jws"},
        headers={"origin": "https://university.example", "sec-fetch-site": "cross-site"},
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["field"] == "jws"


@pytest.mark.parametrize("accept", ["text/html", "text/html,application/xhtml+xml,*/*;q=0.8"])
async def test_graphql_page_in_production_is_not_found(
    database_url: str, session_factory: async_sessionmaker[AsyncSession], accept: str
) -> None:
    """No IDE outside development: a browser opening /graphql gets a 404 that says so."""
    settings = Settings(
        environment="production",
        database_url=database_url,
        public_origin="https://abroad.duo.example",
        extract_signing_keys=json.dumps([generate_private_jwk()]),
    )
    app = create_app(settings, session_factory=session_factory)
    async with asgi_client(app, "https://abroad.duo.example") as client:
        response = await client.get("/graphql", headers={"accept": accept})
    assert response.status_code == 404
    assert response.json()["errors"][0]["extensions"] == {"code": "NOT_FOUND"}
    assert response.headers["cache-control"] == "no-store"


async def test_a_client_that_leaves_mid_body_is_no_server_error(
    app: Litestar, caplog: pytest.LogCaptureFixture
) -> None:
    """A proxy or client that drops the connection halfway through a body (Caddy 2.6 does on
    a retry) gets a 400 and an info line, not a 500 and an error to alert on."""
    sent: list[Message] = []
    incoming: list[dict[str, Any]] = [
        {"type": "http.request", "body": b'{"query": "{ __typ', "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"host", b"localhost")],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }
    with caplog.at_level(logging.INFO):
        await app(scope, receive, send)  # type: ignore[arg-type]
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert start["status"] == 400
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
