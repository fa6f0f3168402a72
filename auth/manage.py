"""Managing one's own passkeys, device links, recovery key and sessions (signed in)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.database import utcnow
from api.errors import InvalidInput, NotFound
from auth import audit, codes, notices, recovery, sessions
from auth.audit import RequestMeta
from auth.models import ActivationCode, DeviceLink, Passkey, RecoveryKey, WebSession
from auth.names import clean_name

DEVICE_LINK_TTL = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class NewDeviceLink:
    token: str  # in the URL/QR only; stored hashed
    expires_at: datetime


async def list_passkeys(db: AsyncSession, person_id: uuid.UUID) -> Sequence[Passkey]:
    stmt = (
        select(Passkey)
        .where(Passkey.person_id == person_id, Passkey.revoked_at.is_(None))
        .order_by(Passkey.created_at, Passkey.id)
    )
    return (await db.scalars(stmt)).all()


async def active_passkey_counts(
    db: AsyncSession, person_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, int]:
    """How many usable passkeys each person has (0 for none): DUO staff's takeover warning."""
    if not person_ids:
        return {}
    rows = await db.execute(
        select(Passkey.person_id, func.count())
        .where(Passkey.person_id.in_(list(person_ids)), Passkey.revoked_at.is_(None))
        .group_by(Passkey.person_id)
    )
    counts = {person_id: 0 for person_id in person_ids}
    counts.update({person_id: int(count) for person_id, count in rows})
    return counts


async def _own_passkey(db: AsyncSession, person_id: uuid.UUID, passkey_id: uuid.UUID) -> Passkey:
    passkey = await db.scalar(
        select(Passkey).where(
            Passkey.id == passkey_id,
            Passkey.person_id == person_id,
            Passkey.revoked_at.is_(None),
        )
    )
    if passkey is None:
        raise NotFound("No such passkey.", field="id")
    return passkey


async def rename_passkey(
    db: AsyncSession, person_id: uuid.UUID, passkey_id: uuid.UUID, *, name: str
) -> Passkey:
    cleaned = clean_name(name)
    if not cleaned:
        raise InvalidInput("Give the passkey a name.", field="name")
    passkey = await _own_passkey(db, person_id, passkey_id)
    passkey.name = cleaned
    await db.flush()
    return passkey


async def revoke_passkey(
    db: AsyncSession,
    person_id: uuid.UUID,
    passkey_id: uuid.UUID,
    *,
    secret_key: str,
    recovery_key: str | None,
    meta: RequestMeta,
) -> Passkey:
    """Revoke a passkey. The last one only with the recovery key in hand (proof, not spent)."""
    passkey = await _own_passkey(db, person_id, passkey_id)
    remaining = await db.scalar(
        select(func.count()).where(Passkey.person_id == person_id, Passkey.revoked_at.is_(None))
    )
    if remaining == 1:
        held = recovery_key and await recovery.find_usable(
            db, secret_key=secret_key, key=recovery_key
        )
        if not held or held.person_id != person_id:
            raise InvalidInput(
                "This is your only passkey. Enter your recovery key to remove it, "
                "so that you can still get back in.",
                field="recoveryKey",
            )
    passkey.revoked_at = utcnow()
    await audit.record(
        db,
        action="passkey.revoke",
        outcome="success",
        meta=meta,
        person_id=person_id,
        details={"passkey_id": str(passkey.id)},
    )
    await notices.announce(db, person_id, "passkey.revoked", name=passkey.name)
    return passkey


async def create_device_link(
    db: AsyncSession, person_id: uuid.UUID, *, meta: RequestMeta
) -> NewDeviceLink:
    now = utcnow()
    token = codes.new_token()
    db.add(
        DeviceLink(
            person_id=person_id,
            token_hash=codes.token_digest(token),
            created_at=now,
            expires_at=now + DEVICE_LINK_TTL,
        )
    )
    await audit.record(
        db, action="device_link.create", outcome="success", meta=meta, person_id=person_id
    )
    return NewDeviceLink(token=token, expires_at=now + DEVICE_LINK_TTL)


async def renew_recovery_key(
    db: AsyncSession, person_id: uuid.UUID, *, secret_key: str, meta: RequestMeta
) -> str:
    key = await recovery.issue_key(db, secret_key=secret_key, person_id=person_id)
    await audit.record(
        db, action="recovery.renew", outcome="success", meta=meta, person_id=person_id
    )
    await notices.announce(db, person_id, "recovery.renewed")
    return key


async def end_session(
    db: AsyncSession, person_id: uuid.UUID, session_id: uuid.UUID, *, meta: RequestMeta
) -> None:
    result = await db.execute(
        delete(WebSession).where(WebSession.id == session_id, WebSession.person_id == person_id)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        raise NotFound("No such session.", field="id")
    await audit.record(
        db,
        action="session.end",
        outcome="success",
        meta=meta,
        person_id=person_id,
        details={"session_id": str(session_id)},
    )


async def sign_out(
    db: AsyncSession, person_id: uuid.UUID, *, token: str | None, meta: RequestMeta
) -> None:
    if token:
        await sessions.end_session(db, token=token)
    await audit.record(db, action="sign_out", outcome="success", meta=meta, person_id=person_id)


async def sign_out_everywhere(db: AsyncSession, person_id: uuid.UUID, *, meta: RequestMeta) -> int:
    ended = await sessions.end_all_sessions(db, person_id=person_id)
    await audit.record(
        db,
        action="sign_out_everywhere",
        outcome="success",
        meta=meta,
        person_id=person_id,
        details={"sessions_ended": ended},
    )
    return ended


@dataclass(frozen=True, slots=True)
class AccessRevoked:
    passkeys: int
    sessions: int


async def revoke_all_access(
    db: AsyncSession,
    person_id: uuid.UUID,
    *,
    reason: str,
    staff_id: uuid.UUID,
    staff_role: str,
    meta: RequestMeta,
    details: dict[str, object] | None = None,
) -> AccessRevoked:
    """DUO staff, on a suspected takeover: every passkey, recovery key, unused activation code
    and device link stops working, and every session ends. The person gets back in with a new
    activation code; the inbox and the audit trail tell them what happened and why."""
    now = utcnow()
    passkeys = await db.execute(
        update(Passkey)
        .where(Passkey.person_id == person_id, Passkey.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    await db.execute(
        update(RecoveryKey)
        .where(RecoveryKey.person_id == person_id, RecoveryKey.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    await db.execute(
        update(ActivationCode)
        .where(
            ActivationCode.person_id == person_id,
            ActivationCode.used_at.is_(None),
            ActivationCode.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    await db.execute(
        update(DeviceLink)
        .where(DeviceLink.person_id == person_id, DeviceLink.used_at.is_(None))
        .values(used_at=now)
    )
    ended = await sessions.end_all_sessions(db, person_id=person_id)
    revoked = AccessRevoked(passkeys=int(getattr(passkeys, "rowcount", 0) or 0), sessions=ended)
    await audit.record(
        db,
        action="staff.revoke_access",
        outcome="success",
        meta=meta,
        person_id=person_id,
        actor=f"staff:{staff_id}",
        staff_id=staff_id,
        reason="suspected_takeover",
        details={
            "staffRole": staff_role,
            "staffReason": reason,
            "passkeysRevoked": revoked.passkeys,
            "sessionsEnded": revoked.sessions,
            **(details or {}),
        },
    )
    await notices.announce(db, person_id, "access.revoked", reason=reason)
    return revoked
