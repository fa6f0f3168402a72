"""REST for extracts: downloads with HTTP caching, the public JWKS, status lists, verification
and share links. Creating and listing extracts is GraphQL (extracts.schema).

Owner downloads (/extracts/{id}[.json|.jws|.html|.pdf]) need the session cookie: 401 without
one, 404 for an id that is not the caller's (never 403: existence is not revealed).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.enums import MediaType
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.types import ControllerRouterHandler
from msgspec import Struct
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.clientip import client_ip
from api.errors import DomainError, InvalidInput, NotFound, Unauthenticated
from api.settings import Settings
from auth import sessions
from auth.cookies import session_cookie_name
from auth.ratelimit import Limit, RateLimiter, enforce
from auth.routes import json_only
from extracts import render, sdjwt, sdjwt_vc, service, statuslist
from extracts.issuer import ExtractIssuer
from extracts.models import Extract, ShareLink
from extracts.pdf import render_pdf
from extracts.statuslist import b64url_decode
from extracts.verify import MAX_JWS_CHARS, Result, Verification
from records import service as records

T = TypeVar("T")
JOSE = "application/jose"  # RFC 7515 §9.2.1: a compact-serialised JWS
IMMUTABLE = "private, immutable, max-age=31536000"
# Public verifiers have no account: per-IP limits keep them from being used as an oracle farm.
VERIFY_PER_IP = Limit("extract-verify-ip", 120, 60)
SHARE_PER_IP = Limit("share-open-ip", 60, 60)
SUFFIXES = ("", "json", "jws", "html", "pdf")


def _issuer(request: Request[Any, Any, State]) -> ExtractIssuer:
    issuer: ExtractIssuer = request.app.state.extract_issuer
    return issuer


def _client_ip(request: Request[Any, Any, Any]) -> str:
    return client_ip(request) or "unknown"


async def _unit(
    request: Request[Any, Any, State], work: Callable[[AsyncSession], Awaitable[T]]
) -> T:
    """One transaction: commit on success, roll back on any error."""
    factory: async_sessionmaker[AsyncSession] = request.app.state.session_factory
    async with factory() as db:
        try:
            result = await work(db)
        except BaseException:
            await db.rollback()
            raise
        await db.commit()
        return result


def _matches(request: Request[Any, Any, Any], etag: str) -> bool:
    """If-None-Match uses the weak comparison (RFC 9110 §13.1.2)."""
    header = request.headers.get("if-none-match")
    if not header:
        return False
    if header.strip() == "*":
        return True
    wanted = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == wanted for tag in header.split(","))


def _cached(
    request: Request[Any, Any, Any],
    body: bytes | str,
    *,
    media_type: str,
    etag: str,
    cache_control: str,
    extra: dict[str, str] | None = None,
) -> Response[Any]:
    headers = {"etag": etag, "cache-control": cache_control, **(extra or {})}
    if _matches(request, etag):
        return Response(b"", status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)


def _strong_etag(*parts: str) -> str:
    return '"' + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32] + '"'


def _payload(extract: Extract) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(b64url_decode(extract.jws.split(".")[1]))
    return decoded


def _lang(value: str | None, default: str) -> str:
    if value is None:
        return default
    if value not in service.LANGUAGES:
        raise InvalidInput("lang must be 'en' or 'nl'.", field="lang")
    return value


def _public(extra: dict[str, str] | None = None) -> dict[str, str]:
    # Public, credential-free documents: any verifier's web page may fetch them.
    return {"access-control-allow-origin": "*", **(extra or {})}


@get("/.well-known/jwks.json", cache=False)
async def jwks(request: Request[Any, Any, State]) -> Response[Any]:
    """DUO's extract-signing public keys (RFC 7517 JWK Set), newest first."""
    ring = await _issuer(request).ring()
    return _cached(
        request,
        ring.jwks_json,
        media_type="application/jwk-set+json",
        etag=_strong_etag(ring.jwks_json.decode()),
        cache_control="public, max-age=3600",
        extra=_public(),
    )


@get("/.well-known/jwt-vc-issuer", include_in_schema=False, cache=False)
async def jwt_vc_issuer(request: Request[Any, Any, State]) -> Response[Any]:
    """SD-JWT VC §3: where a verifier finds the keys of the credentials' `iss` (the JWKS)."""
    issuer = _issuer(request)
    body = {
        "issuer": issuer.config.issuer,
        "jwks_uri": f"{issuer.config.public_origin}/.well-known/jwks.json",
    }
    return Response(
        body,
        media_type=MediaType.JSON,
        headers=_public({"cache-control": "public, max-age=3600"}),
    )


class VerifyInput(Struct):
    jws: str  # a signed extract (compact JWS) or an SD-JWT VC presentation (with `~`)
    # For a presentation: the verifier's own audience and nonce, which make key binding
    # required (RFC 9901 §7.3); without them a KB-JWT is checked but not matched.
    audience: str | None = None
    nonce: str | None = None


class ExtractController(Controller):
    path = "/extracts"

    @get("/extract.css", cache=False)
    async def stylesheet(self, request: Request[Any, Any, State]) -> Response[Any]:
        return _cached(
            request,
            render.STYLESHEET,
            media_type="text/css",
            etag=_strong_etag(render.STYLESHEET),
            cache_control="public, max-age=86400",
        )

    @get("/status/{number:int}", cache=False)
    async def status_list(
        self, request: Request[Any, Any, State], number: FromPath[int]
    ) -> Response[Any]:
        """A signed Bitstring Status List; short cache so revocations spread within minutes."""
        issuer = _issuer(request)

        async def work(db: AsyncSession) -> statuslist.PublishedList:
            await _in_use(db, number)
            return await issuer.status_list(db, number)

        published = await _unit(request, work)
        return _cached(
            request,
            published.jws,
            media_type=JOSE,
            etag=published.etag,
            cache_control=f"public, max-age={int(statuslist.TTL.total_seconds())}",
            extra=_public(),
        )

    @get("/token-status/{number:int}", cache=False)
    async def token_status_list(
        self, request: Request[Any, Any, State], number: FromPath[int]
    ) -> Response[Any]:
        """The same statuses as an IETF Status List Token (for wallet credentials)."""
        issuer = _issuer(request)

        async def work(db: AsyncSession) -> statuslist.PublishedList:
            await _in_use(db, number)
            return await issuer.token_status_list(db, number)

        published = await _unit(request, work)
        return _cached(
            request,
            published.jws,
            media_type=statuslist.TSL_MEDIA_TYPE,
            etag=published.etag,
            cache_control=f"public, max-age={int(statuslist.TTL.total_seconds())}",
            extra=_public(),
        )

    @get("/types/diploma/v1", cache=False)
    async def type_metadata(self, request: Request[Any, Any, State]) -> Response[Any]:
        """SD-JWT VC Type Metadata for the diploma's `vct` (that URL itself, §4.3.1)."""
        body = sdjwt_vc.type_metadata(_issuer(request).config.public_origin)
        return Response(
            body,
            media_type=MediaType.JSON,
            headers=_public({"cache-control": "public, max-age=86400"}),
        )

    @post("/verify", status_code=200, guards=[json_only], request_max_body_size=MAX_JWS_CHARS * 2)
    async def verify(
        self, request: Request[Any, Any, State], data: JSONBody[VerifyInput]
    ) -> Response[Any]:
        """Public, no account: the verdict on a JWS, with the content when the signature holds."""
        limiter: RateLimiter = request.app.state.rate_limiter
        await enforce(limiter, VERIFY_PER_IP, _client_ip(request))
        issuer = _issuer(request)
        if sdjwt.looks_like_sd_jwt(data.jws):
            presented = await _unit(
                request,
                lambda db: issuer.verify_presentation(
                    db, data.jws, audience=data.audience, nonce=data.nonce
                ),
            )
            return Response(presented.as_json(), media_type=MediaType.JSON)
        verification = await _unit(request, lambda db: issuer.verify(db, data.jws))
        return Response(verification.as_json(), media_type=MediaType.JSON)

    @get("/{name:str}", cache=False)
    async def download(
        self,
        request: Request[Any, Any, State],
        name: FromPath[str],
        lang: FromQuery[str | None] = None,
    ) -> Response[Any]:
        """The owner's extract: JSON (no suffix or .json), .jws, .html?lang=, .pdf."""
        stem, _, suffix = name.partition(".")
        try:
            extract_id = uuid.UUID(stem)
        except ValueError:
            raise NotFound("No such extract.", field="id") from None
        if suffix not in SUFFIXES:
            raise NotFound("No such extract format.", field="id")
        settings: Settings = request.app.state.settings
        extract, reader_language = await _unit(
            request, lambda db: _owned(db, request, settings, extract_id)
        )
        # Vary: Cookie keeps a shared browser profile from serving one person's copy to another.
        headers = {"vary": "Cookie"}
        origin = settings.public_origin
        if suffix == "jws":
            headers["content-disposition"] = f'attachment; filename="duo-extract-{extract.id}.jws"'
            return _cached(
                request,
                extract.jws,
                media_type=JOSE,
                etag=_strong_etag(extract.jws),
                cache_control=IMMUTABLE,
                extra=headers,
            )
        if suffix in ("", "json"):
            body = {
                "id": str(extract.id),
                "diplomaId": str(extract.diploma_id),
                "version": extract.version,
                "language": extract.language,
                "createdAt": extract.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "kid": extract.kid,
                "jws": extract.jws,
                "payload": _payload(extract),
            }
            return _cached(
                request,
                json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(),
                media_type=MediaType.JSON,
                etag=_strong_etag(extract.jws, "json"),
                cache_control=IMMUTABLE,
                extra=headers,
            )
        # By default in the language the person reads the app in now (#16 item 1).
        language = _lang(lang, reader_language)
        etag = _strong_etag(extract.jws, suffix, language, render.RENDER_VERSION, origin)
        if _matches(request, etag):  # skip rendering when the copy in cache is current
            return _cached(
                request, b"", media_type=JOSE, etag=etag, cache_control=IMMUTABLE, extra=headers
            )
        args: dict[str, Any] = {
            "jws": extract.jws,
            "kid": extract.kid,
            "lang": language,
            "public_origin": origin,
        }
        if suffix == "pdf":
            name = f"duo-extract-{extract.id}-{language}.pdf"
            headers["content-disposition"] = f'inline; filename="{name}"'
            pdf = render_pdf(_payload(extract), **args)
            return _cached(
                request,
                pdf,
                media_type="application/pdf",
                etag=etag,
                cache_control=IMMUTABLE,
                extra=headers,
            )
        page = render.render_html(
            _payload(extract),
            **args,
            downloads={
                "download_pdf": f"/extracts/{extract.id}.pdf?lang={language}",
                "download_jws": f"/extracts/{extract.id}.jws",
            },
        )
        return _cached(
            request,
            page,
            media_type=MediaType.HTML,
            etag=etag,
            cache_control=IMMUTABLE,
            extra=headers,
        )


async def _in_use(db: AsyncSession, number: int) -> None:
    highest = await db.scalar(select(func.max(Extract.status_index)))
    in_use = statuslist.list_position(highest or 0)[0]
    if not 1 <= number <= in_use:
        raise NotFound("No such status list.", field="number")


async def _owned(
    db: AsyncSession, request: Request[Any, Any, Any], settings: Settings, extract_id: uuid.UUID
) -> tuple[Extract, str]:
    """The signed-in person's extract, and the language they chose for the app."""
    token = request.cookies.get(session_cookie_name(settings))
    if not token:
        raise Unauthenticated()
    lookup = await sessions.resolve_session(
        db, token=token, idle_timeout=settings.session_idle_timeout
    )
    if lookup.principal is None:
        await db.commit()  # an expired session was deleted: keep that
        raise Unauthenticated()
    person_id = lookup.principal.person_id
    extract = await service.get_extract(db, person_id, extract_id)
    person = await records.get_person(db, person_id)
    language = person.preferred_language if person.preferred_language in service.LANGUAGES else "en"
    return extract, language


@get("/s/{token:str}", cache=False)
async def open_share_link(
    request: Request[Any, Any, State], token: FromPath[str], lang: FromQuery[str | None] = None
) -> Response[Any]:
    """Public: a share link's extract and its verification; a browser gets a page, others JSON.

    Every opening is logged for the holder (time, country from the edge proxy's header).
    """
    limiter: RateLimiter = request.app.state.rate_limiter
    await enforce(limiter, SHARE_PER_IP, _client_ip(request))
    wants_html = request.accept.best_match(["application/json", "text/html"]) == "text/html"
    issuer = _issuer(request)
    country = request.headers.get("cf-ipcountry") or request.headers.get("x-country")

    async def check(db: AsyncSession) -> tuple[ShareLink, Verification]:
        link = await service.open_share_link(db, token)
        return link, await issuer.verify(db, link.extract.jws)

    headers = {"x-robots-tag": "noindex"}
    try:
        link, verification = await _unit(request, check)
    except DomainError as exc:
        if not wants_html or not isinstance(exc, NotFound):
            raise
        page = render.render_message_page("DUO", exc.message)
        return Response(page, status_code=404, media_type=MediaType.HTML, headers=headers)
    # Its own transaction that starts by writing: on SQLite, a read snapshot from the check
    # above could not be upgraded to a write once another request had committed.
    await _unit(
        request,
        lambda db: service.record_access(db, link.id, verification=verification, country=country),
    )
    extract, expires_at = link.extract, link.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    if wants_html:
        page = render.render_html(
            _payload(extract),
            jws=extract.jws,
            kid=extract.kid,
            lang=_lang(lang, extract.language),
            public_origin=issuer.config.public_origin,
            verification=verification,
            link_expires_at=link.expires_at,
        )
        return Response(page, media_type=MediaType.HTML, headers=headers)
    body = {"jws": extract.jws, "expiresAt": expires_at, "verification": verification.as_json()}
    return Response(body, media_type=MediaType.JSON, headers=headers)


# Not a valid extract (revoked, expired, …): the verifier learns that, and not whose it was.
_WITHDRAWN = {
    "en": ("Diploma extract {id}", "This is not a valid extract from DUO."),
    "nl": ("Diploma-uittreksel {id}", "Dit is geen geldig uittreksel van DUO."),
}


@get("/v/{extract_id:uuid}", cache=False)
async def check_extract(
    request: Request[Any, Any, State],
    extract_id: FromPath[uuid.UUID],
    lang: FromQuery[str | None] = None,
) -> Response[Any]:
    """Public: DUO checks an extract now, where its QR code leads (#16 item 10).

    A browser gets a verifier's page: the verdict, what was checked and what it proves, and how
    to check again. Others get `{jws, verification}` (the JWS only while it is valid). The id is
    a 122-bit random number printed on the extract: whoever has the paper may see it here.
    """
    limiter: RateLimiter = request.app.state.rate_limiter
    await enforce(limiter, SHARE_PER_IP, _client_ip(request))
    wants_html = request.accept.best_match(["application/json", "text/html"]) == "text/html"
    issuer = _issuer(request)
    headers = {"x-robots-tag": "noindex"}

    async def check(db: AsyncSession) -> tuple[Extract | None, Verification | None]:
        extract = await service.find_extract(db, extract_id)
        if extract is None:
            return None, None
        return extract, await issuer.verify(db, extract.jws)

    extract, verification = await _unit(request, check)
    if extract is None or verification is None:
        if not wants_html:
            raise NotFound("No such extract.", field="id")
        language = _lang(lang, "en")
        title, _ = _WITHDRAWN[language]
        page = render.render_message_page(
            title.format(id=extract_id),
            "No extract with this number was issued by DUO."
            if language == "en"
            else "DUO heeft geen uittreksel met dit nummer afgegeven.",
            lang=language,
        )
        return Response(page, status_code=404, media_type=MediaType.HTML, headers=headers)
    valid = verification.result is Result.VALID
    language = _lang(lang, extract.language)
    if not wants_html:
        body = {"jws": extract.jws if valid else None, "verification": verification.as_json()}
        return Response(body, media_type=MediaType.JSON, headers=headers)
    if not valid:
        title, plain = _WITHDRAWN[language]
        verdict = render.VERDICTS[language].get(verification.result, "").format(at="")
        page = render.render_message_page(
            title.format(id=extract_id), f"{verdict} {plain}", lang=language
        )
        return Response(page, media_type=MediaType.HTML, headers=headers)
    page = render.render_html(
        _payload(extract),
        jws=extract.jws,
        kid=extract.kid,
        lang=language,
        public_origin=issuer.config.public_origin,
        verification=verification,
    )
    return Response(page, media_type=MediaType.HTML, headers=headers)


def route_handlers() -> list[ControllerRouterHandler]:
    """Everything create_app registers for extracts."""
    handlers: list[HTTPRouteHandler | type[Controller]] = [
        jwks,
        jwt_vc_issuer,
        ExtractController,
        open_share_link,
        check_extract,
    ]
    return list(handlers)
