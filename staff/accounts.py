"""Staff accounts: invites (enrolment links), roles, deactivation.

Rules (issue #13, §1): nobody grants a role to themselves; the last admin cannot be removed
or deactivated; every change is audited with the acting member's id. The CLI's bootstrap
invite is the one action without a signed-in admin (the operator runs it on the server).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.database import utcnow
from auth import codes
from auth.audit import RequestMeta
from auth.names import clean_name
from staff import audit, sessions
from staff.errors import forbidden, invalid, not_found
from staff.models import Role, StaffInvite, StaffMember, StaffPasskey, StaffRole, StaffSession
from staff.sessions import StaffPrincipal

INVITE_TTL = timedelta(hours=24)
ENROL_PATH = "/staff/enrol"


@dataclass(frozen=True, slots=True)
class NewInvite:
    member: StaffMember
    url: str  # shown once: the token is in its fragment and stored only as a hash
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class MemberSummary:
    member: StaffMember
    roles: frozenset[Role]
    passkeys: int
    sessions: int
    pending_invite_until: datetime | None


def parse_roles(values: Iterable[str]) -> frozenset[Role]:
    """Role names as given (CLI, form fields); an unknown one is refused, field `roles`."""
    roles = set()
    for value in values:
        try:
            roles.add(Role(value.strip().lower()))
        except ValueError:
            raise invalid("error.unknownRole", field="roles", role=value) from None
    return frozenset(roles)


def _clean_member_name(name: str) -> str:
    cleaned = clean_name(name)
    if not cleaned:
        raise invalid("error.nameRequired", field="name")
    return cleaned[:100]


async def _new_link(
    db: AsyncSession, member: StaffMember, *, origin: str, by: uuid.UUID | None, now: datetime
) -> NewInvite:
    # A newer link replaces any unused older one: only one enrolment link works at a time.
    await db.execute(
        update(StaffInvite)
        .where(
            StaffInvite.staff_id == member.id,
            StaffInvite.used_at.is_(None),
            StaffInvite.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    token = codes.new_token()
    db.add(
        StaffInvite(
            staff_id=member.id,
            token_hash=codes.token_digest(token),
            created_at=now,
            created_by=by,
            expires_at=now + INVITE_TTL,
        )
    )
    await db.flush()
    # A fragment, not a query string: the token never reaches server logs or Referer headers.
    return NewInvite(
        member=member, url=f"{origin}{ENROL_PATH}#{token}", expires_at=now + INVITE_TTL
    )


async def invite(
    db: AsyncSession,
    *,
    name: str,
    roles: frozenset[Role],
    origin: str,
    by: StaffPrincipal | None,
    meta: RequestMeta,
    now: datetime | None = None,
) -> NewInvite:
    """A new staff member with these roles and a one-time enrolment link (24 h).

    `by` is the inviting admin; None only for the operator's bootstrap on the command line.
    """
    now = now or utcnow()
    if by is not None and not by.has(Role.ADMIN):
        raise forbidden("error.adminOnly")
    cleaned = _clean_member_name(name)
    if not roles:
        raise invalid("error.rolesRequired", field="roles")
    member = StaffMember(
        name=cleaned,
        user_handle=secrets.token_bytes(32),
        created_at=now,
        invited_by=by.staff_id if by else None,
    )
    db.add(member)
    await db.flush()
    for role in sorted(roles):
        db.add(
            StaffRole(
                staff_id=member.id,
                role=role,
                granted_at=now,
                granted_by=by.staff_id if by else None,
            )
        )
    issued = await _new_link(db, member, origin=origin, by=by.staff_id if by else None, now=now)
    await audit.record(
        db,
        staff=by,
        action="staff.invite",
        meta=meta,
        role=Role.ADMIN if by else None,
        details={
            "memberId": str(member.id),
            "name": member.name,
            "roles": sorted(r.value for r in roles),
            "via": "ui" if by else "cli",
        },
    )
    return issued


async def new_enrolment_link(
    db: AsyncSession,
    member_id: uuid.UUID,
    *,
    origin: str,
    by: StaffPrincipal,
    meta: RequestMeta,
    now: datetime | None = None,
) -> NewInvite:
    """A fresh link for a member (lost passkey, link expired); older unused links stop."""
    now = now or utcnow()
    member = await _member(db, member_id)
    if member.deactivated_at is not None:
        raise invalid("error.memberDeactivated", field="id")
    if member.id == by.staff_id:
        raise forbidden("error.selfLink")
    issued = await _new_link(db, member, origin=origin, by=by.staff_id, now=now)
    await audit.record(
        db,
        staff=by,
        action="staff.invite_renew",
        meta=meta,
        role=Role.ADMIN,
        details={"memberId": str(member.id)},
    )
    return issued


async def _member(db: AsyncSession, member_id: uuid.UUID) -> StaffMember:
    member = await db.get(StaffMember, member_id)
    if member is None:
        raise not_found("error.noMember")
    return member


async def _active_admins(db: AsyncSession) -> list[uuid.UUID]:
    """Enrolled, active admins, locked until the transaction ends.

    FOR UPDATE serialises two admins removing each other at once on PostgreSQL (the second
    waits and counts again); SQLite's write transactions are serial anyway.
    """
    rows = await db.scalars(
        select(StaffRole.staff_id)
        .join(StaffMember, StaffMember.id == StaffRole.staff_id)
        .where(
            StaffRole.role == Role.ADMIN,
            StaffMember.deactivated_at.is_(None),
            StaffMember.enrolled_at.is_not(None),
        )
        .with_for_update()
    )
    return list(rows)


async def set_roles(
    db: AsyncSession,
    member_id: uuid.UUID,
    *,
    roles: frozenset[Role],
    by: StaffPrincipal,
    meta: RequestMeta,
    now: datetime | None = None,
) -> frozenset[Role]:
    """Give a member exactly these roles. Refused: granting oneself a role, no admin left."""
    now = now or utcnow()
    if not by.has(Role.ADMIN):
        raise forbidden("error.adminOnly")
    member = await _member(db, member_id)
    if member.deactivated_at is not None:
        raise invalid("error.memberDeactivated", field="id")
    current = frozenset(
        await db.scalars(select(StaffRole.role).where(StaffRole.staff_id == member.id))
    )
    added, removed = roles - current, current - roles
    if member.id == by.staff_id and added:
        await audit.record(
            db,
            staff=by,
            action="staff.roles",
            outcome="failure",
            reason="self_grant",
            meta=meta,
            role=Role.ADMIN,
            details={"memberId": str(member.id), "added": sorted(r.value for r in added)},
        )
        raise forbidden("error.selfGrant")
    if Role.ADMIN in removed and await _would_leave_no_admin(db, member):
        await _refused(db, by, "staff.roles", "last_admin", meta, member)
        raise invalid("error.lastAdmin", field="roles")
    if not added and not removed:
        return current
    if removed:
        await db.execute(
            delete(StaffRole).where(StaffRole.staff_id == member.id, StaffRole.role.in_(removed))
        )
    for role in sorted(added):
        db.add(StaffRole(staff_id=member.id, role=role, granted_at=now, granted_by=by.staff_id))
    await db.flush()
    await audit.record(
        db,
        staff=by,
        action="staff.roles",
        meta=meta,
        role=Role.ADMIN,
        details={
            "memberId": str(member.id),
            "added": sorted(r.value for r in added),
            "removed": sorted(r.value for r in removed),
        },
    )
    return roles


async def _refused(
    db: AsyncSession,
    by: StaffPrincipal,
    action: str,
    reason: str,
    meta: RequestMeta,
    member: StaffMember,
) -> None:
    """A refused account change stays on record like the self-grant (the caller commits it)."""
    await audit.record(
        db,
        staff=by,
        action=action,
        outcome="failure",
        reason=reason,
        meta=meta,
        role=Role.ADMIN,
        details={"memberId": str(member.id)},
    )


async def _would_leave_no_admin(db: AsyncSession, member: StaffMember) -> bool:
    admins = await _active_admins(db)
    return member.id in admins and len(admins) <= 1


async def deactivate(
    db: AsyncSession,
    member_id: uuid.UUID,
    *,
    by: StaffPrincipal,
    meta: RequestMeta,
    now: datetime | None = None,
) -> StaffMember:
    """End a member's access for good: sessions end, links and passkeys stop working."""
    now = now or utcnow()
    if not by.has(Role.ADMIN):
        raise forbidden("error.adminOnly")
    member = await _member(db, member_id)
    if member.id == by.staff_id:
        await _refused(db, by, "staff.deactivate", "self_deactivate", meta, member)
        raise forbidden("error.selfDeactivate")
    if member.deactivated_at is not None:
        return member
    if await _would_leave_no_admin(db, member):
        await _refused(db, by, "staff.deactivate", "last_admin", meta, member)
        raise invalid("error.lastAdminDeactivate", field="id")
    member.deactivated_at = now
    ended = await sessions.end_all_sessions(db, staff_id=member.id)
    await db.execute(
        update(StaffInvite)
        .where(StaffInvite.staff_id == member.id, StaffInvite.used_at.is_(None))
        .values(revoked_at=now)
    )
    await db.execute(
        update(StaffPasskey)
        .where(StaffPasskey.staff_id == member.id, StaffPasskey.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    await db.flush()
    await audit.record(
        db,
        staff=by,
        action="staff.deactivate",
        meta=meta,
        role=Role.ADMIN,
        details={"memberId": str(member.id), "sessionsEnded": ended},
    )
    return member


async def list_members(db: AsyncSession, *, now: datetime | None = None) -> list[MemberSummary]:
    """Every staff member with roles and counts, active first, by name (a few statements)."""
    now = now or utcnow()
    members = (
        await db.scalars(
            select(StaffMember).order_by(
                StaffMember.deactivated_at.is_not(None), StaffMember.name, StaffMember.id
            )
        )
    ).all()
    roles: dict[uuid.UUID, set[Role]] = {}
    for staff_id, role in (await db.execute(select(StaffRole.staff_id, StaffRole.role))).all():
        roles.setdefault(staff_id, set()).add(role)
    passkeys = dict(
        (
            await db.execute(
                select(StaffPasskey.staff_id, func.count())
                .where(StaffPasskey.revoked_at.is_(None))
                .group_by(StaffPasskey.staff_id)
            )
        ).all()
    )
    live = dict(
        (
            await db.execute(
                select(StaffSession.staff_id, func.count())
                .where(
                    StaffSession.expires_at > now,
                    StaffSession.last_seen_at > now - sessions.IDLE_TIMEOUT,
                )
                .group_by(StaffSession.staff_id)
            )
        ).all()
    )
    pending = dict(
        (
            await db.execute(
                select(StaffInvite.staff_id, func.max(StaffInvite.expires_at))
                .where(
                    StaffInvite.used_at.is_(None),
                    StaffInvite.revoked_at.is_(None),
                    StaffInvite.expires_at > now,
                )
                .group_by(StaffInvite.staff_id)
            )
        ).all()
    )
    return [
        MemberSummary(
            member=m,
            roles=frozenset(roles.get(m.id, set())),
            passkeys=int(passkeys.get(m.id, 0)),
            sessions=int(live.get(m.id, 0)),
            pending_invite_until=pending.get(m.id),
        )
        for m in members
    ]


async def get_member(db: AsyncSession, member_id: uuid.UUID) -> MemberSummary:
    for summary in await list_members(db):
        if summary.member.id == member_id:
            return summary
    raise not_found("error.noMember")


async def members_by_id(db: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, StaffMember]:
    if not ids:
        return {}
    rows = await db.scalars(select(StaffMember).where(StaffMember.id.in_(set(ids))))
    return {m.id: m for m in rows}
