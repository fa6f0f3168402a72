"""HTTP for wallets: OpenID4VCI 1.0 (metadata, token, nonce and credential endpoints) and the
OpenID4VP 1.0 verifier (its pages and the Response URI).

Wallets are OAuth clients, not browsers with a session: errors answer in OAuth's shape
(`{"error", "error_description"}`, RFC 6749 §5.2), never the app's GraphQL-like one, and every
answer is `no-store` (RFC 6749 §5.1, OpenID4VCI §7.2).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie, State
from litestar.enums import MediaType
from litestar.params import FromPath, FromQuery
from litestar.types import ControllerRouterHandler
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.clientip import client_ip, request_meta
from api.database import begin_write
from api.errors import DomainError, NotFound
from api.settings import Settings
from auth.ratelimit import Limit, RateLimiter, enforce
from extracts import sdjwt_vc
from extracts.keys import KeyRing
from extracts.service import IssuerConfig
from wallet import metadata, presentations, service, verifier_page
from wallet.models import PresentationRequest
from wallet.presentations import PresentationError
from wallet.service import OAuthError

T = TypeVar("T")
NO_STORE = {"cache-control": "no-store", "pragma": "no-cache"}
TOKEN_PER_IP = Limit("wallet-token-ip", 30, 60)
CREDENTIAL_PER_IP = Limit("wallet-credential-ip", 30, 60)
NONCE_PER_IP = Limit("wallet-nonce-ip", 120, 60)
VERIFIER_START_PER_IP = Limit("verifier-start-ip", 20, 60)
VERIFIER_RESPONSE_PER_IP = Limit("verifier-response-ip", 30, 60)
VERIFIER_POLL_PER_IP = Limit("verifier-poll-ip", 120, 60)
MAX_BODY = 64 * 1024


class Issuer(Protocol):
    """What the wallet endpoints need of the extract issuer (app.state["extract_issuer"])."""

    config: IssuerConfig

    async def ring(self) -> KeyRing: ...

    async def verify_presentation(
        self, db: AsyncSession, token: str, *, audience: str | None, nonce: str | None
    ) -> sdjwt_vc.Verification: ...


def _settings(request: Request[Any, Any, State]) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _ip(request: Request[Any, Any, Any]) -> str:
    return client_ip(request) or "unknown"


async def _unit(
    request: Request[Any, Any, State], work: Callable[[AsyncSession], Awaitable[T]]
) -> T:
    """One transaction; a refusal is committed too (attempt counts, the audit trail)."""
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


def _oauth_error(request: Request[Any, Any, Any], exc: OAuthError) -> Response[Any]:
    headers = dict(NO_STORE)
    if exc.status == 401:
        # RFC 6750 §3: tell the client why its bearer token was refused.
        headers["www-authenticate"] = f'Bearer error="{exc.code}"'
    return Response(
        {"error": exc.code, "error_description": exc.message},
        status_code=exc.status,
        media_type=MediaType.JSON,
        headers=headers,
    )


def _public_json(body: dict[str, Any]) -> Response[Any]:
    # Public documents any wallet or verifier web page may read.
    headers = {"access-control-allow-origin": "*", "cache-control": "public, max-age=3600"}
    return Response(body, media_type=MediaType.JSON, headers=headers)


@get("/.well-known/openid-credential-issuer", include_in_schema=False, cache=False)
async def issuer_metadata(request: Request[Any, Any, State]) -> Response[Any]:
    """§12.2.2: the Credential Issuer Identifier is PUBLIC_ORIGIN (no path)."""
    return _public_json(metadata.credential_issuer_metadata(_settings(request).public_origin))


@get("/.well-known/oauth-authorization-server", include_in_schema=False, cache=False)
async def authorization_server_metadata(request: Request[Any, Any, State]) -> Response[Any]:
    return _public_json(metadata.authorization_server_metadata(_settings(request).public_origin))


class WalletController(Controller):
    path = "/wallet"
    include_in_schema = False
    request_max_body_size = MAX_BODY
    exception_handlers = {OAuthError: _oauth_error}

    @post("/token", status_code=200)
    async def token(self, request: Request[Any, Any, State]) -> Response[Any]:
        """RFC 6749 §4.1.3 + OpenID4VCI §6.1: a form-encoded token request."""
        limiter: RateLimiter = request.app.state.rate_limiter
        await enforce(limiter, TOKEN_PER_IP, _ip(request))
        content_type = request.headers.get("content-type", "").split(";")[0].strip()
        if content_type != "application/x-www-form-urlencoded":
            raise OAuthError("invalid_request", "Send application/x-www-form-urlencoded.")
        form = await request.form()
        fields: dict[str, str] = {}
        for name, value in form.multi_items():
            if name in fields:
                raise OAuthError("invalid_request", f"{name} is repeated.")  # RFC 6749 §3.2
            if not isinstance(value, str):
                raise OAuthError("invalid_request", f"{name} is not text.")
            fields[name] = value
        settings = _settings(request)
        token = await _unit(
            request,
            lambda db: service.redeem_code(
                db, form=fields, secret_key=settings.secret_key, meta=request_meta(request)
            ),
        )
        body = {
            "access_token": token.access_token,
            "token_type": "Bearer",
            "expires_in": token.expires_in,
        }
        return Response(body, media_type=MediaType.JSON, headers=NO_STORE)

    @post("/nonce", status_code=200)
    async def nonce(self, request: Request[Any, Any, State]) -> Response[Any]:
        """§7: a fresh c_nonce for the key proof; no access token needed."""
        limiter: RateLimiter = request.app.state.rate_limiter
        await enforce(limiter, NONCE_PER_IP, _ip(request))
        c_nonce = service.new_nonce(_settings(request).secret_key)
        return Response({"c_nonce": c_nonce}, media_type=MediaType.JSON, headers=NO_STORE)

    @post("/credential", status_code=200)
    async def credential(self, request: Request[Any, Any, State]) -> Response[Any]:
        """§8: the diploma as an SD-JWT VC, for a bearer token and a key proof."""
        limiter: RateLimiter = request.app.state.rate_limiter
        await enforce(limiter, CREDENTIAL_PER_IP, _ip(request))
        scheme, _, access_token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            access_token = ""
        content_type = request.headers.get("content-type", "").split(";")[0].strip()
        if content_type != "application/json":
            raise OAuthError("invalid_credential_request", "Send application/json.")
        try:
            body = json.loads(await request.body())
        except (ValueError, RecursionError) as exc:
            raise OAuthError("invalid_credential_request", "The body is not JSON.") from exc
        settings = _settings(request)
        issuer: Issuer = request.app.state.extract_issuer
        ring = await issuer.ring()
        credential = await _unit(
            request,
            lambda db: service.issue_credential(
                db,
                access_token=access_token.strip() or None,
                request=body,
                secret_key=settings.secret_key,
                credential_issuer=settings.public_origin,
                ring=ring,
                config=issuer.config,
                meta=request_meta(request),
            ),
        )
        return Response(
            {"credentials": [{"credential": credential}]},
            media_type=MediaType.JSON,
            headers=NO_STORE,
        )


async def _form_fields(request: Request[Any, Any, State]) -> dict[str, str]:
    """A form-encoded body with each parameter once (RFC 6749 §3.2), as text."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip()
    if content_type != "application/x-www-form-urlencoded":
        raise OAuthError("invalid_request", "Send application/x-www-form-urlencoded.")
    form = await request.form()
    fields: dict[str, str] = {}
    for name, value in form.multi_items():
        if name in fields:
            raise OAuthError("invalid_request", f"{name} is repeated.")
        if not isinstance(value, str):
            raise OAuthError("invalid_request", f"{name} is not text.")
        fields[name] = value
    return fields


def _presentation_error(request: Request[Any, Any, Any], exc: PresentationError) -> Response[Any]:
    return _oauth_error(request, OAuthError(exc.code, exc.message))


def _html(page: str, *, status_code: int = 200) -> Response[Any]:
    headers = {"cache-control": "no-store", "x-robots-tag": "noindex"}
    return Response(page, status_code=status_code, media_type=MediaType.HTML, headers=headers)


def _reader_cookie_name(settings: Settings) -> str:
    return "__Secure-duo_verifier" if settings.secure_cookies else "duo_verifier"


class VerifierController(Controller):
    """OpenID4VP 1.0 for a verifier with a browser (an employer abroad): no account needed.

    The browser that starts a check holds its secret in a cookie scoped to that check's path,
    so the disclosed claims are shown to that browser only.
    """

    path = "/verifier"
    include_in_schema = False
    request_max_body_size = MAX_BODY
    exception_handlers = {OAuthError: _oauth_error, PresentationError: _presentation_error}

    @get("", cache=False)
    async def start(self, lang: FromQuery[str | None] = None) -> Response[Any]:
        return _html(verifier_page.start_page(verifier_page.language(lang)))

    @get("/verifier.js", cache=False)
    async def script(self) -> Response[Any]:
        return Response(
            verifier_page.SCRIPT,
            media_type="text/javascript",
            headers={"cache-control": "public, max-age=3600"},
        )

    @post("/requests", status_code=303)
    async def create(
        self, request: Request[Any, Any, State], lang: FromQuery[str | None] = None
    ) -> Response[Any]:
        limiter: RateLimiter = request.app.state.rate_limiter
        await enforce(limiter, VERIFIER_START_PER_IP, _ip(request))
        form = await request.form()
        claims = [value for value in form.getall("claim", []) if isinstance(value, str)]
        settings = _settings(request)
        created = await _unit(
            request,
            lambda db: presentations.create_request(
                db,
                optional_claims=claims,
                secret_key=settings.secret_key,
                public_origin=settings.public_origin,
            ),
        )
        path = f"/verifier/requests/{created.request.id}"
        cookie = Cookie(
            key=_reader_cookie_name(settings),
            value=created.reader,
            path=path,
            max_age=int(presentations.REQUEST_TTL.total_seconds()),
            httponly=True,
            secure=settings.secure_cookies,
            samesite="lax",
        )
        language = verifier_page.language(lang)
        return Response(
            None,
            status_code=303,
            headers={"location": f"{path}?lang={language}", "cache-control": "no-store"},
            cookies=[cookie],
        )

    async def _open(
        self, request: Request[Any, Any, State], request_id: uuid.UUID
    ) -> PresentationRequest:
        settings = _settings(request)
        reader = request.cookies.get(_reader_cookie_name(settings))
        return await _unit(
            request,
            lambda db: presentations.open_request(
                db, request_id, reader, secret_key=settings.secret_key
            ),
        )

    @get("/requests/{request_id:uuid}", cache=False)
    async def show(
        self,
        request: Request[Any, Any, State],
        request_id: FromPath[uuid.UUID],
        lang: FromQuery[str | None] = None,
    ) -> Response[Any]:
        language = verifier_page.language(lang)
        try:
            row = await self._open(request, request_id)
        except NotFound as exc:
            return _html(verifier_page.message_page(language, exc.message), status_code=404)
        if row.result is not None:
            return _html(verifier_page.result_page(language, row.result))
        authorization_request = presentations.request_uri_for(row, _settings(request).public_origin)
        return _html(
            verifier_page.pending_page(
                language,
                request_id=str(row.id),
                authorization_request=authorization_request,
                expires_at=row.expires_at,
            )
        )

    @get("/requests/{request_id:uuid}/state", cache=False)
    async def state(
        self, request: Request[Any, Any, State], request_id: FromPath[uuid.UUID]
    ) -> Response[Any]:
        limiter: RateLimiter = request.app.state.rate_limiter
        await enforce(limiter, VERIFIER_POLL_PER_IP, _ip(request))
        row = await self._open(request, request_id)
        return Response(
            {"answered": row.answered_at is not None},
            media_type=MediaType.JSON,
            headers={"cache-control": "no-store"},
        )

    @post("/response", status_code=200)
    async def response(self, request: Request[Any, Any, State]) -> Response[Any]:
        """§8.2: the wallet posts `vp_token` and `state` (or an error) here."""
        limiter: RateLimiter = request.app.state.rate_limiter
        await enforce(limiter, VERIFIER_RESPONSE_PER_IP, _ip(request))
        fields = await _form_fields(request)
        settings = _settings(request)
        issuer: Issuer = request.app.state.extract_issuer

        async def work(db: AsyncSession) -> None:
            async def verify(token: str, audience: str, nonce: str) -> sdjwt_vc.Verification:
                return await issuer.verify_presentation(db, token, audience=audience, nonce=nonce)

            await presentations.receive_response(
                db,
                fields,
                secret_key=settings.secret_key,
                public_origin=settings.public_origin,
                verify=verify,
            )

        await _unit(request, work)
        # No redirect_uri: the verifier's page learns of the answer by itself (cross-device).
        return Response({}, media_type=MediaType.JSON, headers=NO_STORE)


def route_handlers() -> list[ControllerRouterHandler]:
    """Everything create_app registers for wallets and the verifier."""
    return [issuer_metadata, authorization_server_metadata, WalletController, VerifierController]
