"""The security audit trail: who, what, when, from where, with what outcome."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.pagination import Page, paginate
from auth.models import AuditEvent

log = structlog.get_logger("auth.audit")


@dataclass(frozen=True, slots=True)
class RequestMeta:
    """Where a request came from, as far as the edge can tell."""

    ip_address: str | None = None
    user_agent: str | None = None


async def record(
    db: AsyncSession,
    *,
    action: str,
    outcome: str,
    meta: RequestMeta,
    person_id: uuid.UUID | None = None,
    actor: str = "person",
    staff_id: uuid.UUID | None = None,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add an audit event to the session. Callers pass ids and reasons, never secrets."""
    event = AuditEvent(
        person_id=person_id,
        actor=actor,
        staff_id=staff_id,
        action=action,
        outcome=outcome,
        reason=reason,
        ip_address=meta.ip_address,
        user_agent=(meta.user_agent or "")[:300] or None,
        details=details or {},
    )
    db.add(event)
    await db.flush()
    # Also to the log stream, for alerting; same fields, no secrets.
    log.info(
        "audit",
        action=action,
        outcome=outcome,
        reason=reason,
        person_id=str(person_id) if person_id else None,
        actor=actor,
        staff_id=str(staff_id) if staff_id else None,
        ip=meta.ip_address,
    )
    return event


async def list_for_person(
    db: AsyncSession, person_id: uuid.UUID, *, first: int, after: str | None
) -> Page[AuditEvent]:
    return await paginate(
        db,
        select(AuditEvent).where(AuditEvent.person_id == person_id),
        order_column=AuditEvent.occurred_at,
        id_column=AuditEvent.id,
        first=first,
        after=after,
        descending=True,
    )


async def search_events(
    db: AsyncSession,
    *,
    person_id: uuid.UUID | None = None,
    staff_id: uuid.UUID | None = None,
    action: str | None = None,
    action_prefix: str | None = None,
    since: datetime | None = None,
    before: datetime | None = None,
    first: int,
    after: str | None,
) -> Page[AuditEvent]:
    """The trail across everyone, newest first, narrowed by any of these (DUO's auditors)."""
    stmt = select(AuditEvent)
    if person_id is not None:
        stmt = stmt.where(AuditEvent.person_id == person_id)
    if staff_id is not None:
        stmt = stmt.where(AuditEvent.staff_id == staff_id)
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    if action_prefix:
        stmt = stmt.where(AuditEvent.action.startswith(action_prefix, autoescape=True))
    if since is not None:
        stmt = stmt.where(AuditEvent.occurred_at >= since)
    if before is not None:
        stmt = stmt.where(AuditEvent.occurred_at < before)
    return await paginate(
        db,
        stmt,
        order_column=AuditEvent.occurred_at,
        id_column=AuditEvent.id,
        first=first,
        after=after,
        descending=True,
    )


async def find_event(
    db: AsyncSession,
    event_id: uuid.UUID,
    *,
    action: str,
    staff_id: uuid.UUID,
    person_id: uuid.UUID,
    since: datetime,
) -> AuditEvent | None:
    """One event of this action, by this staff member about this person, not older than since."""
    return await db.scalar(
        select(AuditEvent).where(
            AuditEvent.id == event_id,
            AuditEvent.action == action,
            AuditEvent.staff_id == staff_id,
            AuditEvent.person_id == person_id,
            AuditEvent.occurred_at > since,
        )
    )
