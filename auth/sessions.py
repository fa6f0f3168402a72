"""Server-side sessions: opaque random tokens in a cookie, only their hashes in the database."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from api.database import utcnow
from auth.models import WebSession

# Writing last_seen_at on every request would turn reads into writes; a minute of slack in
# the idle timeout is the price of not doing so.
TOUCH_INTERVAL = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class IssuedSession:
    """A new session and the cookie value, which exists only here and in the browser."""

    token: str
    session: WebSession


@dataclass(frozen=True, slots=True)
class SessionLookup:
    """The outcome of checking a cookie; wrote tells the caller a commit is due."""

    principal: Principal | None
    wrote: bool


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the signed-in person and the session they use."""

    person_id: uuid.UUID
    session_id: uuid.UUID


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def create_session(
    db: AsyncSession,
    *,
    person_id: uuid.UUID,
    absolute_timeout: timedelta,
    ip_address: str | None = None,
    user_agent: str | None = None,
    replaces_token: str | None = None,
    now: datetime | None = None,
) -> IssuedSession:
    """Start a session; a session the browser already had is ended (rotation on login)."""
    now = now or utcnow()
    if replaces_token:
        await end_session(db, token=replaces_token)
    token = secrets.token_urlsafe(32)
    session = WebSession(
        token_hash=hash_token(token),
        person_id=person_id,
        created_at=now,
        last_seen_at=now,
        expires_at=now + absolute_timeout,
        ip_address=ip_address,
        user_agent=(user_agent or "")[:300] or None,
    )
    db.add(session)
    await db.flush()
    return IssuedSession(token=token, session=session)


async def resolve_session(
    db: AsyncSession, *, token: str, idle_timeout: timedelta, now: datetime | None = None
) -> SessionLookup:
    """Find who holds this token; no principal if it is unknown, idle too long, or expired.

    Refreshes last_seen_at at most once per TOUCH_INTERVAL; the caller commits.
    """
    now = now or utcnow()
    # Lookup by hash: the comparison happens inside the index on a digest the caller cannot
    # steer, so no timing side channel leaks the stored token.
    session = await db.scalar(select(WebSession).where(WebSession.token_hash == hash_token(token)))
    if session is None:
        return SessionLookup(principal=None, wrote=False)
    # Read before any write attempt: a failed savepoint expires the object's attributes.
    principal = Principal(person_id=session.person_id, session_id=session.id)
    if now >= session.expires_at or now >= session.last_seen_at + idle_timeout:
        wrote = await _best_effort(db, lambda: db.delete(session))
        return SessionLookup(principal=None, wrote=wrote)
    wrote = False
    if now - session.last_seen_at >= TOUCH_INTERVAL:

        async def touch() -> None:
            session.last_seen_at = now

        wrote = await _best_effort(db, touch)
    return SessionLookup(principal=principal, wrote=wrote)


async def _best_effort(db: AsyncSession, change: Callable[[], Awaitable[None]]) -> bool:
    """Apply a housekeeping write in a savepoint; on SQLite, give way if another writer won.

    Several requests of one browser arrive together; on SQLite only one can turn its read
    snapshot into a write ("database is locked"), and the others just saw that very refresh.
    """
    try:
        async with db.begin_nested():
            await change()
            await db.flush()
    except OperationalError:
        if db.get_bind().dialect.name != "sqlite":
            raise
        return False
    return True


async def end_session(db: AsyncSession, *, token: str) -> None:
    await db.execute(delete(WebSession).where(WebSession.token_hash == hash_token(token)))


async def end_all_sessions(db: AsyncSession, *, person_id: uuid.UUID) -> int:
    result = await db.execute(delete(WebSession).where(WebSession.person_id == person_id))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def list_sessions(db: AsyncSession, *, person_id: uuid.UUID) -> Sequence[WebSession]:
    stmt = (
        select(WebSession)
        .where(WebSession.person_id == person_id)
        .order_by(WebSession.last_seen_at.desc())
    )
    return (await db.scalars(stmt)).all()


async def purge_expired(
    db: AsyncSession, *, idle_timeout: timedelta, now: datetime | None = None
) -> int:
    """Delete sessions past their absolute or idle timeout; a lookup would refuse them anyway.

    Lookups delete the ones that come back; this removes the ones that never do."""
    now = now or utcnow()
    result = await db.execute(
        delete(WebSession).where(
            (WebSession.expires_at <= now) | (WebSession.last_seen_at <= now - idle_timeout)
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)
