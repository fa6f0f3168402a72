"""The staff UI's frame: home, sign-in and enrolment pages, sign-out, language switch."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.datastructures import Cookie, State
from litestar.params import FromQuery
from litestar.response import Redirect, Template

from staff import audit, sessions
from staff.texts import LANGUAGES
from staff.web import (
    LANG_COOKIE,
    expired_staff_cookie,
    local_path,
    maybe_principal,
    meta,
    page,
    see_other,
    settings_of,
    signed_in,
    staff_cookie_name,
    unit,
)

PUBLIC = {"staff_public": True}  # pages that show nothing but how to sign in


@get("/", guards=[signed_in], name="staff.home")
async def home(request: Request[Any, Any, State]) -> Template:
    return page(request, "home.html")


@get("/sign-in", opt=PUBLIC, name="staff.sign_in")
async def sign_in_page(
    request: Request[Any, Any, State], next: FromQuery[str | None] = None
) -> Template:
    return page(request, "sign_in.html", next_path=local_path(next))


@get("/enrol", opt=PUBLIC, name="staff.enrol")
async def enrol_page(request: Request[Any, Any, State]) -> Template:
    # The invite token rides in the URL's fragment: static/passkey.js reads it; the server
    # never sees it in a URL (logs, Referer), only in the POST that starts the ceremony.
    return page(request, "enrol.html")


@post("/sign-out", guards=[signed_in], name="staff.sign_out")
async def sign_out(request: Request[Any, Any, State]) -> Redirect:
    settings = settings_of(request)
    token = request.cookies.get(staff_cookie_name(settings))
    found = maybe_principal(request)
    async with unit(request) as db:
        if token:
            await sessions.end_session(db, token=token)
        if found is not None:
            await audit.record(db, staff=found, action="staff.sign_out", meta=meta(request))
    return see_other("/staff/sign-in", cookies=[expired_staff_cookie(settings)])


@get("/language", opt=PUBLIC, name="staff.language")
async def language(
    request: Request[Any, Any, State], to: FromQuery[str] = "nl", next: FromQuery[str | None] = None
) -> Redirect:
    chosen = to if to in LANGUAGES else LANGUAGES[0]
    settings = settings_of(request)
    cookie = Cookie(
        key=LANG_COOKIE,
        value=chosen,
        path="/staff",
        secure=settings.staff_secure_cookies,
        httponly=True,
        samesite="lax",
        max_age=365 * 24 * 3600,
    )
    return see_other(local_path(next), cookies=[cookie])


route_handlers = [home, sign_in_page, enrol_page, sign_out, language]
