"""The forms work queue (role `forms`): received submissions by form and age, one opened with
its content, attachments and receipt check, and the decision (processed / rejected).

Opening a submission is a view of the person's data: logged with the submission as purpose
and shown to the person. The one who opens a received submission claims it (staff.claims);
only the holder decides, so two staff members never decide the same submission.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api.database import utcnow
from api.errors import InvalidInput
from auth.audit import RequestMeta
from forms import service as forms_service
from forms import status as forms_status
from forms.catalogue import Catalogue, FormVersion
from forms.models import FormAttachment, FormSubmission, SubmissionStatus
from forms.receipts import check_receipt
from records import service as records
from records.models import Person
from staff import audit, claims
from staff.audit import Purpose, PurposeKind
from staff.claims import Holder
from staff.errors import StaffError, conflict, invalid
from staff.models import Role
from staff.sessions import StaffPrincipal

KIND = "submission"
PAGE_SIZE = 50
MAX_REASON = 1000


@dataclass(frozen=True, slots=True)
class FormCount:
    form_id: str
    title: dict[str, str]
    waiting: int
    oldest: datetime


@dataclass(frozen=True, slots=True)
class QueueItem:
    submission: FormSubmission
    title: dict[str, str]
    age_days: int
    holder: Holder | None


@dataclass(frozen=True, slots=True)
class Queue:
    items: list[QueueItem]
    has_next_page: bool
    end_cursor: str | None
    forms: list[FormCount]


@dataclass(frozen=True, slots=True)
class Opened:
    view_id: uuid.UUID
    claimed_until: datetime | None
    holder: Holder | None  # someone else who holds it (then the view is read-only)


@dataclass(frozen=True, slots=True)
class Row:
    """One field as staff read it: label in both languages, the value as shown."""

    pointer: str
    label: dict[str, str]
    value: str | dict[str, str]  # a dict: an option label in both languages
    depth: int
    group: bool = False
    attachment_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Detail:
    submission: FormSubmission
    person: Person
    form: FormVersion | None
    rows: list[Row]
    attachments: list[FormAttachment]
    receipt_problems: list[str]
    holder: Holder | None
    mine: bool


def _title(catalogue: Catalogue, row: FormSubmission) -> dict[str, str]:
    form = catalogue.get(row.form_id, row.form_version)
    return dict(form.title) if form else {"en": row.form_id, "nl": row.form_id}


async def queue(
    db: AsyncSession,
    *,
    catalogue: Catalogue,
    form_id: str | None = None,
    min_age_days: int | None = None,
    after: str | None = None,
    now: datetime | None = None,
) -> Queue:
    """What waits, oldest first, optionally one form or older than N days; never names people."""
    now = now or utcnow()
    if min_age_days is not None and not 0 <= min_age_days <= 3650:
        raise invalid("error.ageRange", field="age")
    page = await forms_service.list_received(
        db,
        form_id=form_id or None,
        received_before=now - timedelta(days=min_age_days) if min_age_days else None,
        first=PAGE_SIZE,
        after=after,
    )
    held = await claims.holders(db, kind=KIND, item_ids=[r.client_id for r in page.items], now=now)
    counts = await forms_service.count_received(db)
    forms = []
    for fid, (waiting, oldest) in sorted(counts.items(), key=lambda kv: kv[1][1]):
        current = catalogue.current(fid, now)
        title = dict(current.title) if current else {"en": fid, "nl": fid}
        forms.append(FormCount(form_id=fid, title=title, waiting=waiting, oldest=oldest))
    return Queue(
        items=[
            QueueItem(
                submission=r,
                title=_title(catalogue, r),
                age_days=(now - r.received_at).days,
                holder=held.get(r.client_id),
            )
            for r in page.items
        ],
        has_next_page=page.has_next_page,
        end_cursor=page.end_cursor,
        forms=forms,
    )


async def open_submission(
    db: AsyncSession,
    client_id: uuid.UUID,
    *,
    staff: StaffPrincipal,
    meta: RequestMeta,
    now: datetime | None = None,
) -> Opened:
    """Open a submission: log the view (the person sees it) and claim it if it still waits."""
    now = now or utcnow()
    row = await forms_service.find_submission(db, client_id)
    until, other = None, None
    if row.status == SubmissionStatus.RECEIVED:
        try:
            until = await claims.claim(db, kind=KIND, item_id=row.client_id, staff=staff, now=now)
        except StaffError:
            other = await claims.holder(db, kind=KIND, item_id=row.client_id, now=now)
    view = await audit.record_view(
        db,
        staff=staff,
        role=Role.FORMS,
        person_id=row.person_id,
        purpose=Purpose(kind=PurposeKind.SUBMISSION, reference=str(row.client_id)),
        meta=meta,
        what="submission",
    )
    return Opened(view_id=view.id, claimed_until=until, holder=other)


async def _viewable(
    db: AsyncSession,
    client_id: uuid.UUID,
    *,
    staff: StaffPrincipal,
    view_id: uuid.UUID | None,
    now: datetime,
) -> FormSubmission | None:
    row = await forms_service.find_submission(db, client_id)
    grant = await audit.view_grant(db, view_id, staff=staff, person_id=row.person_id, now=now)
    return row if grant is not None else None


async def detail(
    db: AsyncSession,
    client_id: uuid.UUID,
    *,
    staff: StaffPrincipal,
    view_id: uuid.UUID | None,
    catalogue: Catalogue,
    jwks: dict[str, Any],
    now: datetime | None = None,
) -> Detail | None:
    """The submission as staff read it, under a fresh view; None: open it (again) first."""
    now = now or utcnow()
    row = await _viewable(db, client_id, staff=staff, view_id=view_id, now=now)
    if row is None:
        return None
    person = await records.get_person(db, row.person_id)
    form = catalogue.get(row.form_id, row.form_version)
    attachments = (await forms_service.attachments_of(db, [row.id]))[row.id]
    by_id = {str(a.id): a for a in attachments}
    problems = check_receipt(
        row.receipt,
        jwks,
        submission_id=str(row.client_id),
        content_digest=row.content_sha256,
        attachments=[{"id": str(a.id), "sha256": a.sha256} for a in attachments],
    )
    current = await claims.holder(db, kind=KIND, item_id=row.client_id, now=now)
    return Detail(
        submission=row,
        person=person,
        form=form,
        rows=render_content(form, row.content, by_id),
        attachments=attachments,
        receipt_problems=problems,
        holder=current,
        mine=current is not None and current.staff_id == staff.staff_id,
    )


def _resolve(content: Any, pointer: str) -> tuple[bool, Any]:
    """RFC 6901: the value at a JSON Pointer, and whether it is there at all."""
    value = content
    for part in pointer.split("/")[1:]:
        key = part.replace("~1", "/").replace("~0", "~")
        if isinstance(value, dict) and key in value:
            value = value[key]
        elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        else:
            return False, None
    return True, value


YES_NO = {True: {"en": "Yes", "nl": "Ja"}, False: {"en": "No", "nl": "Nee"}}


def render_content(
    form: FormVersion | None, content: dict[str, Any], attachments: dict[str, FormAttachment]
) -> list[Row]:
    """The content in the catalogue's field order with its labels (both languages).

    A field the person did not fill (hidden by `visibleWhen`, optional) is left out; a field
    the definition does not know (none should exist: content is validated) is shown raw.
    """
    rows: list[Row] = []
    shown: set[str] = set()
    fields: dict[str, dict[str, Any]] = form.ui.get("fields", {}) if form else {}
    order: list[str] = form.ui.get("order", []) if form else []
    for pointer in order:
        hints = fields.get(pointer, {})
        present, value = _resolve(content, pointer)
        depth = pointer.count("/") - 1
        label = dict(hints.get("label") or {"en": pointer, "nl": pointer})
        if hints.get("widget") == "group":
            if present:
                rows.append(Row(pointer=pointer, label=label, value="", depth=depth, group=True))
            shown.add(pointer)
            continue
        if not present:
            continue
        shown.add(pointer)
        if pointer in (form.attachment_fields if form else ()):
            ids = tuple(value) if isinstance(value, list) else (str(value),)
            names = ", ".join(attachments[i].filename for i in ids if i in attachments)
            rows.append(
                Row(pointer=pointer, label=label, value=names, depth=depth, attachment_ids=ids)
            )
            continue
        rows.append(Row(pointer=pointer, label=label, value=_shown(value, hints), depth=depth))
    for key, value in content.items():  # anything the definition's order does not name
        if f"/{key}" not in shown and not any(p.startswith(f"/{key}/") for p in shown):
            rows.append(
                Row(pointer=f"/{key}", label={"en": key, "nl": key}, value=str(value), depth=0)
            )
    return rows


def _shown(value: Any, hints: dict[str, Any]) -> str | dict[str, str]:
    options: dict[str, dict[str, str]] = hints.get("options") or {}
    if isinstance(value, bool):
        return YES_NO[value]
    if isinstance(value, str) and value in options:
        return dict(options[value])
    if isinstance(value, list):
        return ", ".join(str(options.get(v, {}).get("en", v)) for v in value)
    return str(value)


async def attachment(
    db: AsyncSession,
    client_id: uuid.UUID,
    attachment_id: uuid.UUID,
    *,
    staff: StaffPrincipal,
    view_id: uuid.UUID | None,
    meta: RequestMeta,
    now: datetime | None = None,
) -> FormAttachment | None:
    """An attachment to download under a fresh view (logged: the person sees it); None: no view."""
    now = now or utcnow()
    row = await _viewable(db, client_id, staff=staff, view_id=view_id, now=now)
    if row is None:
        return None
    found = await forms_service.submission_attachment(db, row.id, attachment_id)
    await audit.record(
        db,
        staff=staff,
        action="staff.download_attachment",
        meta=meta,
        role=Role.FORMS,
        person_id=row.person_id,
        details={
            **Purpose(kind=PurposeKind.SUBMISSION, reference=str(row.client_id)).as_details(),
            "attachmentId": str(found.id),
        },
    )
    return found


async def decide(
    db: AsyncSession,
    client_id: uuid.UUID,
    *,
    staff: StaffPrincipal,
    decision: str,
    reason: str | None,
    catalogue: Catalogue,
    meta: RequestMeta,
    now: datetime | None = None,
) -> forms_status.Decision:
    """processed or rejected (with a reason the person reads), by the claim's holder only.

    The person's inbox gets the message now; the caller pushes it after the commit.
    """
    now = now or utcnow()
    try:
        status = SubmissionStatus(decision)
    except ValueError:
        raise invalid("error.decision", field="decision") from None
    if status == SubmissionStatus.RECEIVED:
        raise invalid("error.decision", field="decision")
    reason = " ".join((reason or "").split()) or None
    if status == SubmissionStatus.REJECTED and reason is None:
        raise invalid("error.rejectReason", field="reason")
    if reason is not None and len(reason) > MAX_REASON:
        raise invalid("error.reasonTooLong", field="reason", max=MAX_REASON)
    row = await forms_service.find_submission(db, client_id)
    if row.status != SubmissionStatus.RECEIVED:
        raise conflict("error.alreadyDecided")
    await claims.require(db, kind=KIND, item_id=row.client_id, staff=staff, now=now)
    try:
        decided = await forms_status.decide(
            db, client_id, status=status, reason=reason, catalogue=catalogue, now=now
        )
    except InvalidInput as exc:  # decided meanwhile (its row lock said so)
        raise conflict("error.alreadyDecided") from exc
    await claims.release(db, kind=KIND, item_id=row.client_id)
    await audit.record(
        db,
        staff=staff,
        action="staff.decide_submission",
        meta=meta,
        role=Role.FORMS,
        person_id=row.person_id,
        reason=status.value,
        details={
            **Purpose(kind=PurposeKind.SUBMISSION, reference=str(row.client_id)).as_details(),
            "decision": status.value,
        },
    )
    return decided


async def release(
    db: AsyncSession, client_id: uuid.UUID, *, staff: StaffPrincipal, meta: RequestMeta
) -> None:
    """Hand a submission back to the queue."""
    row = await forms_service.find_submission(db, client_id)
    await claims.release(db, kind=KIND, item_id=row.client_id, staff=staff)
    await audit.record(
        db,
        staff=staff,
        action="staff.release_submission",
        meta=meta,
        role=Role.FORMS,
        details={"submission": str(row.client_id)},
    )
