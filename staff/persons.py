"""A person's record for the helpdesk (role `helpdesk`): find, open with a purpose, act.

Opening a record needs a purpose (issue #13, §4): a submission being handled, an activation
request (staff/ activation queue), or a free-text reason. The view is logged and the person
sees it in their activity. Everything shown on the page needs that fresh view.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from access import review
from api.errors import NotFound
from auth import activation, manage
from auth import audit as auth_audit
from auth import sessions as auth_sessions
from auth.activation import IssuedCode
from auth.audit import RequestMeta
from auth.models import AuditEvent, Passkey, WebSession
from forms import service as forms_service
from forms.models import FormSubmission
from records import service as records
from records.models import Person
from staff import accounts, audit
from staff.audit import Purpose, PurposeKind
from staff.errors import StaffError, invalid
from staff.models import Role
from staff.sessions import StaffPrincipal

MAX_REASON = 300
CODE_VALIDITY = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class Summary:
    person: Person
    passkeys: Sequence[Passkey]
    sessions: Sequence[WebSession]
    events: Sequence[AuditEvent]
    submissions: Sequence[FormSubmission]
    view: AuditEvent
    staff_names: dict[uuid.UUID, str]  # who "staff:<id>" in the events is, as the audit page


async def search(
    db: AsyncSession,
    *,
    staff: StaffPrincipal,
    customer_number: str | None,
    family_name: str | None,
    date_of_birth: str | None,
    meta: RequestMeta,
) -> Sequence[Person]:
    """Find the person being helped: exact customer number, or family name + date of birth."""
    born: date | None = None
    if date_of_birth:
        try:
            born = date.fromisoformat(date_of_birth)
        except ValueError:
            raise invalid("error.dateOfBirth", field="dob") from None
    if not customer_number and not (family_name and born):
        raise invalid("error.searchTerms", field="customer")
    found = await records.find_persons(
        db, customer_number=customer_number, family_name=family_name, date_of_birth=born
    )
    await audit.record(
        db,
        staff=staff,
        action="staff.search_persons",
        meta=meta,
        role=Role.HELPDESK,
        details={
            "by": "customer_number" if customer_number else "name_and_birth_date",
            "found": len(found),
        },
    )
    return found


async def purpose_from_form(
    db: AsyncSession, person_id: uuid.UUID, *, kind: str, reason: str, reference: str
) -> Purpose:
    """The purpose a member chose on the form, checked: a submission must be this person's."""
    if kind == PurposeKind.SUBMISSION:
        try:
            client_id = uuid.UUID(reference.strip())
            row = await forms_service.find_submission(db, client_id)
        except (ValueError, NotFound):
            raise invalid("error.submissionReference", field="reference") from None
        if row.person_id != person_id:
            raise invalid("error.submissionReference", field="reference")
        return Purpose(kind=PurposeKind.SUBMISSION, reference=str(row.client_id))
    if kind == PurposeKind.OTHER:
        return Purpose.other(reason)
    raise invalid("error.purposeRequired", field="purpose")


async def open_record(
    db: AsyncSession,
    person_id: uuid.UUID,
    *,
    staff: StaffPrincipal,
    purpose: Purpose,
    meta: RequestMeta,
    role: Role = Role.HELPDESK,
) -> AuditEvent:
    """Log the view (the person sees it); the returned event is the view's grant."""
    await records.find_person(db, person_id)
    return await audit.record_view(
        db, staff=staff, role=role, person_id=person_id, purpose=purpose, meta=meta
    )


async def person_for_purpose(db: AsyncSession, person_id: uuid.UUID) -> Person:
    """Just enough to ask for a purpose: the person must exist (their name is not shown)."""
    return await records.find_person(db, person_id)


async def summary(
    db: AsyncSession,
    person_id: uuid.UUID,
    *,
    staff: StaffPrincipal,
    view_id: uuid.UUID | None,
    now: datetime | None = None,
) -> Summary | None:
    """The record under a fresh view of this member's; None: ask for a purpose first."""
    grant = await audit.view_grant(db, view_id, staff=staff, person_id=person_id, now=now)
    if grant is None:
        return None
    person = await records.find_person(db, person_id)
    events = await auth_audit.list_for_person(db, person_id, first=25, after=None)
    submissions = await forms_service.list_submissions(db, person_id, first=10, after=None)
    staff_ids = list({e.staff_id for e in events.items if e.staff_id})
    members = await accounts.members_by_id(db, staff_ids) if staff_ids else {}
    return Summary(
        person=person,
        passkeys=await manage.list_passkeys(db, person_id),
        sessions=await auth_sessions.list_sessions(db, person_id=person_id),
        events=events.items,
        submissions=submissions.items,
        view=grant,
        staff_names={k: m.name for k, m in members.items()},
    )


async def _require_view(
    db: AsyncSession, person_id: uuid.UUID, staff: StaffPrincipal, view_id: uuid.UUID | None
) -> AuditEvent:
    grant = await audit.view_grant(db, view_id, staff=staff, person_id=person_id)
    if grant is None:
        raise StaffError("error.viewExpired", code="FORBIDDEN")
    return grant


async def issue_code(
    db: AsyncSession,
    person_id: uuid.UUID,
    *,
    staff: StaffPrincipal,
    view_id: uuid.UUID | None,
    secret_key: str,
    meta: RequestMeta,
) -> IssuedCode:
    """A one-time activation code for a phone, video or desk case (`activation issue`)."""
    await _require_view(db, person_id, staff, view_id)
    person = await records.find_person(db, person_id)
    return await activation.issue_code(
        db,
        secret_key=secret_key,
        customer_number=person.customer_number,
        issued_by=audit.actor_of(staff.staff_id),
        validity=CODE_VALIDITY,
        meta=meta,
        staff_id=staff.staff_id,
        staff_role=Role.HELPDESK.value,
    )


async def revoke_access(
    db: AsyncSession,
    person_id: uuid.UUID,
    *,
    staff: StaffPrincipal,
    view_id: uuid.UUID | None,
    reason: str,
    meta: RequestMeta,
) -> manage.AccessRevoked:
    """Suspected takeover: every passkey and session of the person ends, with a reason."""
    cleaned = " ".join((reason or "").split())
    if not cleaned:
        raise invalid("error.revokeReason", field="reason")
    if len(cleaned) > MAX_REASON:
        raise invalid("error.reasonTooLong", field="reason", max=MAX_REASON)
    await _require_view(db, person_id, staff, view_id)
    # An approved access request not yet redeemed would otherwise still register a passkey:
    # it may be how the account was being taken over ("account has N passkeys").
    withdrawn = await review.withdraw_approvals(db, person_id)
    return await manage.revoke_all_access(
        db,
        person_id,
        reason=cleaned,
        staff_id=staff.staff_id,
        staff_role=Role.HELPDESK.value,
        meta=meta,
        details={"accessApprovalsWithdrawn": withdrawn},
    )
