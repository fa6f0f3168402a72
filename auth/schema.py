"""GraphQL for the signed-in account: passkeys, sessions, recovery key, security events.

The ceremonies themselves are REST (auth/routes.py): they speak WebAuthn's JSON.
"""

from __future__ import annotations

from datetime import datetime

import segno
import strawberry
from strawberry.types import Info

from api.connection import Connection, connection
from api.context import RequestContext
from api.ids import parse_uuid
from api.pagination import Page
from auth import audit, manage, models, recovery, sessions
from auth.cookies import expired_session_cookie

Ctx = Info[RequestContext, None]


@strawberry.type(description="A passkey that can sign in to this account.")
class Passkey:
    id: strawberry.ID
    name: str
    created_at: datetime
    last_used_at: datetime | None
    synced: bool = strawberry.field(
        description="Backed up by a passkey provider (survives losing the device)."
    )
    device_bound: bool = strawberry.field(description="Lives on one device only.")

    @classmethod
    def from_model(cls, row: models.Passkey) -> Passkey:
        return cls(
            id=strawberry.ID(str(row.id)),
            name=row.name,
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            synced=row.backed_up,
            device_bound=not row.backup_eligible,
        )


@strawberry.type(description="A signed-in browser or app.")
class SessionInfo:
    id: strawberry.ID
    created_at: datetime
    last_seen_at: datetime
    user_agent: str | None
    ip_address: str | None
    current: bool


@strawberry.type(description="An entry of the account's security audit trail.")
class SecurityEvent:
    id: strawberry.ID
    occurred_at: datetime
    action: str
    outcome: str
    ip_address: str | None
    user_agent: str | None
    purpose: str | None = strawberry.field(
        description="How a passkey was added: activation, add, device_link or recovery."
    )
    by_staff: bool = strawberry.field(
        description="Done by DUO staff (then ipAddress and userAgent are not given)."
    )
    staff_role: str | None = strawberry.field(
        description="The DUO staff role it was done in: helpdesk, forms, credentials, auditor "
        "or admin (never who)."
    )
    staff_purpose: str | None = strawberry.field(
        description="Why DUO staff opened the record: submission, activation_request or other."
    )
    staff_reference: str | None = strawberry.field(
        description="The item DUO staff handled (a submission's or request's id)."
    )
    staff_reason: str | None = strawberry.field(
        description="The reason DUO staff gave, as written (a free-text purpose, a revocation)."
    )

    @classmethod
    def from_model(cls, event: models.AuditEvent) -> SecurityEvent:
        details = event.details
        by_staff = event.actor.startswith("staff")

        def text(key: str) -> str | None:
            value = details.get(key)
            return str(value) if value is not None else None

        return cls(
            id=strawberry.ID(str(event.id)),
            occurred_at=event.occurred_at,
            action=event.action,
            outcome=event.outcome,
            # Where DUO staff work from is not the person's business (nor anyone's outside).
            ip_address=None if by_staff else event.ip_address,
            user_agent=None if by_staff else event.user_agent,
            purpose=text("purpose"),
            by_staff=by_staff,
            staff_role=text("staffRole") if by_staff else None,
            staff_purpose=text("purposeKind") if by_staff else None,
            staff_reference=text("purposeReference") if by_staff else None,
            staff_reason=(text("purposeReason") or text("staffReason")) if by_staff else None,
        )


@strawberry.type(description="A link (and QR code) to add a passkey on another device.")
class DeviceLink:
    url: str
    expires_at: datetime
    qr_svg_data_uri: str


@strawberry.type
class AccountFields:
    """Fields of Viewer contributed by the auth feature (Viewer inherits them)."""

    @strawberry.field(description="Active passkeys, oldest first.")
    async def passkeys(self, info: Ctx) -> list[Passkey]:
        ctx = info.context
        rows = await ctx.read(manage.list_passkeys, ctx.person_id())
        return [Passkey.from_model(r) for r in rows]

    @strawberry.field(
        description="True when the only passkey is not backed up (on this one device only): "
        "add another."
    )
    async def needs_second_passkey(self, info: Ctx) -> bool:
        ctx = info.context
        rows = await ctx.read(manage.list_passkeys, ctx.person_id())
        # The backup state (WebAuthn §6.1.3 BS), as of the last sign-in: a synced passkey that
        # is not backed up yet lives on one device too, until its provider syncs it.
        return len(rows) == 1 and not rows[0].backed_up

    @strawberry.field
    async def has_recovery_key(self, info: Ctx) -> bool:
        ctx = info.context
        return await ctx.read(recovery.has_usable_key, ctx.person_id())

    @strawberry.field(description="Signed-in sessions, most recently used first.")
    async def sessions(self, info: Ctx) -> list[SessionInfo]:
        ctx = info.context
        rows = await ctx.read(sessions.list_sessions, person_id=ctx.person_id())
        current = ctx.principal.session_id if ctx.principal else None
        return [
            SessionInfo(
                id=strawberry.ID(str(r.id)),
                created_at=r.created_at,
                last_seen_at=r.last_seen_at,
                user_agent=r.user_agent,
                ip_address=r.ip_address,
                current=r.id == current,
            )
            for r in rows
        ]

    @strawberry.field(description="The account's security audit trail, newest first.")
    async def security_events(
        self, info: Ctx, first: int = 20, after: str | None = None
    ) -> Connection[SecurityEvent]:
        ctx = info.context
        page: Page[models.AuditEvent] = await ctx.read(
            audit.list_for_person, ctx.person_id(), first=first, after=after
        )
        return connection(page, SecurityEvent.from_model)


@strawberry.type
class AuthMutation:
    @strawberry.mutation(description="End this session.")
    async def sign_out(self, info: Ctx) -> bool:
        ctx = info.context
        await ctx.write(manage.sign_out, ctx.person_id(), token=ctx.session_token, meta=ctx.meta())
        if ctx.response is not None:
            ctx.response.set_cookie(expired_session_cookie(ctx.settings))
        return True

    @strawberry.mutation(description="End every session of this account, on every device.")
    async def sign_out_everywhere(self, info: Ctx) -> int:
        ctx = info.context
        ended = await ctx.write(manage.sign_out_everywhere, ctx.person_id(), meta=ctx.meta())
        if ctx.response is not None:
            ctx.response.set_cookie(expired_session_cookie(ctx.settings))
        return ended

    @strawberry.mutation(description="End one of this account's sessions.")
    async def end_session(self, info: Ctx, id: strawberry.ID) -> bool:
        ctx = info.context
        await ctx.write(manage.end_session, ctx.person_id(), parse_uuid(id), meta=ctx.meta())
        return True

    @strawberry.mutation
    async def rename_passkey(self, info: Ctx, id: strawberry.ID, name: str) -> Passkey:
        ctx = info.context
        row = await ctx.write(manage.rename_passkey, ctx.person_id(), parse_uuid(id), name=name)
        return Passkey.from_model(row)

    @strawberry.mutation(
        description="Remove a passkey. Removing the last one needs the recovery key."
    )
    async def revoke_passkey(
        self, info: Ctx, id: strawberry.ID, recovery_key: str | None = None
    ) -> bool:
        ctx = info.context
        await ctx.write(
            manage.revoke_passkey,
            ctx.person_id(),
            parse_uuid(id),
            secret_key=ctx.settings.secret_key,
            recovery_key=recovery_key,
            meta=ctx.meta(),
        )
        return True

    @strawberry.mutation(description="A 10-minute, single-use link to add a passkey elsewhere.")
    async def create_device_link(self, info: Ctx) -> DeviceLink:
        ctx = info.context
        link = await ctx.write(manage.create_device_link, ctx.person_id(), meta=ctx.meta())
        # A fragment, not a query string: it never reaches server logs or Referer headers.
        url = f"{ctx.settings.public_origin}/#/link/{link.token}"
        qr = segno.make(url, error="m")
        return DeviceLink(
            url=url, expires_at=link.expires_at, qr_svg_data_uri=qr.svg_data_uri(scale=4)
        )

    @strawberry.mutation(description="Replace the recovery key; the new one is shown only now.")
    async def renew_recovery_key(self, info: Ctx) -> str:
        ctx = info.context
        return await ctx.write(
            manage.renew_recovery_key,
            ctx.person_id(),
            secret_key=ctx.settings.secret_key,
            meta=ctx.meta(),
        )
