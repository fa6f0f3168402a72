"""The outbox's owner id and sealing key: what binds forms waiting on a device to a person.

A person's row is made the first time one of their sessions asks (insert-or-skip, so two
concurrent first requests agree on one row) and never changes. Submitting and uploading may
name the owner the device bound its waiting forms to: a session of anyone else is refused, so
that forms kept on a shared device are never sent under the account of whoever signs in next.
"""

from __future__ import annotations

import secrets
import uuid

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from api.database import utcnow
from api.errors import DomainError
from forms.models import OutboxKey

KEY_BYTES = 32  # AES-256-GCM in the PWA (WebCrypto)


class OutboxOwnerMismatch(DomainError):
    """The forms were bound to another person than the one signed in; nothing was stored."""

    code = "OUTBOX_OWNER_MISMATCH"

    def __init__(self) -> None:
        super().__init__(
            "These forms were filled in by someone else on this device: they are not sent "
            "with your account.",
            field="owner",
        )


async def find_outbox_key(db: AsyncSession, person_id: uuid.UUID) -> OutboxKey | None:
    return await db.get(OutboxKey, person_id)


async def ensure_outbox_key(db: AsyncSession, person_id: uuid.UUID) -> OutboxKey:
    """The person's row, made now if they have none yet (the caller commits)."""
    insert = postgresql_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
    await db.execute(
        insert(OutboxKey)
        .values(
            person_id=person_id,
            owner=secrets.token_urlsafe(18),  # 144 random bits, 24 characters
            key=secrets.token_bytes(KEY_BYTES),
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=[OutboxKey.person_id])
    )
    row = await db.scalar(
        select(OutboxKey)
        .where(OutboxKey.person_id == person_id)
        .execution_options(populate_existing=True)
    )
    if row is None:  # pragma: no cover - inserted or already there
        raise RuntimeError("outbox key missing after insert")
    return row


async def check_owner(db: AsyncSession, person_id: uuid.UUID, owner: str | None) -> None:
    """Refuse when the device bound these forms to someone other than the caller."""
    if owner is None:
        return
    row = await find_outbox_key(db, person_id)
    if row is None or not secrets.compare_digest(row.owner.encode(), owner.encode()):
        raise OutboxOwnerMismatch()
