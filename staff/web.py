"""The staff UI's edge: cookies, the sign-in and role guards, CSRF, language, rendering.

Every staff page handler is guarded: `signed_in` (any staff member) or `requires(role)`.
A request without a valid staff session (a person's session cookie included: it is never
looked at here) gets 401 and a page that only says how to sign in. A member without the
role gets 403, and the refusal is audited with their id.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar
from urllib.parse import quote

import structlog
from jinja2 import Environment, PackageLoader, StrictUndefined
from litestar import Request, Response
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie, State
from litestar.exceptions import HTTPException
from litestar.handlers import BaseRouteHandler
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from litestar.template.config import TemplateConfig
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.clientip import request_meta
from api.database import begin_write
from api.errors import DomainError
from api.outages import RETRY_AFTER_SECONDS, DependencyUnavailable, Outages, unavailable
from api.settings import Settings
from staff import audit, sessions
from staff.errors import StaffError
from staff.models import Role
from staff.sessions import StaffPrincipal
from staff.texts import LANGUAGES, Translator

log = structlog.get_logger("staff.web")

LANG_COOKIE = "duo_staff_lang"
CSRF_FIELD = "_csrf"
STATE_KEY = "staff"  # where the guard leaves the principal in the connection's state
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
T = TypeVar("T")


class StaffAuthRequired(Exception):
    """No valid staff session: 401 and a page that says how to sign in."""


class StaffForbidden(Exception):
    """A signed-in member without the role, or a form without its CSRF token: 403."""

    def __init__(self, role: Role | None = None) -> None:
        super().__init__(role.value if role else "csrf")
        self.role = role


# --- cookies ---------------------------------------------------------------------------------


def staff_cookie_name(settings: Settings) -> str:
    # __Host- binds the cookie to the staff origin exactly (no Domain, Path=/), but browsers
    # accept it only with Secure, so plain-http localhost development uses the bare name.
    return "__Host-duo_staff" if settings.staff_secure_cookies else "duo_staff"


def staff_cookie(settings: Settings, token: str) -> Cookie:
    return Cookie(
        key=staff_cookie_name(settings),
        value=token,
        path="/",
        httponly=True,
        secure=settings.staff_secure_cookies,
        # Strict: staff pages are never entered signed in from another site (a link from
        # a ticket lands on the sign-in page first); cross-site requests carry no cookie.
        samesite="strict",
    )


def expired_staff_cookie(settings: Settings) -> Cookie:
    return Cookie(
        key=staff_cookie_name(settings),
        value="",
        path="/",
        httponly=True,
        secure=settings.staff_secure_cookies,
        samesite="strict",
        max_age=0,
    )


# --- requests --------------------------------------------------------------------------------


def settings_of(request: ASGIConnection[Any, Any, Any, Any]) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


meta = request_meta


def principal(request: ASGIConnection[Any, Any, Any, Any]) -> StaffPrincipal:
    """The member the guard let in (every page handler has a guard)."""
    found = request.scope.get("state", {}).get(STATE_KEY)
    if not isinstance(found, StaffPrincipal):
        raise StaffAuthRequired()
    return found


def maybe_principal(request: ASGIConnection[Any, Any, Any, Any]) -> StaffPrincipal | None:
    found = request.scope.get("state", {}).get(STATE_KEY)
    return found if isinstance(found, StaffPrincipal) else None


def _factory(request: ASGIConnection[Any, Any, Any, Any]) -> async_sessionmaker[AsyncSession]:
    factory: async_sessionmaker[AsyncSession] = request.app.state.session_factory
    return factory


@asynccontextmanager
async def unit(request: ASGIConnection[Any, Any, Any, Any]) -> AsyncIterator[AsyncSession]:
    """One write transaction: committed when the block ends normally, else rolled back."""
    async with _factory(request)() as db:
        try:
            await begin_write(db)
            yield db
        except BaseException:
            await db.rollback()
            raise
        await db.commit()


async def attempt(
    request: ASGIConnection[Any, Any, Any, Any],
    work: Callable[[AsyncSession], Coroutine[Any, Any, T]],
) -> T:
    """Run a service call as one transaction; a DomainError is committed, not rolled back,
    so that the refusal the service audited (a self-grant, a conflict) stays on record."""
    async with _factory(request)() as db:
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


def csrf_token(settings: Settings, session_id: uuid.UUID) -> str:
    """A form token bound to the staff session (HMAC with SECRET_KEY): nothing to store.

    Litestar's CSRFMiddleware is app-wide and keyed to a cookie of its own; the staff pages
    are the only form posts in this app, and a token bound to the session is the stronger
    kind (OWASP CSRF cheat sheet, "synchronizer token"). It backs up SameSite=Strict and the
    edge's Origin/Sec-Fetch-Site refusal.
    """
    message = f"staff-csrf:{session_id}".encode()
    return hmac.new(settings.secret_key.encode(), message, hashlib.sha256).hexdigest()


async def _resolve(connection: ASGIConnection[Any, Any, Any, Any]) -> StaffPrincipal:
    settings = settings_of(connection)
    token = connection.cookies.get(staff_cookie_name(settings))
    if not token:
        raise StaffAuthRequired()
    async with unit(connection) as db:
        found = await sessions.resolve_session(db, token=token)
    if found is None:
        raise StaffAuthRequired()
    connection.scope.setdefault("state", {})[STATE_KEY] = found
    if connection.scope.get("method") not in ("GET", "HEAD"):
        await _check_csrf(connection, settings, found)
    return found


async def _check_csrf(
    connection: ASGIConnection[Any, Any, Any, Any], settings: Settings, found: StaffPrincipal
) -> None:
    content_type = connection.headers.get("content-type", "").split(";")[0].strip().lower()
    given = connection.headers.get("x-csrf-token")
    if content_type in FORM_TYPES and isinstance(connection, Request):
        form = await connection.form()  # cached: the handler reads the same form
        value = form.get(CSRF_FIELD)
        given = value if isinstance(value, str) else given
    if not given or not hmac.compare_digest(given, csrf_token(settings, found.session_id)):
        raise StaffForbidden(None)


async def signed_in(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard: any signed-in staff member."""
    await _resolve(connection)


def requires(role: Role) -> Callable[..., Coroutine[Any, Any, None]]:
    """Guard: a signed-in staff member with this role; a refusal is audited."""

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        found = await _resolve(connection)
        if found.has(role):
            return
        async with unit(connection) as db:
            await audit.record(
                db,
                staff=found,
                action="staff.forbidden",
                outcome="failure",
                reason="missing_role",
                meta=meta(connection),
                details={
                    "requiredRole": role.value,
                    "method": connection.scope.get("method"),
                    "path": connection.scope["path"],
                },
            )
        raise StaffForbidden(role)

    guard.__name__ = f"requires_{role.value}"
    guard.required_role = role  # type: ignore[attr-defined]  # read by the route audit test
    return guard


# --- language and rendering -----------------------------------------------------------------


def language_of(request: ASGIConnection[Any, Any, Any, Any]) -> str:
    chosen = request.cookies.get(LANG_COOKIE)
    return chosen if chosen in LANGUAGES else LANGUAGES[0]


NAV: tuple[tuple[str, str, Role | None], ...] = (
    # (path, text key, role); the home page is for every member.
    ("/staff/", "nav.home", None),
    ("/staff/activation", "nav.activation", Role.HELPDESK),
    ("/staff/persons", "nav.persons", Role.HELPDESK),
    ("/staff/forms", "nav.forms", Role.FORMS),
    ("/staff/extracts", "nav.extracts", Role.CREDENTIALS),
    ("/staff/audit", "nav.audit", Role.AUDITOR),
    ("/staff/imports", "nav.imports", Role.ADMIN),
    ("/staff/admin/staff", "nav.admin", Role.ADMIN),
)
_extra_nav: list[tuple[str, str, Role | None]] = []


def add_nav(path: str, text_key: str, role: Role | None) -> None:
    """A page of another feature in the staff navigation (e.g. the activation queue)."""
    if (path, text_key, role) not in _extra_nav:
        _extra_nav.append((path, text_key, role))


def navigation(found: StaffPrincipal | None, current: str) -> list[dict[str, Any]]:
    if found is None:
        return []
    items = []
    for path, key, role in (*NAV[:3], *_extra_nav, *NAV[3:]):
        if role is None or found.has(role):
            active = path == current or (path != "/staff/" and current.startswith(path))
            items.append({"path": path, "key": key, "current": active})
    return items


def page(
    request: ASGIConnection[Any, Any, Any, Any],
    template: str,
    *,
    status_code: int = 200,
    cookies: list[Cookie] | None = None,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> Template:
    """Render a staff page with what every page needs (texts, member, navigation, token)."""
    settings = settings_of(request)
    found = maybe_principal(request)
    language = language_of(request)
    path = request.scope["path"]
    query = request.scope.get("query_string", b"").decode("latin-1")
    return Template(
        template_name=template,
        context={
            "t": Translator(language),
            "lang": language,
            "other_lang": "en" if language == "nl" else "nl",
            "staff": found,
            "roles": Role,
            "csrf_field": CSRF_FIELD,
            "csrf": csrf_token(settings, found.session_id) if found else "",
            "nav": navigation(found, path),
            "path": path,
            # The page as it is (a record's view id included), for the language switch.
            "here": f"{path}?{query}" if query else path,
            **context,
        },
        status_code=status_code,
        cookies=cookies or [],
        headers=headers,
        media_type="text/html",
    )


def local_path(value: str | None, default: str = "/staff/") -> str:
    """A redirect target from a query or form field: only a path inside the staff UI."""
    if value and value.startswith("/staff/") and not value.startswith("//") and "\\" not in value:
        return value
    return default


def see_other(path: str, *, cookies: list[Cookie] | None = None) -> Redirect:
    return Redirect(path=path, status_code=303, cookies=cookies or [])


# --- error pages (the staff router's exception handlers) -------------------------------------


def auth_required_page(request: Request[Any, Any, State], _: StaffAuthRequired) -> Response[Any]:
    settings = settings_of(request)
    target = quote(local_path(request.scope["path"]), safe="/")
    stale = request.cookies.get(staff_cookie_name(settings))
    return page(
        request,
        "error.html",
        status_code=401,
        cookies=[expired_staff_cookie(settings)] if stale else None,
        title_key="error.signInTitle",
        message_key="error.signInText",
        action={"path": f"/staff/sign-in?next={target}", "key": "error.signInAction"},
    )


def forbidden_page(request: Request[Any, Any, State], exc: StaffForbidden) -> Response[Any]:
    return page(
        request,
        "error.html",
        status_code=403,
        title_key="error.forbiddenTitle",
        message_key="error.forbiddenRole" if exc.role else "error.forbiddenForm",
        role=exc.role.value if exc.role else None,
    )


_STATUS = {"NOT_FOUND": 404, "FORBIDDEN": 403, "CONFLICT": 409}


def error_status(exc: DomainError) -> int:
    return _STATUS.get(exc.code, 400)


def error_text(exc: DomainError, t: Translator) -> str:
    """The refusal in the member's language (staff refusals), else the service's message."""
    return exc.text(t) if isinstance(exc, StaffError) else exc.message


def form_errors(
    request: ASGIConnection[Any, Any, Any, Any], exc: DomainError
) -> list[dict[str, str]]:
    """For a page's error summary: each links to the field it is about."""
    t = Translator(language_of(request))
    return [{"field": exc.field or "", "message": error_text(exc, t)}]


def domain_error_page(request: Request[Any, Any, State], exc: DomainError) -> Response[Any]:
    status = error_status(exc)
    return page(
        request,
        "error.html",
        status_code=status,
        title_key={404: "error.notFoundTitle", 409: "error.conflictTitle"}.get(
            status, "error.badRequestTitle"
        ),
        message=error_text(exc, Translator(language_of(request))),
    )


def unexpected_page(request: Request[Any, Any, State], exc: Exception) -> Response[Any]:
    """An outage of the database or Redis: 503 with Retry-After; any other failure: 500. Both
    as a page in the member's language, never the API's JSON body (the app-wide handler's).

    The outage is noted as api.http does it (one warning per outage, no traceback per request);
    anything else is logged with its traceback and masked on the page.
    """
    outages: Outages | None = request.app.state.get("outages")
    path = request.scope["path"]
    outage = isinstance(exc, DependencyUnavailable) or bool(
        outages.failed(exc, path=path) if outages else unavailable(exc)
    )
    if not outage:
        log.error("staff.unexpected_error", path=path, exc_info=exc)
    # Reloading a page is safe; a form post is not repeated from a link (it may have landed).
    again = request.scope.get("method") in ("GET", "HEAD")
    query = request.scope.get("query_string", b"").decode("latin-1")
    extra: dict[str, Any] = {}
    if again:
        target = local_path(f"{path}?{query}" if query else path)
        extra["action"] = {"path": target, "key": "error.tryAgain"}
    if outage:
        title, text = "error.unavailableTitle", "unavailable"
    else:
        title, text = "error.unexpectedTitle", "unexpected"
    return page(
        request,
        "error.html",
        status_code=503 if outage else 500,
        # RFC 9110 §10.2.3: the same wait the API asks for (api/outages.py).
        headers={"retry-after": str(RETRY_AFTER_SECONDS)} if outage else None,
        title_key=title,
        message_key=f"error.{text}{'Text' if again else 'Post'}",
        **extra,
    )


# Under /staff but not pages: the passkey ceremonies (JSON, read by static/passkey.js) and
# the static files keep the API's JSON errors.
_NOT_PAGES = ("/staff/auth/", "/staff/static/")


def is_page_path(path: str) -> bool:
    return (path == "/staff" or path.startswith("/staff/")) and not path.startswith(_NOT_PAGES)


def http_error_page(request: Request[Any, Any, State], exc: HTTPException) -> Response[Any]:
    """Litestar's own refusals on a staff page (no such page, wrong method, a parameter of the
    wrong type) as a page in the member's language, with the exception's headers (Allow)."""
    if exc.status_code >= 500:
        return unexpected_page(request, exc)
    not_found = exc.status_code == 404
    return page(
        request,
        "error.html",
        status_code=exc.status_code,
        headers=dict(exc.headers or {}),
        title_key="error.notFoundTitle" if not_found else "error.badRequestTitle",
        message_key="error.noSuchPage" if not_found else "error.badRequestText",
        action={"path": "/staff/", "key": "error.toHome"},
    )


def pages_or(
    api_handler: Callable[[Request[Any, Any, State], HTTPException], Response[Any]],
) -> Callable[[Request[Any, Any, State], HTTPException], Response[Any]]:
    """The app's HTTPException handler, with staff pages answered as pages: a mistyped staff
    URL is refused before any route (and its router's handlers) is found."""

    def handler(request: Request[Any, Any, State], exc: HTTPException) -> Response[Any]:
        if is_page_path(request.scope["path"]):
            return http_error_page(request, exc)
        return api_handler(request, exc)

    return handler


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    """Jinja2 for the staff pages: autoescaped, and an undefined name is an error, not ''."""
    environment = Environment(
        loader=PackageLoader("staff", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(environment))
