"""The staff passkey ceremonies (JSON, like auth/routes.py) under /staff/auth.

The pages that start them are server-rendered (staff/pages/core.py); static/passkey.js talks
to these endpoints. Failures are AuthErrors the ceremony already recorded: committed.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from litestar import Controller, Request, Response, post
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie, State
from litestar.exceptions import HTTPException
from litestar.handlers import BaseRouteHandler
from litestar.params import JSONBody
from msgspec import Struct
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.database import begin_write
from api.errors import DomainError
from api.settings import Settings
from auth.ratelimit import RateLimiter
from staff import ceremonies
from staff.web import meta, staff_cookie, staff_cookie_name

T = TypeVar("T")
MAX_CEREMONY_BYTES = 64 * 1024
CEREMONY_COOKIE = "duo_staff_ceremony"
CEREMONY_PATH = "/staff/auth"


class EnrolInput(Struct):
    token: str


def json_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    # A cross-site <form> can only send form or text bodies; JSON needs a CORS preflight.
    if connection.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise HTTPException(status_code=415, detail="Send JSON (Content-Type: application/json).")


def _ceremony_cookie(settings: Settings, value: str) -> Cookie:
    return Cookie(
        key=CEREMONY_COOKIE,
        value=value,
        path=CEREMONY_PATH,
        httponly=True,
        secure=settings.staff_secure_cookies,
        samesite="strict",
        max_age=int(ceremonies.CHALLENGE_TTL.total_seconds()),
    )


def _ceremony_cookie_gone(settings: Settings) -> Cookie:
    return Cookie(
        key=CEREMONY_COOKIE,
        value="",
        path=CEREMONY_PATH,
        max_age=0,
        secure=settings.staff_secure_cookies,
        httponly=True,
        samesite="strict",
    )


async def _unit(
    request: Request[Any, Any, State], work: Callable[[AsyncSession], Awaitable[T]]
) -> T:
    factory: async_sessionmaker[AsyncSession] = request.app.state.session_factory
    async with factory() as db:
        try:
            await begin_write(db)
            result = await work(db)
        except DomainError:
            await db.commit()  # the ceremony recorded the failure (audit, spent challenge)
            raise
        except BaseException:
            await db.rollback()
            raise
        await db.commit()
        return result


def _options(settings: Settings, started: ceremonies.Started) -> Response[Any]:
    return Response(
        {"publicKey": json.loads(started.options_json)},
        cookies=[_ceremony_cookie(settings, started.binding)],
    )


def _signed_in(settings: Settings, result: ceremonies.SignedIn) -> Response[Any]:
    return Response(
        {"signedIn": True},
        cookies=[
            staff_cookie(settings, result.session.token),
            _ceremony_cookie_gone(settings),
        ],
    )


class StaffAuthController(Controller):
    path = CEREMONY_PATH
    guards = [json_only]
    request_max_body_size = MAX_CEREMONY_BYTES
    include_in_schema = False
    opt = {"staff_public": True}  # no staff session needed: this is how one gets one

    @post("/enrol/options", status_code=200)
    async def enrol_options(
        self, request: Request[Any, Any, State], data: JSONBody[EnrolInput]
    ) -> Response[Any]:
        settings: Settings = request.app.state.settings
        limiter: RateLimiter = request.app.state.rate_limiter
        started = await _unit(
            request,
            lambda db: ceremonies.start_enrolment(
                db, settings=settings, limiter=limiter, token=data.token, meta=meta(request)
            ),
        )
        return _options(settings, started)

    @post("/enrol", status_code=200)
    async def enrol(
        self, request: Request[Any, Any, State], data: JSONBody[dict[str, Any]]
    ) -> Response[Any]:
        settings: Settings = request.app.state.settings
        result = await _unit(
            request,
            lambda db: ceremonies.finish_enrolment(
                db,
                settings=settings,
                payload=data,
                binding=request.cookies.get(CEREMONY_COOKIE),
                previous_session_token=request.cookies.get(staff_cookie_name(settings)),
                meta=meta(request),
            ),
        )
        return _signed_in(settings, result)

    @post("/login/options", status_code=200)
    async def login_options(self, request: Request[Any, Any, State]) -> Response[Any]:
        settings: Settings = request.app.state.settings
        limiter: RateLimiter = request.app.state.rate_limiter
        started = await _unit(
            request,
            lambda db: ceremonies.start_login(
                db, settings=settings, limiter=limiter, meta=meta(request)
            ),
        )
        return _options(settings, started)

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
                binding=request.cookies.get(CEREMONY_COOKIE),
                previous_session_token=request.cookies.get(staff_cookie_name(settings)),
                meta=meta(request),
            ),
        )
        return _signed_in(settings, result)
