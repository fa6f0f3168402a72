"""Recovery keys: one per person, shown once, stored hashed, single-use."""

from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.database import utcnow
from auth import audit, codes, errors
from auth.audit import RequestMeta
from auth.errors import AuthError
from auth.models import RecoveryKey

KEY_GROUPS = 5  # 5 groups of 5 Crockford characters = 125 bits


async def issue_key(db: AsyncSession, *, secret_key: str, person_id: uuid.UUID) -> str:
    """A new recovery key; any earlier one stops working. Returns the key (show it once)."""
    now = utcnow()
    await db.execute(
        update(RecoveryKey)
        .where(
            RecoveryKey.person_id == person_id,
            RecoveryKey.used_at.is_(None),
            RecoveryKey.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    key = codes.new_code(KEY_GROUPS, group_size=5)
    db.add(RecoveryKey(person_id=person_id, key_hash=codes.digest(secret_key, key), created_at=now))
    await db.flush()
    return key


async def find_usable(db: AsyncSession, *, secret_key: str, key: str) -> RecoveryKey | None:
    row = await db.scalar(
        select(RecoveryKey).where(RecoveryKey.key_hash == codes.digest(secret_key, key))
    )
    if row is None or row.used_at is not None or row.revoked_at is not None:
        return None
    return row


async def check_key(
    db: AsyncSession, *, secret_key: str, key: str, meta: RequestMeta
) -> RecoveryKey:
    row = await db.scalar(
        select(RecoveryKey).where(RecoveryKey.key_hash == codes.digest(secret_key, key))
    )
    reason = None
    if row is None:
        reason = "unknown_key"
    elif row.used_at is not None:
        reason = "used"
    elif row.revoked_at is not None:
        reason = "replaced"
    if reason is not None or row is None:
        await audit.record(
            db,
            action="recovery.redeem",
            outcome="failure",
            reason=reason,
            meta=meta,
            person_id=row.person_id if row else None,
        )
        raise AuthError("RECOVERY_FAILED", errors.RECOVERY_FAILED, reason=reason or "invalid")
    return row


async def has_usable_key(db: AsyncSession, person_id: uuid.UUID) -> bool:
    row = await db.scalar(
        select(RecoveryKey.id).where(
            RecoveryKey.person_id == person_id,
            RecoveryKey.used_at.is_(None),
            RecoveryKey.revoked_at.is_(None),
        )
    )
    return row is not None


async def consume_key(db: AsyncSession, key_id: uuid.UUID) -> bool:
    result = await db.execute(
        update(RecoveryKey)
        .where(
            RecoveryKey.id == key_id,
            RecoveryKey.used_at.is_(None),
            RecoveryKey.revoked_at.is_(None),
        )
        .values(used_at=utcnow())
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
