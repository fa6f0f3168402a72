"""The audit log for auditors (role `auditor`): search by person, staff member, action and
time range; export as CSV.

Searching one person's events is a view of their data: it needs a reason and is logged (the
person sees it). Every search and export is itself audited.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.errors import NotFound
from api.pagination import Page
from auth import audit as auth_audit
from auth.audit import RequestMeta
from auth.models import AuditEvent
from records import service as records
from staff import accounts, audit
from staff.audit import Purpose
from staff.errors import invalid
from staff.models import Role, StaffMember
from staff.sessions import StaffPrincipal

PAGE_SIZE = 50
EXPORT_BATCH = 100  # the keyset pager's largest page
EXPORT_MAX_ROWS = 200_000
# OWASP "CSV Injection": a cell a spreadsheet would read as a formula starts with one of these.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
COLUMNS = (
    "occurred_at",
    "action",
    "outcome",
    "reason",
    "actor",
    "staff_id",
    "staff_name",
    "person_id",
    "ip_address",
    "user_agent",
    "details",
)


@dataclass(frozen=True, slots=True)
class Filters:
    person: str = ""  # a customer number or a person id
    staff_id: str = ""
    action: str = ""  # exact, or a prefix ending in "." or "*" (e.g. "staff.")
    since: str = ""  # YYYY-MM-DD, inclusive (UTC)
    until: str = ""  # YYYY-MM-DD, inclusive (UTC)

    def any(self) -> bool:
        return any((self.person, self.staff_id, self.action, self.since, self.until))

    def as_details(self) -> dict[str, str]:
        return {
            k: v
            for k, v in (
                ("person", self.person),
                ("staffId", self.staff_id),
                ("action", self.action),
                ("since", self.since),
                ("until", self.until),
            )
            if v
        }


@dataclass(frozen=True, slots=True)
class Results:
    page: Page[AuditEvent]
    names: dict[uuid.UUID, str]
    person_id: uuid.UUID | None


def _day(value: str, field: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise invalid("error.auditDate", field=field) from None


async def _person_id(db: AsyncSession, given: str) -> uuid.UUID:
    try:
        return (await records.find_person(db, uuid.UUID(given))).id
    except ValueError:
        pass
    except NotFound:
        raise invalid("error.auditPerson", field="person") from None
    found = await records.find_persons(db, customer_number=given)
    if not found:
        raise invalid("error.auditPerson", field="person")
    return found[0].id


@dataclass(frozen=True, slots=True)
class _Query:
    person_id: uuid.UUID | None
    staff_id: uuid.UUID | None
    action: str | None
    action_prefix: str | None
    since: datetime | None
    before: datetime | None

    async def page(self, db: AsyncSession, *, first: int, after: str | None) -> Page[AuditEvent]:
        return await auth_audit.search_events(
            db,
            person_id=self.person_id,
            staff_id=self.staff_id,
            action=self.action,
            action_prefix=self.action_prefix,
            since=self.since,
            before=self.before,
            first=first,
            after=after,
        )


async def _query(db: AsyncSession, filters: Filters) -> _Query:
    """The filters as a query, each checked (a refusal names its field)."""
    person_id = await _person_id(db, filters.person.strip()) if filters.person else None
    staff_id = None
    if filters.staff_id:
        try:
            staff_id = uuid.UUID(filters.staff_id)
        except ValueError:
            raise invalid("error.auditStaff", field="staff") from None
    action = filters.action.strip()
    prefix = action.rstrip("*") if action.endswith(("*", ".")) else None
    since = _day(filters.since, "since") if filters.since else None
    until = _day(filters.until, "until") if filters.until else None
    if since and until and until < since:
        raise invalid("error.auditRange", field="until")
    return _Query(
        person_id=person_id,
        staff_id=staff_id,
        action=None if prefix is not None else (action or None),
        action_prefix=prefix,
        since=datetime.combine(since, time(), UTC) if since else None,
        before=datetime.combine(until + timedelta(days=1), time(), UTC) if until else None,
    )


async def _log(
    db: AsyncSession,
    *,
    staff: StaffPrincipal,
    filters: Filters,
    person_id: uuid.UUID | None,
    reason: str | None,
    meta: RequestMeta,
    action: str,
) -> None:
    if person_id is not None:
        await audit.record_view(
            db,
            staff=staff,
            role=Role.AUDITOR,
            person_id=person_id,
            purpose=Purpose.other(reason),
            meta=meta,
            what="audit",
        )
    await audit.record(
        db, staff=staff, action=action, meta=meta, role=Role.AUDITOR, details=filters.as_details()
    )


async def search(
    db: AsyncSession,
    *,
    staff: StaffPrincipal,
    filters: Filters,
    reason: str | None,
    after: str | None,
    meta: RequestMeta,
) -> Results:
    """A page of matching events, newest first, with the staff members' names."""
    query = await _query(db, filters)
    person_id = query.person_id
    if person_id is not None:
        Purpose.other(reason)  # the reason is checked before anything is read
    page = await query.page(db, first=PAGE_SIZE, after=after)
    members = await accounts.members_by_id(
        db, [e.staff_id for e in page.items if e.staff_id is not None]
    )
    if after is None:  # a search once, not every page of it
        await _log(
            db,
            staff=staff,
            filters=filters,
            person_id=person_id,
            reason=reason,
            meta=meta,
            action="staff.audit_search",
        )
    return Results(page=page, names={k: m.name for k, m in members.items()}, person_id=person_id)


async def start_export(
    db: AsyncSession,
    *,
    staff: StaffPrincipal,
    filters: Filters,
    reason: str | None,
    meta: RequestMeta,
) -> None:
    """Check the filters and log the export (and the view, for one person) before streaming."""
    person_id = (await _query(db, filters)).person_id
    if person_id is not None:
        Purpose.other(reason)
    await _log(
        db,
        staff=staff,
        filters=filters,
        person_id=person_id,
        reason=reason,
        meta=meta,
        action="staff.audit_export",
    )


def safe_cell(value: object) -> str:
    """A CSV cell that a spreadsheet shows as text, never runs as a formula (OWASP)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _row(event: AuditEvent, names: dict[uuid.UUID, str]) -> list[str]:
    values: list[object] = [
        event.occurred_at.isoformat(),
        event.action,
        event.outcome,
        event.reason,
        event.actor,
        event.staff_id,
        names.get(event.staff_id) if event.staff_id else None,
        event.person_id,
        event.ip_address,
        event.user_agent,
        json.dumps(event.details, sort_keys=True, ensure_ascii=False),
    ]
    return [safe_cell(v) for v in values]


async def export_csv(
    factory: async_sessionmaker[AsyncSession], filters: Filters
) -> AsyncIterator[bytes]:
    """Every matching event as CSV (UTF-8 with BOM for spreadsheets), newest first, in batches.

    Reads in its own short transactions, one per batch, so a long export holds no lock.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    yield ("\ufeff" + buffer.getvalue()).encode()
    after = None
    sent = 0
    names: dict[uuid.UUID, str] = {}
    while sent < EXPORT_MAX_ROWS:
        async with factory() as db:
            query = await _query(db, filters)
            page = await query.page(db, first=EXPORT_BATCH, after=after)
            missing = [e.staff_id for e in page.items if e.staff_id and e.staff_id not in names]
            if missing:
                found: dict[uuid.UUID, StaffMember] = await accounts.members_by_id(db, missing)
                names.update({k: m.name for k, m in found.items()})
        buffer.seek(0)
        buffer.truncate()
        for event in page.items:
            writer.writerow(_row(event, names))
        sent += len(page.items)
        yield buffer.getvalue().encode()
        if not page.has_next_page:
            return
        after = page.end_cursor
