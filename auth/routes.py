"""REST endpoints for the WebAuthn ceremonies (JSON in, JSON out); everything else is GraphQL.

Handlers stay thin: parse, call a ceremony, set cookies. Failures are AuthErrors that the
ceremony already recorded; the unit of work commits them (see auth.errors.AuthError).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any, TypeVar

from litestar import Controller, Request, Response, post
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie, State
from litestar.exceptions import HTTPException
from litestar.handlers import BaseRouteHandler
from litestar.params import JSONBody
from msgspec import Struct
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.clientip import request_meta
from api.database import begin_write
from api.errors import DomainError, Unauthenticated
from api.settings import Settings
from auth import ceremonies, sessions
from auth.cookies import session_cookie, session_cookie_name
from auth.ratelimit import RateLimiter

T = TypeVar("T")
# A WebAuthn response is a few kilobytes; anything much larger is not one.
MAX_CEREMONY_BYTES = 64 * 1024
LOGIN_COOKIE = "duo_ceremony_login"
REGISTER_COOKIE = "duo_ceremony_register"


class ActivationInput(Struct, rename="camel"):
    code: str
    date_of_birth: date


class RecoveryInput(Struct, rename="camel"):
    recovery_key: str


class DeviceLinkInput(Struct, rename="camel"):
    token: str


class AccessRequestInput(Struct, rename="camel"):
    request_id: uuid.UUID
    secret: str


def json_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    # A cross-site <form> can only send form or text bodies; JSON needs a CORS preflight.
    if connection.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise HTTPException(status_code=415, detail="Send JSON (Content-Type: application/json).")


def _ceremony_cookie(settings: Settings, name: str, value: str) -> Cookie:
    return Cookie(
        key=name,
        value=value,
        path="/auth",
        httponly=True,
        secure=settings.secure_cookies,
        samesite="strict",
        max_age=int(ceremonies.CHALLENGE_TTL.total_seconds()),
    )


def _expired(settings: Settings, name: str) -> Cookie:
    # The same attributes as when it was set: a bare clearing header would be a cookie without
    # HttpOnly/SameSite/Secure for a moment, and some browsers match by them when replacing.
    return Cookie(
        key=name,
        value="",
        path="/auth",
        httponly=True,
        secure=settings.secure_cookies,
        samesite="strict",
        max_age=0,
    )


def _options_response(
    settings: Settings, cookie: str, started: ceremonies.Started
) -> Response[Any]:
    return Response(
        {"publicKey": json.loads(started.options_json)},
        cookies=[_ceremony_cookie(settings, cookie, started.binding)],
    )


async def _begin(
    request: Request[Any, Any, State],
    cookie: str,
    start: Callable[..., Awaitable[ceremonies.Started]],
    **arguments: Any,
) -> Response[Any]:
    """Start a ceremony: options for the browser, bound to it by a ceremony cookie."""
    settings: Settings = request.app.state.settings
    limiter: RateLimiter = request.app.state.rate_limiter
    started = await _unit(
        request,
        lambda db: start(
            db, settings=settings, limiter=limiter, meta=request_meta(request), **arguments
        ),
    )
    return _options_response(settings, cookie, started)


async def _unit(
    request: Request[Any, Any, State], work: Callable[[AsyncSession], Awaitable[T]]
) -> T:
    """One transaction per request; domain failures are committed (they record the failure)."""
    factory: async_sessionmaker[AsyncSession] = request.app.state.session_factory
    async with factory() as db:
        try:
            await begin_write(db)
            result = await work(db)
        except DomainError:
            await db.commit()
            raise
        except BaseException:
            await db.rollback()
            raise
        await db.commit()
        return result


class AuthController(Controller):
    path = "/auth"
    guards = [json_only]
    request_max_body_size = MAX_CEREMONY_BYTES

    @post("/login/options", status_code=200)
    async def login_options(self, request: Request[Any, Any, State]) -> Response[Any]:
        return await _begin(request, LOGIN_COOKIE, ceremonies.start_login)

    @post("/login", status_code=200)
    async def login(
        self, request: Request[Any, Any, State], data: JSONBody[dict[str, Any]]
    ) -> Response[Any]:
        settings: Settings = request.app.state.settings
        limiter: RateLimiter = request.app.state.rate_limiter
        result = await _unit(
            request,
            lambda db: ceremonies.finish_login(
                db,
                settings=settings,
                limiter=limiter,
                payload=data,
                binding=request.cookies.get(LOGIN_COOKIE),
                previous_session_token=request.cookies.get(session_cookie_name(settings)),
                meta=request_meta(request),
            ),
        )
        return Response(
            # The passkey used: the app marks it "this device" in the list (#16 item 16).
            {"signedIn": True, "passkeyId": str(result.passkey.id)},
            cookies=[
                session_cookie(settings, result.session.token),
                _expired(settings, LOGIN_COOKIE),
            ],
        )

    @post("/activation", status_code=200)
    async def activation(
        self, request: Request[Any, Any, State], data: JSONBody[ActivationInput]
    ) -> Response[Any]:
        return await _begin(
            request,
            REGISTER_COOKIE,
            ceremonies.start_activation,
            code=data.code,
            date_of_birth=data.date_of_birth,
        )

    @post("/recovery", status_code=200)
    async def recovery(
        self, request: Request[Any, Any, State], data: JSONBody[RecoveryInput]
    ) -> Response[Any]:
        return await _begin(
            request, REGISTER_COOKIE, ceremonies.start_recovery, recovery_key=data.recovery_key
        )

    @post("/device-link", status_code=200)
    async def device_link(
        self, request: Request[Any, Any, State], data: JSONBody[DeviceLinkInput]
    ) -> Response[Any]:
        return await _begin(
            request, REGISTER_COOKIE, ceremonies.start_device_link, token=data.token
        )

    @post("/device-link/check", status_code=200)
    async def device_link_check(
        self, request: Request[Any, Any, State], data: JSONBody[DeviceLinkInput]
    ) -> dict[str, str]:
        """Whether a device link still works (uses nothing): until when, and for whom."""
        limiter: RateLimiter = request.app.state.rate_limiter
        checked = await _unit(
            request,
            lambda db: ceremonies.check_device_link(
                db, limiter=limiter, token=data.token, meta=request_meta(request)
            ),
        )
        return {
            "expiresAt": checked.expires_at.isoformat(),
            "accountName": checked.account_name,
        }

    @post("/access-request", status_code=200)
    async def access_request(
        self, request: Request[Any, Any, State], data: JSONBody[AccessRequestInput]
    ) -> Response[Any]:
        """The first passkey after DUO approved this browser's access request (access/)."""
        return await _begin(
            request,
            REGISTER_COOKIE,
            ceremonies.start_access_request,
            request_id=data.request_id,
            secret=data.secret,
        )

    @post("/passkeys/options", status_code=200)
    async def add_options(self, request: Request[Any, Any, State]) -> Response[Any]:
        """Options to add another passkey on this device, from a signed-in session."""
        settings: Settings = request.app.state.settings
        limiter: RateLimiter = request.app.state.rate_limiter

        async def work(db: AsyncSession) -> ceremonies.Started:
            principal = await _principal(db, request, settings)
            if principal is None:
                raise Unauthenticated()
            return await ceremonies.start_add(
                db, settings=settings, limiter=limiter, principal=principal
            )

        return _options_response(settings, REGISTER_COOKIE, await _unit(request, work))

    @post("/passkeys", status_code=200)
    async def register(
        self, request: Request[Any, Any, State], data: JSONBody[dict[str, Any]]
    ) -> Response[Any]:
        """Finish any registration: activation, recovery, device link, or adding one."""
        settings: Settings = request.app.state.settings
        cookie_name = session_cookie_name(settings)

        async def work(db: AsyncSession) -> ceremonies.Registered:
            return await ceremonies.finish_registration(
                db,
                settings=settings,
                payload=data,
                binding=request.cookies.get(REGISTER_COOKIE),
                principal=await _principal(db, request, settings),
                previous_session_token=request.cookies.get(cookie_name),
                meta=request_meta(request),
            )

        result = await _unit(request, work)
        cookies = [_expired(settings, REGISTER_COOKIE)]
        if result.session is not None:
            cookies.append(session_cookie(settings, result.session.token))
        body: dict[str, Any] = {
            "passkey": {"id": str(result.passkey.id), "name": result.passkey.name},
            "signedIn": True,
        }
        if result.recovery_key is not None:
            body["recoveryKey"] = result.recovery_key
        return Response(body, cookies=cookies)


async def _principal(
    db: AsyncSession, request: Request[Any, Any, Any], settings: Settings
) -> sessions.Principal | None:
    token = request.cookies.get(session_cookie_name(settings))
    if not token:
        return None
    lookup = await sessions.resolve_session(
        db, token=token, idle_timeout=settings.session_idle_timeout
    )
    return lookup.principal
