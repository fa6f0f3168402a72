"""Every staff action in the one audit trail (auth's audit_events), with the member's id.

Events about a person carry their person_id, so the person sees them in their own activity
(GraphQL `viewer.securityEvents`): that is how "who viewed my data" works (issue #13, §4).
What the person is shown is the role and the purpose, never the staff member's name, address
or browser (auth.schema hides those for staff events).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api.database import utcnow
from auth import audit
from auth.audit import RequestMeta
from auth.models import AuditEvent
from staff.errors import invalid
from staff.models import Role
from staff.sessions import StaffPrincipal

# The action of a staff member looking at a person's data; shown to that person.
VIEW_PERSON = "staff.view_person"
MAX_REASON = 300


class PurposeKind:
    """Why a person's record is opened (issue #13, §4): an item being handled, or a reason."""

    SUBMISSION = "submission"  # a form submission in the forms queue (reference: its id)
    ACTIVATION_REQUEST = "activation_request"  # an access request (reference: its id)
    OTHER = "other"  # free text, e.g. "phone call about a lost passkey"

    ALL = frozenset({SUBMISSION, ACTIVATION_REQUEST, OTHER})


@dataclass(frozen=True, slots=True)
class Purpose:
    kind: str
    reference: str | None = None  # the item's id, for SUBMISSION and ACTIVATION_REQUEST
    reason: str | None = None  # the free text, for OTHER (shown to the person as written)

    @classmethod
    def other(cls, reason: str | None) -> Purpose:
        """A free-text purpose; refused (field `reason`) when empty or too long."""
        cleaned = " ".join((reason or "").split())
        if not cleaned:
            raise invalid("error.reasonRequired", field="reason")
        if len(cleaned) > MAX_REASON:
            raise invalid("error.reasonTooLong", field="reason", max=MAX_REASON)
        return cls(kind=PurposeKind.OTHER, reason=cleaned)

    def as_details(self) -> dict[str, str]:
        details = {"purposeKind": self.kind}
        if self.reference:
            details["purposeReference"] = self.reference
        if self.reason:
            details["purposeReason"] = self.reason
        return details


def actor_of(staff_id: uuid.UUID) -> str:
    return f"staff:{staff_id}"


async def record(
    db: AsyncSession,
    *,
    staff: StaffPrincipal | None,
    action: str,
    meta: RequestMeta,
    role: Role | None = None,
    outcome: str = "success",
    person_id: uuid.UUID | None = None,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
    staff_id: uuid.UUID | None = None,
) -> AuditEvent:
    """Record a staff action. `role` is the role it was done under (shown to the person).

    `staff_id` names the member when nobody is signed in yet (enrolment, failed sign-in).
    """
    acting = staff.staff_id if staff is not None else staff_id
    extra: dict[str, Any] = dict(details or {})
    if role is not None:
        extra["staffRole"] = role.value
    return await audit.record(
        db,
        action=action,
        outcome=outcome,
        meta=meta,
        person_id=person_id,
        actor=actor_of(acting) if acting else "staff",
        staff_id=acting,
        reason=reason[:64] if reason else None,
        details=extra,
    )


async def record_view(
    db: AsyncSession,
    *,
    staff: StaffPrincipal,
    role: Role,
    person_id: uuid.UUID,
    purpose: Purpose,
    meta: RequestMeta,
    what: str = "record",
) -> AuditEvent:
    """A staff member looks at a person's data: logged with its purpose, shown to the person."""
    if purpose.kind not in PurposeKind.ALL:
        raise invalid("error.purposeRequired", field="purpose")
    return await record(
        db,
        staff=staff,
        action=VIEW_PERSON,
        meta=meta,
        role=role,
        person_id=person_id,
        details={**purpose.as_details(), "viewed": what},
    )


VIEW_TTL = timedelta(minutes=30)


async def view_grant(
    db: AsyncSession,
    view_id: uuid.UUID | None,
    *,
    staff: StaffPrincipal,
    person_id: uuid.UUID,
    now: datetime | None = None,
) -> AuditEvent | None:
    """The logged view that lets this member see this person's data now, if still fresh.

    A page of a person's data is shown only under a view the member opened with a purpose
    (and which the person sees); it lasts VIEW_TTL, then the member opens it again.
    """
    if view_id is None:
        return None
    return await audit.find_event(
        db,
        view_id,
        action=VIEW_PERSON,
        staff_id=staff.staff_id,
        person_id=person_id,
        since=(now or utcnow()) - VIEW_TTL,
    )
