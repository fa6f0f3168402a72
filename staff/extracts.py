"""Diploma extracts for the credentials officer (role `credentials`): find, revoke.

Finding extracts shows a person's data: it needs a reason, and each person found gets a
logged view (they see it). Revocation flips the extract's status-list bit for good
(extracts.service.revoke_extract) and tells the holder the reason in their activity.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from auth.audit import RequestMeta
from extracts import service as extracts_service
from extracts.models import Extract
from records import service as records
from records.models import Diploma, Person
from staff import audit
from staff.audit import Purpose
from staff.errors import invalid, not_found
from staff.models import Role
from staff.sessions import StaffPrincipal

MAX_REASON = 300


@dataclass(frozen=True, slots=True)
class Found:
    extract: Extract
    person: Person
    diploma: Diploma


def _reason(reason: str | None) -> str:
    cleaned = " ".join((reason or "").split())
    if not cleaned:
        raise invalid("error.revokeReason", field="reason")
    if len(cleaned) > MAX_REASON:
        raise invalid("error.reasonTooLong", field="reason", max=MAX_REASON)
    return cleaned


async def find(
    db: AsyncSession,
    *,
    staff: StaffPrincipal,
    extract_id: str | None,
    customer_number: str | None,
    reason: str | None,
    meta: RequestMeta,
) -> list[Found]:
    """By extract id, or every extract of a person (customer number); each person's view is
    logged with the reason."""
    purpose = Purpose.other(reason)
    extracts: list[Extract] = []
    if extract_id:
        try:
            found = await extracts_service.find_extract(db, uuid.UUID(extract_id.strip()))
        except ValueError:
            raise invalid("error.extractId", field="extract") from None
        extracts = [found] if found else []
    elif customer_number:
        people = await records.find_persons(db, customer_number=customer_number)
        for person in people:
            extracts.extend(await extracts_service.list_extracts(db, person.id))
    else:
        raise invalid("error.extractSearch", field="extract")
    results = []
    viewed: set[uuid.UUID] = set()
    for extract in extracts:
        person = await records.find_person(db, extract.person_id)
        diploma = await records.get_diploma(db, extract.person_id, extract.diploma_id)
        if person.id not in viewed:
            viewed.add(person.id)
            await audit.record_view(
                db,
                staff=staff,
                role=Role.CREDENTIALS,
                person_id=person.id,
                purpose=purpose,
                meta=meta,
                what="extracts",
            )
        results.append(Found(extract=extract, person=person, diploma=diploma))
    return results


async def revoke(
    db: AsyncSession,
    extract_id: uuid.UUID,
    *,
    staff: StaffPrincipal,
    reason: str | None,
    meta: RequestMeta,
) -> Extract:
    cleaned = _reason(reason)
    if await extracts_service.find_extract(db, extract_id) is None:
        raise not_found()
    return await extracts_service.revoke_extract(
        db,
        extract_id,
        reason=cleaned,
        actor=audit.actor_of(staff.staff_id),
        meta=meta,
        staff_id=staff.staff_id,
        staff_role=Role.CREDENTIALS.value,
    )
