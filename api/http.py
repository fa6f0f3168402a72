"""The plain HTTP edge: health checks, security headers, request ids, cross-site refusal."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Awaitable
from typing import Any
from urllib.parse import urlsplit

import msgspec
import structlog
from litestar import Request, Response, get
from litestar.datastructures import State
from litestar.enums import MediaType, ScopeType
from litestar.exceptions import ClientException, HTTPException, ValidationException
from litestar.types import (
    ASGIApp,
    ExceptionHandlersMap,
    HTTPResponseBodyEvent,
    HTTPResponseStartEvent,
    Message,
    Receive,
    Scope,
    Send,
)
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api import metrics
from api.clientip import resolve_scope
from api.errors import DomainError, Forbidden, NotFound, RateLimited, Unauthenticated
from api.migrate import Revisions
from api.outages import (
    RETRY_AFTER_SECONDS,
    Dependency,
    DependencyUnavailable,
    Outages,
    configuration_error,
    never_migrated,
    unavailable,
)
from api.settings import Settings
from api.useragent import user_agent_family
from auth.errors import AuthError

log = structlog.get_logger("api.http")


class ApiRequest(Request[Any, Any, Any]):
    """Litestar's Request, with JSON nested too deeply answered as a 400, not a 500 (msgspec
    raises RecursionError for it, which Litestar does not catch)."""

    async def json(self) -> Any:
        try:
            return await super().json()
        except RecursionError as exc:
            raise ClientException("The JSON is nested too deeply.") from exc


_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Everything but the PWA's static files (and the staff UI, below): answers default to
# `no-store`, once, here.
DYNAMIC_PREFIXES = (
    "/graphql",
    "/access/",
    "/auth/",
    "/forms/",
    "/extracts/",
    "/s/",
    "/v/",
    "/health/",
    "/.well-known/",
    "/wallet/",
    "/verifier",
)
# Public, cookie-free endpoints that any site may call (a verifier's own web page), and the
# OpenID4VCI endpoints, which wallets call with a code or bearer token, never with a cookie,
# and the OpenID4VP Response URI, to which a wallet (perhaps a web wallet) posts its answer.
CROSS_SITE_ALLOWED = frozenset(
    {
        "/extracts/verify",
        "/wallet/token",
        "/wallet/nonce",
        "/wallet/credential",
        "/verifier/response",
    }
)
STAFF_PREFIX = "/staff"
VERIFIER_PREFIX = "/verifier"  # wallet.routes: the OpenID4VP verifier's pages
# Path segments that are bearer secrets: logged as "…" so the access log cannot replay them.
_SECRET_PATHS = re.compile(r"^(/s/)[^/]+")
# The passkey ceremonies whose outcomes are counted (duo_auth_ceremonies_total), by route.
AUTH_STEPS = {
    "/auth/login": "sign_in",
    "/auth/activation": "activation",
    "/auth/passkeys": "registration",
    "/auth/recovery": "recovery",
    "/auth/device-link": "device_link",
    "/auth/access-request": "access_request",
}
# Litestar's words when the request body stops short (Request.stream raises a 500 for it).
CLIENT_DISCONNECTED = "client disconnected prematurely"
# Where the exception handlers leave the error code of an answer, for the metrics.
ERROR_CODE_KEY = "duo.error_code"


def content_security_policy(*, allow_ide: bool) -> str:
    if allow_ide:
        # GraphiQL (development only) loads its bundle and inline bootstrap from a CDN.
        return (
            "default-src 'self'; script-src 'self' 'unsafe-inline' https://unpkg.com; "
            "style-src 'self' 'unsafe-inline' https://unpkg.com; img-src 'self' data:; "
            "connect-src 'self'; frame-ancestors 'none'"
        )
    # media-src blob:: the access request's liveness video is played back from the recording
    # in memory (URL.createObjectURL) before it is sent (pwa/js/access.js).
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "media-src 'self' blob:; "
        "font-src 'self'; connect-src 'self'; manifest-src 'self'; worker-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


class EdgeMiddleware:
    """Request id, access log, security headers and the cross-site check, as one ASGI layer.

    One layer instead of four: each Litestar middleware adds a call per request.
    """

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        headers = [
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            (b"cross-origin-opener-policy", b"same-origin"),
            # The app records the liveness video of an access request itself (access/); no
            # other origin, frame or extension page of ours gets camera or microphone.
            (b"permissions-policy", b"camera=(self), microphone=(self), geolocation=()"),
            (b"x-frame-options", b"DENY"),
        ]
        if settings.secure_cookies:
            headers.append((b"strict-transport-security", b"max-age=63072000; includeSubDomains"))
        self.common_headers = headers
        # Staff pages (and the verifier's page) post HTML forms; under `no-referrer` a browser
        # sends `Origin: null` with them, which the cross-site check must refuse. `same-origin`
        # keeps the Origin (and still sends no Referer to any other site).
        self.staff_headers = [
            (k, b"same-origin" if k == b"referrer-policy" else v) for k, v in headers
        ]
        self.csp = content_security_policy(allow_ide=False).encode()
        self.ide_csp = content_security_policy(allow_ide=True).encode()
        self.origin = settings.public_origin.encode()
        # The staff UI (staff/) checks Origin against its own origin; on a host of its own
        # it answers only there, and that host serves nothing else (one realm per host).
        self.staff_origin = settings.staff_public_origin.encode()
        self.staff_host = (
            _host(settings.staff_public_origin) if settings.staff_has_own_host else None
        )
        self.staff_default_port = _DEFAULT_PORTS.get(
            urlsplit(settings.staff_public_origin).scheme, 80
        )
        self.trusted_proxies = settings.trusted_proxy_networks

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        client_ip = resolve_scope(scope, self.trusted_proxies)  # api.clientip.client_ip reads it
        request_headers = dict(scope["headers"])
        incoming = request_headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500
        is_ide = self.settings.allow_adhoc_queries and path == "/graphql"
        csp = self.ide_csp if is_ide else self.csp
        is_staff = path == STAFF_PREFIX or path.startswith(STAFF_PREFIX + "/")
        is_api = is_staff or path.startswith(DYNAMIC_PREFIXES)
        posts_forms = is_staff or path.startswith(VERIFIER_PREFIX)

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.extend(self.staff_headers if posts_forms else self.common_headers)
                headers.append((b"content-security-policy", csp))
                headers.append((b"x-request-id", request_id.encode()))
                if (is_api or status >= 400) and not any(k == b"cache-control" for k, _ in headers):
                    # Personal data: never in a shared or disk cache (shared devices, proxies),
                    # unless the route says otherwise (public keys, status lists, extract files).
                    # Errors too, wherever they are (an unknown path: a 404 that a cache would
                    # keep answering after the file appears, or that names the path asked for).
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        try:
            if self.staff_host is not None and not path.startswith("/health/"):
                on_staff_host = _is_host(request_headers, self.staff_host, self.staff_default_port)
                if on_staff_host != is_staff:
                    if on_staff_host and path == "/":
                        await _send_redirect(send_with_headers, "/staff/")
                        return
                    await _send_json(send_with_headers, 404, _NOT_FOUND)
                    return
            refusal = (
                None
                if path in CROSS_SITE_ALLOWED
                else self._cross_site_refusal(
                    method, request_headers, self.staff_origin if is_staff else self.origin
                )
            )
            if refusal is not None:
                log.warning("http.cross_site_refused", path=path, reason=refusal)
                await _send_json(
                    send_with_headers,
                    403,
                    {
                        "errors": [
                            {
                                "message": "Cross-site requests are not allowed.",
                                "extensions": {"code": "FORBIDDEN"},
                            }
                        ]
                    },
                )
                return
            await self.app(scope, receive, send_with_headers)
        finally:
            seconds = time.perf_counter() - started
            log.info(
                "http.request",
                method=method,
                path=_SECRET_PATHS.sub(r"\1…", path),
                status=status,
                ip=client_ip,
                ms=round(seconds * 1000, 2),
                ua=user_agent_family(request_headers.get(b"user-agent")),
            )
            structlog.contextvars.unbind_contextvars("request_id")
            self._count(scope, method, status, seconds)

    @staticmethod
    def _count(scope: Scope, method: str, status: int, seconds: float) -> None:
        # The route template, never the path: ids and tokens would make a series per request.
        route = scope.get("path_template") or "unmatched"
        metrics.HTTP_REQUESTS.labels(method, route, str(status)).inc()
        metrics.HTTP_LATENCY.labels(method, route).observe(seconds)
        step = AUTH_STEPS.get(route) if method == "POST" else None
        if step is not None:
            state = scope.get("state") or {}
            outcome = "ok" if status < 400 else state.get(ERROR_CODE_KEY) or str(status)
            metrics.AUTH_CEREMONIES.labels(step, outcome).inc()

    def _cross_site_refusal(
        self, method: str, headers: dict[bytes, bytes], expected_origin: bytes
    ) -> str | None:
        # Defence in depth beside SameSite cookies and JSON-only bodies: browsers label
        # cross-site requests (Fetch Metadata) and send Origin on every unsafe request.
        if method not in UNSAFE_METHODS:
            return None
        site = headers.get(b"sec-fetch-site")
        if site is not None and site not in (b"same-origin", b"none"):
            return "sec-fetch-site"
        origin = headers.get(b"origin")
        if origin is not None and origin != expected_origin:
            return "origin"
        return None


_NOT_FOUND = {"errors": [{"message": "Not found.", "extensions": {"code": "NOT_FOUND"}}]}
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _host(origin: str) -> tuple[str, int]:
    """(host, port) of an origin, the port spelled out."""
    parts = urlsplit(origin)
    return (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(parts.scheme, 80)


def _is_host(headers: dict[bytes, bytes], host: tuple[str, int], default_port: int) -> bool:
    """Whether the Host header names this host (a Host without a port means the default)."""
    try:
        parts = urlsplit("//" + headers.get(b"host", b"").decode("latin-1").strip())
        port = parts.port or default_port
    except ValueError:  # a port that is not a number
        return False
    return (parts.hostname or "") == host[0] and port == host[1]


async def _send_redirect(send: Send, location: str) -> None:
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": 303,
        "headers": [(b"location", location.encode()), (b"content-length", b"0")],
    }
    await send(start)
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    payload = msgspec.json.encode(body)
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
        ],
    }
    await send(start)
    body_event: HTTPResponseBodyEvent = {
        "type": "http.response.body",
        "body": payload,
        "more_body": False,
    }
    await send(body_event)


def _remember_code(request: Request[Any, Any, Any], code: str) -> None:
    request.scope.setdefault("state", {})[ERROR_CODE_KEY] = code


def _error_response(
    status: int, code: str, message: str, *, field: str | None = None
) -> Response[Any]:
    extensions = {"code": code, **({"field": field} if field else {})}
    return Response(
        {"errors": [{"message": message, "extensions": extensions}]},
        status_code=status,
        media_type=MediaType.JSON,
    )


_DOMAIN_STATUS: dict[type[DomainError], int] = {
    Unauthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
}

CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "RATE_LIMITED",
}


def _http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    if status == 500 and exc.detail == CLIENT_DISCONNECTED:
        # The client (or the proxy in front) went away before the body was complete: nobody
        # reads this answer and nothing failed here, so it is no error to alert on (a 400).
        log.info("http.client_disconnected", path=request.url.path)
        _remember_code(request, "CLIENT_DISCONNECTED")
        return _error_response(400, "BAD_REQUEST", "The request ended before its body did.")
    if status >= 500:
        log.error("http.error", status=status, path=request.url.path, exc_info=exc)
        return _error_response(status, "INTERNAL_SERVER_ERROR", "Unexpected error.")
    message = exc.detail
    field = None
    if isinstance(exc, ValidationException) and isinstance(exc.extra, list) and exc.extra:
        # Litestar's body validation: name the first offending field, like GraphQL errors do.
        first = exc.extra[0]
        if isinstance(first, dict):
            field = first.get("key")
            message = str(first.get("message") or message)
    code = CODES.get(status, "BAD_REQUEST")
    _remember_code(request, code)
    response = _error_response(status, code, message, field=field)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


def _domain_error(request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    """Domain errors outside GraphQL (REST ceremonies): the same codes, an HTTP status."""
    headers = {}
    if isinstance(exc, AuthError):
        status = exc.status
    elif isinstance(exc, RateLimited):
        status = 429
        headers["retry-after"] = str(exc.retry_after_seconds)
        log.warning("http.rate_limited", path=request.url.path)
    else:
        status = _DOMAIN_STATUS.get(type(exc), 400)
    _remember_code(request, exc.code)
    response = _error_response(status, exc.code, exc.message, field=exc.field)
    response.headers.update(headers)
    return response


UNAVAILABLE_MESSAGE = "The service is temporarily unavailable. Please try again in a moment."


def service_unavailable() -> Response[Any]:
    """An outage of the database or Redis: 503, try again shortly (RFC 9110 §15.6.4)."""
    response = _error_response(503, "SERVICE_UNAVAILABLE", UNAVAILABLE_MESSAGE)
    response.headers["retry-after"] = str(RETRY_AFTER_SECONDS)
    return response


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    outages: Outages | None = request.app.state.get("outages")
    if isinstance(exc, DependencyUnavailable) or (
        outages.failed(exc, path=request.url.path) or outages.refused(exc, path=request.url.path)
        if outages
        else unavailable(exc) or configuration_error(exc)
    ):
        # Logged once per outage (api/outages.py), not a traceback per request.
        return service_unavailable()
    # Masked for the client, complete in the log (with the request id bound by the edge).
    log.error("http.unexpected_error", path=request.url.path, exc_info=exc)
    return _error_response(500, "INTERNAL_SERVER_ERROR", "Unexpected error.")


def exception_handlers() -> ExceptionHandlersMap:
    return {DomainError: _domain_error, HTTPException: _http_exception, Exception: _unexpected}


@get("/health/live", include_in_schema=False, cache=False)
async def live() -> dict[str, str]:
    """The process is up and serving."""
    return {"status": "ok"}


@get("/health/ready", include_in_schema=False, cache=False)
async def ready(request: Request[Any, Any, State]) -> Any:
    """Route traffic here? Each dependency's state; 503 only for what the app cannot serve
    without: the database, at the migrations this code expects. Redis only shares the
    sign-in rate limits (without it, each process counts its own), so it degrades, not fails.
    Every check is bounded by READY_TIMEOUT_SECONDS, so a probe never hangs."""
    state = request.app.state
    settings: Settings = state.settings
    outages: Outages = state.outages
    seconds = settings.ready_timeout_seconds
    database, redis = await asyncio.gather(
        _check(_database_revisions(state.session_factory), seconds, outages.database),
        _check(_redis_ping(state.redis), seconds, outages.redis),
    )
    checks = {"database": "ok" if isinstance(database, frozenset) else database}
    if isinstance(database, frozenset):
        revisions: Revisions = state.revisions
        checks["migrations"] = revisions.judge(database)
    else:
        checks["migrations"] = "unknown"
    checks["redis"] = redis if state.redis is not None else "not configured"
    serving = checks["database"] == "ok" and checks["migrations"] in ("ok", "ahead")
    if not serving:
        return Response({"status": "unavailable", **checks}, status_code=503)
    degraded = checks["redis"] not in ("ok", "not configured")
    return {"status": "degraded" if degraded else "ok", **checks}


async def _check(probe: Awaitable[Any], seconds: float, dependency: Dependency) -> Any:
    """The probe's result; "timeout" or "unreachable" (noted as an outage, logged once)."""
    try:
        async with asyncio.timeout(seconds):
            result = await probe
    except TimeoutError as exc:
        dependency.failed(exc, during="readiness probe")
        return "timeout"
    except Exception as exc:
        if never_migrated(exc):  # no alembic_version table
            return frozenset()
        if configuration_error(exc):  # a wrong password, no such database
            dependency.failed(exc, level="error", misconfigured=True, during="readiness probe")
            return "misconfigured"
        if unavailable(exc) is None:
            log.warning("health.check_failed", error=type(exc).__name__)
        dependency.failed(exc, during="readiness probe")
        return "unreachable"
    dependency.ok()
    return result


async def _database_revisions(factory: async_sessionmaker[AsyncSession]) -> frozenset[str]:
    async with factory() as db:
        return frozenset(await db.scalars(text("SELECT version_num FROM alembic_version")))


async def _redis_ping(redis: Redis | None) -> str:
    if redis is None:
        return "not configured"
    await redis.ping()
    return "ok"


class HeadAsGet:
    """`HEAD` answered like `GET` without its body, on every route (RFC 9110 §9.3.2).

    Litestar answers 405 to HEAD on a `GET` handler; uptime monitors and link checkers use
    HEAD. Wrapped around the router (outside the per-route middleware), so routing, the edge
    headers and the status are exactly those of the GET; Content-Length stays the GET's.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def send_without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, send_without_body)
