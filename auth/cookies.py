"""The session cookie, in one place (HTTP edge only)."""

from __future__ import annotations

from litestar.datastructures import Cookie

from api.settings import Settings


def session_cookie_name(settings: Settings) -> str:
    # __Host- binds the cookie to this exact origin (no Domain, Path=/), but browsers only
    # accept it with Secure, so plain-http localhost development uses the bare name.
    return "__Host-duo_session" if settings.secure_cookies else "duo_session"


def session_cookie(settings: Settings, token: str) -> Cookie:
    return Cookie(
        key=session_cookie_name(settings),
        value=token,
        path="/",
        httponly=True,
        secure=settings.secure_cookies,
        # Lax: a link from a verifier's e-mail still lands signed in; cross-site POSTs carry no
        # cookie. Absolute expiry is enforced server-side; the cookie itself is session-scoped.
        samesite="lax",
    )


def expired_session_cookie(settings: Settings) -> Cookie:
    return Cookie(
        key=session_cookie_name(settings),
        value="",
        path="/",
        httponly=True,
        secure=settings.secure_cookies,
        samesite="lax",
        max_age=0,
    )
