"""GraphQL for extracts: the viewer's extracts and share links, and the mutations on them.

The signed documents themselves are downloaded over REST (extracts.routes), where HTTP
caching works; these types carry their URLs.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import segno
import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from api.context import RequestContext
from api.database import utcnow
from api.ids import parse_uuid
from extracts import models, service
from extracts.issuer import ExtractIssuer
from extracts.statuslist import b64url_decode

Ctx = Info[RequestContext, None]


def _issuer(info: Ctx) -> ExtractIssuer:
    request = info.context.request
    if request is None:  # pragma: no cover - GraphQL is only served over HTTP
        raise RuntimeError("extracts need the HTTP request's app")
    issuer: ExtractIssuer = request.app.state.extract_issuer
    return issuer


async def _end_snapshot(db: AsyncSession) -> None:
    # Nothing was written in it: this only ends the read transaction (a commit, not a
    # rollback, so that the test suite's nested savepoints keep the new key).
    await db.commit()


@strawberry.type(description="A signed, immutable extract of one of the viewer's diplomas.")
class Extract:
    id: strawberry.ID
    diploma_id: strawberry.ID
    version: int = strawberry.field(description="1 for the diploma's first extract, then 2, …")
    language: str = strawberry.field(description="'en' or 'nl': the rendering's language.")
    created_at: datetime
    expires_at: datetime | None = strawberry.field(
        description="After this, verifiers are told 'expired'; null: no end date."
    )
    revoked: bool
    revoked_at: datetime | None
    json_url: str = strawberry.field(description="JSON {id, jws, payload, …}; owner only.")
    jws_url: str = strawberry.field(description="The compact JWS (application/jose).")
    html_url: str = strawberry.field(description="Printable page; add ?lang=en|nl.")
    pdf_url: str = strawberry.field(description="PDF; add ?lang=en|nl.")

    @classmethod
    def from_model(cls, row: models.Extract, public_origin: str) -> Extract:
        payload = json.loads(b64url_decode(row.jws.split(".")[1]))
        exp = payload.get("exp")
        base = f"{public_origin}/extracts/{row.id}"
        return cls(
            id=strawberry.ID(str(row.id)),
            diploma_id=strawberry.ID(str(row.diploma_id)),
            version=row.version,
            language=row.language,
            created_at=row.created_at,
            expires_at=datetime.fromtimestamp(exp, UTC) if isinstance(exp, int) else None,
            revoked=row.revoked_at is not None,
            revoked_at=row.revoked_at,
            json_url=base,
            jws_url=f"{base}.jws",
            html_url=f"{base}.html?lang={row.language}",
            pdf_url=f"{base}.pdf?lang={row.language}",
        )


@strawberry.type(description="One opening of a share link.")
class ShareLinkAccess:
    at: datetime
    country: str | None = strawberry.field(description="ISO 3166-1 alpha-2, when known.")
    verified: bool = strawberry.field(description="The extract verified as valid at the time.")
    result: str = strawberry.field(
        description="valid, revoked, expired, tampered or unknown_issuer."
    )


@strawberry.type(description="A link that lets anyone who has it verify one extract.")
class ShareLink:
    id: strawberry.ID
    extract_id: strawberry.ID
    created_at: datetime
    expires_at: datetime
    expired: bool
    revoked: bool
    revoked_at: datetime | None
    access_count: int
    accesses: list[ShareLinkAccess] = strawberry.field(description="Newest first.")

    @classmethod
    def from_model(cls, row: models.ShareLink, now: datetime) -> ShareLink:
        return cls(
            id=strawberry.ID(str(row.id)),
            extract_id=strawberry.ID(str(row.extract_id)),
            created_at=row.created_at,
            expires_at=row.expires_at,
            expired=now >= row.expires_at,
            revoked=row.revoked_at is not None,
            revoked_at=row.revoked_at,
            access_count=len(row.accesses),
            accesses=[
                ShareLinkAccess(
                    at=a.accessed_at, country=a.country, verified=a.verified, result=a.result
                )
                for a in row.accesses
            ],
        )


@strawberry.type(description="A new share link; its URL is shown only now.")
class CreatedShareLink:
    share_link: ShareLink
    url: str
    qr_svg_data_uri: str


@strawberry.type
class ExtractFields:
    """Fields of Viewer contributed by the extracts feature (Viewer inherits them)."""

    @strawberry.field(description="The viewer's extracts, newest first (old versions included).")
    async def extracts(self, info: Ctx) -> list[Extract]:
        ctx = info.context
        rows = await ctx.read(service.list_extracts, ctx.person_id())
        return [Extract.from_model(r, ctx.settings.public_origin) for r in rows]

    @strawberry.field(description="The viewer's share links with their access logs, newest first.")
    async def share_links(self, info: Ctx) -> list[ShareLink]:
        ctx = info.context
        rows = await ctx.read(service.list_share_links, ctx.person_id())
        now = utcnow()
        return [ShareLink.from_model(r, now) for r in rows]


@strawberry.type
class ExtractMutation:
    @strawberry.mutation(
        description="Sign a new extract of one of the viewer's diplomas; language 'en' or 'nl'."
    )
    async def create_extract(
        self, info: Ctx, diploma_id: strawberry.ID, language: str = "en"
    ) -> Extract:
        ctx = info.context
        person_id = ctx.person_id()
        service.check_language(language)
        issuer = _issuer(info)
        cold = not issuer.keys.loaded
        ring = await issuer.ring()
        if cold:
            # A development key was just created in its own transaction (normally done at
            # startup, see ExtractIssuer.warm_up). SQLite cannot turn this request's older
            # read snapshot into a write: end it before writing.
            await ctx.read(_end_snapshot)
        row = await ctx.write(
            service.create_extract,
            person_id,
            parse_uuid(diploma_id, field="diplomaId"),
            language=language,
            ring=ring,
            config=issuer.config,
        )
        return Extract.from_model(row, ctx.settings.public_origin)

    @strawberry.mutation(description="A link to one extract for a verifier; 1 to 365 days.")
    async def create_share_link(
        self,
        info: Ctx,
        extract_id: strawberry.ID,
        expires_in_days: int = service.DEFAULT_SHARE_DAYS,
    ) -> CreatedShareLink:
        ctx = info.context
        created = await ctx.write(
            service.create_share_link,
            ctx.person_id(),
            parse_uuid(extract_id, field="extractId"),
            expires_in_days=expires_in_days,
            meta=ctx.meta(),
        )
        url = f"{ctx.settings.public_origin}/s/{created.token}"
        return CreatedShareLink(
            share_link=ShareLink.from_model(created.link, utcnow()),
            url=url,
            qr_svg_data_uri=segno.make(url, error="m").svg_data_uri(scale=4),
        )

    @strawberry.mutation(description="Stop a share link from working; its log stays.")
    async def revoke_share_link(self, info: Ctx, id: strawberry.ID) -> ShareLink:
        ctx = info.context
        row = await ctx.write(
            service.revoke_share_link, ctx.person_id(), parse_uuid(id), meta=ctx.meta()
        )
        return ShareLink.from_model(row, utcnow())
