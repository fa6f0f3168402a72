"""Activation codes: issued by DUO staff after an identity check, redeemed with a birth date."""

from __future__ import annotations

import hmac
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.database import utcnow
from api.errors import NotFound
from auth import audit, codes, errors
from auth.audit import RequestMeta
from auth.errors import AuthError
from auth.models import ActivationCode
from records.models import Person

CODE_GROUPS = 4  # 16 Crockford characters = 80 bits
MAX_FAILED_ATTEMPTS = 5
DEFAULT_VALIDITY = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class IssuedCode:
    code: str  # shown once to staff, never stored
    person: Person
    expires_at: datetime


async def issue_code(
    db: AsyncSession,
    *,
    secret_key: str,
    customer_number: str,
    issued_by: str,
    validity: timedelta = DEFAULT_VALIDITY,
    meta: RequestMeta | None = None,
    staff_id: uuid.UUID | None = None,
    staff_role: str | None = None,
) -> IssuedCode:
    """Issue a new code for a person; earlier unused codes stop working.

    From the staff UI, `staff_id` and `staff_role` name the member and the role it was done in.
    """
    person = await db.scalar(select(Person).where(Person.customer_number == customer_number))
    if person is None:
        raise NotFound("No person with this customer number.", field="customerNumber")
    now = utcnow()
    await db.execute(
        update(ActivationCode)
        .where(
            ActivationCode.person_id == person.id,
            ActivationCode.used_at.is_(None),
            ActivationCode.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    code = codes.new_code(CODE_GROUPS)
    row = ActivationCode(
        person_id=person.id,
        code_hash=codes.digest(secret_key, code),
        issued_by=issued_by,
        created_at=now,
        expires_at=now + validity,
    )
    db.add(row)
    await audit.record(
        db,
        action="activation.issue",
        outcome="success",
        meta=meta or RequestMeta(),
        person_id=person.id,
        actor=issued_by,
        staff_id=staff_id,
        details={
            "activation_code_id": str(row.id),
            "expires_at": row.expires_at.isoformat(),
            **({"staffRole": staff_role} if staff_role else {}),
        },
    )
    return IssuedCode(code=code, person=person, expires_at=row.expires_at)


async def check_code(
    db: AsyncSession,
    *,
    secret_key: str,
    code: str,
    date_of_birth: date,
    meta: RequestMeta,
) -> ActivationCode:
    """Return the code's row if code and birth date match a usable code; else AuthError.

    Every failure looks the same to the caller; the audit log keeps the reason. A wrong birth
    date counts against the code, which locks after MAX_FAILED_ATTEMPTS.
    """
    now = utcnow()
    row = await db.scalar(
        select(ActivationCode).where(ActivationCode.code_hash == codes.digest(secret_key, code))
    )
    reason: str | None = None
    if row is None:
        reason = "unknown_code"
    elif row.revoked_at is not None:
        reason = "locked" if row.failed_attempts >= MAX_FAILED_ATTEMPTS else "superseded"
    elif row.used_at is not None:
        reason = "used"
    elif now >= row.expires_at:
        reason = "expired"
    else:
        person = await db.get(Person, row.person_id)
        expected = person.date_of_birth.isoformat() if person else ""
        if not hmac.compare_digest(expected, date_of_birth.isoformat()):
            reason = "wrong_date_of_birth"
            row.failed_attempts += 1
            if row.failed_attempts >= MAX_FAILED_ATTEMPTS:
                row.revoked_at = now
                reason = "wrong_date_of_birth_locked"
    if reason is not None or row is None:
        await audit.record(
            db,
            action="activation.redeem",
            outcome="failure",
            reason=reason,
            meta=meta,
            person_id=row.person_id if row else None,
        )
        raise AuthError("ACTIVATION_FAILED", errors.ACTIVATION_FAILED, reason=reason or "invalid")
    return row


async def consume_code(db: AsyncSession, code_id: uuid.UUID) -> bool:
    """Mark a code used, exactly once: the conditional UPDATE is the guard against races."""
    now = utcnow()
    result = await db.execute(
        update(ActivationCode)
        .where(
            ActivationCode.id == code_id,
            ActivationCode.used_at.is_(None),
            ActivationCode.revoked_at.is_(None),
            ActivationCode.expires_at > now,
        )
        .values(used_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
