"""Claims on queue items: who is deciding a submission (or an activation request) until when.

Two staff members never decide the same item at once (issue #13, §3): the one who opens an
item claims it for CLAIM_TTL; the other sees who holds it, and a decision without the claim
is refused with a conflict. A claim that ran out can be taken over. Writes are conditional
(UPDATE … WHERE held by me or expired; INSERT against a UNIQUE (kind, item_id)), so two
racing claims cannot both win, on SQLite or PostgreSQL.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.database import utcnow
from staff.errors import conflict
from staff.models import StaffClaim, StaffMember
from staff.sessions import StaffPrincipal

CLAIM_TTL = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class Holder:
    staff_id: uuid.UUID
    name: str
    until: datetime


async def holder(
    db: AsyncSession, *, kind: str, item_id: uuid.UUID, now: datetime | None = None
) -> Holder | None:
    """Who holds a live claim on the item, if anyone."""
    now = now or utcnow()
    row = (
        await db.execute(
            select(StaffClaim.staff_id, StaffMember.name, StaffClaim.expires_at)
            .join(StaffMember, StaffMember.id == StaffClaim.staff_id)
            .where(
                StaffClaim.kind == kind,
                StaffClaim.item_id == item_id,
                StaffClaim.expires_at > now,
            )
        )
    ).first()
    return Holder(staff_id=row[0], name=row[1], until=row[2]) if row else None


async def claim(
    db: AsyncSession,
    *,
    kind: str,
    item_id: uuid.UUID,
    staff: StaffPrincipal,
    ttl: timedelta = CLAIM_TTL,
    now: datetime | None = None,
) -> datetime:
    """Take or extend the claim; its expiry. Conflict (`error.claimedBy`) if someone holds it."""
    now = now or utcnow()
    until = now + ttl
    taken = await db.execute(
        update(StaffClaim)
        .where(
            StaffClaim.kind == kind,
            StaffClaim.item_id == item_id,
            or_(StaffClaim.staff_id == staff.staff_id, StaffClaim.expires_at <= now),
        )
        .values(staff_id=staff.staff_id, claimed_at=now, expires_at=until)
    )
    if getattr(taken, "rowcount", 0):
        return until
    try:
        async with db.begin_nested():
            db.add(
                StaffClaim(
                    kind=kind,
                    item_id=item_id,
                    staff_id=staff.staff_id,
                    claimed_at=now,
                    expires_at=until,
                )
            )
            await db.flush()
    except IntegrityError:
        other = await holder(db, kind=kind, item_id=item_id, now=now)
        raise conflict(
            "error.claimedBy",
            name=other.name if other else "?",
            until=other.until.strftime("%H:%M UTC") if other else "",
        ) from None
    return until


async def require(
    db: AsyncSession,
    *,
    kind: str,
    item_id: uuid.UUID,
    staff: StaffPrincipal,
    now: datetime | None = None,
) -> None:
    """Refuse (conflict) unless this member holds a live claim on the item."""
    now = now or utcnow()
    current = await holder(db, kind=kind, item_id=item_id, now=now)
    if current is None:
        raise conflict("error.claimExpired")
    if current.staff_id != staff.staff_id:
        raise conflict(
            "error.claimedBy", name=current.name, until=current.until.strftime("%H:%M UTC")
        )


async def release(
    db: AsyncSession, *, kind: str, item_id: uuid.UUID, staff: StaffPrincipal | None = None
) -> None:
    """Drop the claim (after a decision, or when the member hands the item back)."""
    stmt = delete(StaffClaim).where(StaffClaim.kind == kind, StaffClaim.item_id == item_id)
    if staff is not None:
        stmt = stmt.where(StaffClaim.staff_id == staff.staff_id)
    await db.execute(stmt)


async def holders(
    db: AsyncSession, *, kind: str, item_ids: list[uuid.UUID], now: datetime | None = None
) -> dict[uuid.UUID, Holder]:
    """Live claims on many items at once (a queue page), in one statement."""
    if not item_ids:
        return {}
    now = now or utcnow()
    rows = await db.execute(
        select(StaffClaim.item_id, StaffClaim.staff_id, StaffMember.name, StaffClaim.expires_at)
        .join(StaffMember, StaffMember.id == StaffClaim.staff_id)
        .where(
            StaffClaim.kind == kind,
            StaffClaim.item_id.in_(item_ids),
            StaffClaim.expires_at > now,
        )
    )
    return {r[0]: Holder(staff_id=r[1], name=r[2], until=r[3]) for r in rows}


async def purge_expired(db: AsyncSession, *, now: datetime | None = None) -> int:
    """Drop claims that ran out (housekeeping): an expired claim decides nothing."""
    result = await db.execute(delete(StaffClaim).where(StaffClaim.expires_at <= (now or utcnow())))
    return int(getattr(result, "rowcount", 0) or 0)
