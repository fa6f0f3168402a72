"""Staff sessions: their own table and cookie, shorter lifetimes than persons' sessions.

The cookie holds 32 random bytes; the table holds their SHA-256. A staff session is never
looked up by the persons' code, and a person's session is never looked up here.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.database import utcnow
from staff.models import Role, StaffMember, StaffRole, StaffSession

# Issue #13: idle 15 minutes, absolute 10 hours (a working day), whatever the persons' settings.
IDLE_TIMEOUT = timedelta(minutes=15)
ABSOLUTE_TIMEOUT = timedelta(hours=10)
# As for persons: last_seen_at is written at most once a minute, not on every page.
TOUCH_INTERVAL = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class StaffPrincipal:
    """The signed-in staff member, their roles, and the session they use."""

    staff_id: uuid.UUID
    name: str
    roles: frozenset[Role]
    session_id: uuid.UUID

    def has(self, role: Role) -> bool:
        return role in self.roles


@dataclass(frozen=True, slots=True)
class IssuedStaffSession:
    token: str  # the cookie value: only here and in the browser
    session: StaffSession


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def create_session(
    db: AsyncSession,
    *,
    staff_id: uuid.UUID,
    ip_address: str | None = None,
    user_agent: str | None = None,
    replaces_token: str | None = None,
    now: datetime | None = None,
) -> IssuedStaffSession:
    """Start a staff session; the one this browser had ends (rotation on sign-in)."""
    now = now or utcnow()
    if replaces_token:
        await end_session(db, token=replaces_token)
    token = secrets.token_urlsafe(32)
    session = StaffSession(
        token_hash=hash_token(token),
        staff_id=staff_id,
        created_at=now,
        last_seen_at=now,
        expires_at=now + ABSOLUTE_TIMEOUT,
        ip_address=ip_address,
        user_agent=(user_agent or "")[:300] or None,
    )
    db.add(session)
    await db.flush()
    return IssuedStaffSession(token=token, session=session)


async def resolve_session(
    db: AsyncSession, *, token: str, now: datetime | None = None
) -> StaffPrincipal | None:
    """Who holds this cookie: None if unknown, idle too long, expired, or deactivated.

    Ends a session that is found stale and refreshes last_seen_at now and then: the caller
    commits.
    """
    now = now or utcnow()
    row = (
        await db.execute(
            select(StaffSession, StaffMember)
            .join(StaffMember, StaffMember.id == StaffSession.staff_id)
            .where(StaffSession.token_hash == hash_token(token))
        )
    ).one_or_none()
    if row is None:
        return None
    session, member = row[0], row[1]
    if (
        now >= session.expires_at
        or now >= session.last_seen_at + IDLE_TIMEOUT
        or member.deactivated_at is not None
    ):
        await db.delete(session)
        await db.flush()
        return None
    if now - session.last_seen_at >= TOUCH_INTERVAL:
        session.last_seen_at = now
        await db.flush()
    roles = await db.scalars(select(StaffRole.role).where(StaffRole.staff_id == member.id))
    return StaffPrincipal(
        staff_id=member.id, name=member.name, roles=frozenset(roles), session_id=session.id
    )


async def end_session(db: AsyncSession, *, token: str) -> None:
    await db.execute(delete(StaffSession).where(StaffSession.token_hash == hash_token(token)))


async def end_all_sessions(db: AsyncSession, *, staff_id: uuid.UUID) -> int:
    result = await db.execute(delete(StaffSession).where(StaffSession.staff_id == staff_id))
    return int(getattr(result, "rowcount", 0) or 0)


async def purge_expired(db: AsyncSession, *, now: datetime | None = None) -> int:
    """Delete staff sessions past either timeout (housekeeping)."""
    now = now or utcnow()
    result = await db.execute(
        delete(StaffSession).where(
            (StaffSession.expires_at <= now) | (StaffSession.last_seen_at <= now - IDLE_TIMEOUT)
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)
