"""Submitting forms exactly once, listing them, and changing their status.

Idempotency (issue 5): the outbox's client UUID is a UNIQUE column. A submission is inserted
inside a SAVEPOINT; when the insert hits the constraint, whoever committed first won, and the
loser answers with the winner's row: the same receipt, nothing stored twice, whichever
process or connection the replays came through. There is no check-then-insert: the SELECT
beforehand only saves work for plain replays.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import structlog
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.database import utcnow
from api.errors import InvalidInput, NotFound
from api.pagination import Page, paginate
from forms.catalogue import Catalogue, FormVersion
from forms.models import FormAttachment, FormSubmission, SubmissionStatus
from forms.receipts import (
    ReceiptSigner,
    canonical_json,
    content_sha256,
    receipt_payload,
    sign_receipt,
)
from forms.validation import FieldError, error, validate_content
from notifications.models import MessageKind
from notifications.service import post_message
from records.models import Person

log = structlog.get_logger("forms")

MAX_BATCH = 100  # one outbox flush; larger queues are sent in several batches
MAX_CONTENT_BYTES = 64 * 1024  # canonical JSON; attachments travel separately


@dataclass(frozen=True, slots=True)
class SubmissionInput:
    client_id: str  # as sent; parsed here so that a bad one fails only its own entry
    form_id: str
    form_version: int
    content: object


@dataclass(frozen=True, slots=True)
class Outcome:
    client_id: str
    status: Literal["accepted", "invalid"]
    submission: FormSubmission | None = None
    errors: Sequence[FieldError] = field(default_factory=tuple)
    replayed: bool = False  # for logs and metrics; the client sees the original result

    @property
    def receipt(self) -> str | None:
        return self.submission.receipt if self.submission else None


@dataclass(frozen=True, slots=True)
class Policy:
    """What submitting needs besides the database (create_app builds it from settings)."""

    catalogue: Catalogue
    signer: ReceiptSigner
    grace: timedelta
    issuer: str


class _AttachmentTaken(Exception):
    """Another submission linked one of the attachments first (rolls back the savepoint)."""


async def submit(
    db: AsyncSession,
    person_id: uuid.UUID,
    entries: Sequence[SubmissionInput],
    *,
    policy: Policy,
    now: datetime | None = None,
) -> list[Outcome]:
    """Validate and store each entry on its own; an invalid one never blocks the others.

    Returns one Outcome per entry, in input order. The caller commits once for all.
    """
    if len(entries) > MAX_BATCH:
        raise InvalidInput(f"Send at most {MAX_BATCH} submissions at once.", field="inputs")
    now = now or utcnow()
    language = await db.scalar(select(Person.preferred_language).where(Person.id == person_id))
    language = language or "en"
    outcomes: list[Outcome | None] = [None] * len(entries)
    parsed: list[tuple[int, uuid.UUID, SubmissionInput]] = []
    for i, entry in enumerate(entries):
        client_id = _client_id(entry.client_id)
        if client_id is None:
            outcomes[i] = _invalid(entry.client_id, [error("INVALID_CLIENT_ID", language)])
        else:
            parsed.append((i, client_id, entry))
    stored = {
        row.client_id: row
        for row in await db.scalars(
            select(FormSubmission).where(FormSubmission.client_id.in_([p[1] for p in parsed]))
        )
    }
    # Insert in client-id order: two batches racing over the same ids then take the unique
    # index's locks in the same order and wait for each other instead of deadlocking.
    for i, client_id, entry in sorted(parsed, key=lambda p: p[1]):
        outcomes[i] = await _submit_one(
            db,
            person_id,
            client_id,
            entry,
            existing=stored.get(client_id),
            policy=policy,
            language=language,
            now=now,
        )
    done = [o for o in outcomes if o is not None]
    log.info(
        "forms.submitted",
        entries=len(done),
        accepted=sum(o.status == "accepted" and not o.replayed for o in done),
        replayed=sum(o.replayed for o in done),
        invalid=sum(o.status == "invalid" for o in done),
    )
    return done


def _client_id(raw: str) -> uuid.UUID | None:
    try:
        parsed = uuid.UUID(raw)
    except (ValueError, AttributeError, TypeError):
        return None
    return parsed if parsed.int != 0 else None


def _invalid(client_id: str, errors: list[FieldError]) -> Outcome:
    return Outcome(client_id=client_id, status="invalid", errors=tuple(errors))


def _replay(
    row: FormSubmission,
    person_id: uuid.UUID,
    entry: SubmissionInput,
    digest: str,
    language: str,
) -> Outcome:
    same = (
        row.person_id == person_id
        and row.form_id == entry.form_id
        and row.form_version == entry.form_version
        and row.content_sha256 == digest
    )
    if not same:
        # Also when the id belongs to someone else: the same answer, so nothing about their
        # submission (not even that it is theirs) can be learnt from it.
        return _invalid(entry.client_id, [error("IDEMPOTENCY_CONFLICT", language)])
    return Outcome(client_id=entry.client_id, status="accepted", submission=row, replayed=True)


async def _submit_one(
    db: AsyncSession,
    person_id: uuid.UUID,
    client_id: uuid.UUID,
    entry: SubmissionInput,
    *,
    existing: FormSubmission | None,
    policy: Policy,
    language: str,
    now: datetime,
) -> Outcome:
    raw = canonical_json(entry.content)
    if len(raw) > MAX_CONTENT_BYTES:
        return _invalid(entry.client_id, [error("CONTENT_TOO_LARGE", language)])
    digest = content_sha256(entry.content)
    if existing is not None:
        # Before any other check: a receipt once given stays valid, even after the grace
        # period of its form version has ended.
        return _replay(existing, person_id, entry, digest, language)

    form = policy.catalogue.get(entry.form_id, entry.form_version)
    if form is None or form.published_at > now:
        return _invalid(entry.client_id, [error("FORM_NOT_FOUND", language)])
    if not policy.catalogue.acceptance(form, now=now, grace=policy.grace).accepted:
        return _invalid(entry.client_id, [error("FORM_VERSION_RETIRED", language)])
    errors = validate_content(
        form.validator, entry.content, language=language, field_messages=form.field_messages()
    )
    if errors or not isinstance(entry.content, dict):  # every schema says "type": "object"
        return _invalid(entry.client_id, errors)
    attachments, errors = await _attachments(db, person_id, form, entry.content, language)
    if errors:
        return _invalid(entry.client_id, errors)

    receipt = await sign_receipt(
        policy.signer,
        receipt_payload(
            issuer=policy.issuer,
            form_id=form.form_id,
            form_version=form.version,
            submission_id=str(client_id),
            received_at=now,
            content_digest=digest,
            attachments=[
                {"id": str(a.id), "sha256": a.sha256, "size": a.size, "mediaType": a.media_type}
                for a in attachments
            ],
        ),
    )
    row = FormSubmission(
        client_id=client_id,
        person_id=person_id,
        form_id=form.form_id,
        form_version=form.version,
        content=entry.content,
        content_sha256=digest,
        status=SubmissionStatus.RECEIVED,
        received_at=now,
        status_changed_at=now,
        receipt=receipt,
    )
    try:
        async with db.begin_nested():
            db.add(row)
            await db.flush()
            if attachments:
                await _link(db, person_id, row.id, [a.id for a in attachments])
    except IntegrityError:
        # A replay committed first (another request, process or connection): answer as it.
        winner = await db.scalar(
            select(FormSubmission).where(FormSubmission.client_id == client_id)
        )
        if winner is None:
            raise
        return _replay(winner, person_id, entry, digest, language)
    except _AttachmentTaken:
        return _invalid(entry.client_id, [error("ATTACHMENT_IN_USE", language)])
    return Outcome(client_id=entry.client_id, status="accepted", submission=row)


async def _link(
    db: AsyncSession, person_id: uuid.UUID, submission_id: uuid.UUID, ids: list[uuid.UUID]
) -> None:
    # Conditional UPDATE: of two submissions racing for one file, exactly one links it.
    result = await db.execute(
        update(FormAttachment)
        .where(
            FormAttachment.id.in_(ids),
            FormAttachment.person_id == person_id,
            FormAttachment.submission_id.is_(None),
            FormAttachment.completed_at.is_not(None),
        )
        .values(submission_id=submission_id)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != len(ids):  # type: ignore[attr-defined]
        raise _AttachmentTaken()


def attachment_refs(form: FormVersion, content: dict[str, Any]) -> list[tuple[str, str]]:
    """(JSON Pointer, attachment id) for every attachment the content names, in order."""
    refs: list[tuple[str, str]] = []
    for path in form.attachment_fields:
        value: Any = content
        for part in path.lstrip("/").split("/"):
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, str):
            refs.append((path, value))
        elif isinstance(value, list):
            refs.extend((f"{path}/{i}", v) for i, v in enumerate(value) if isinstance(v, str))
    return refs


async def _attachments(
    db: AsyncSession,
    person_id: uuid.UUID,
    form: FormVersion,
    content: dict[str, Any],
    language: str,
) -> tuple[list[FormAttachment], list[FieldError]]:
    refs = [(path, _client_id(raw)) for path, raw in attachment_refs(form, content)]
    ids = [i for _, i in refs if i is not None]
    rows = {}
    if ids:
        # Scoped by person: someone else's attachment is "not found", like a missing one.
        found = await db.scalars(
            select(FormAttachment).where(
                FormAttachment.id.in_(ids), FormAttachment.person_id == person_id
            )
        )
        rows = {r.id: r for r in found}
    attachments: list[FormAttachment] = []
    errors: list[FieldError] = []
    for path, attachment_id in refs:
        row = rows.get(attachment_id) if attachment_id else None
        if row is None:
            errors.append(error("ATTACHMENT_NOT_FOUND", language, path))
        elif row.completed_at is None:
            errors.append(error("ATTACHMENT_INCOMPLETE", language, path))
        elif row.submission_id is not None:
            errors.append(error("ATTACHMENT_IN_USE", language, path))
        else:
            attachments.append(row)
    return attachments, errors


# --- reading --------------------------------------------------------------------------------


async def list_submissions(
    db: AsyncSession, person_id: uuid.UUID, *, first: int, after: str | None
) -> Page[FormSubmission]:
    return await paginate(
        db,
        select(FormSubmission).where(FormSubmission.person_id == person_id),
        order_column=FormSubmission.received_at,
        id_column=FormSubmission.id,
        first=first,
        after=after,
        descending=True,
    )


async def get_submission(
    db: AsyncSession, person_id: uuid.UUID, client_id: uuid.UUID
) -> FormSubmission:
    row = await db.scalar(
        select(FormSubmission).where(
            FormSubmission.client_id == client_id, FormSubmission.person_id == person_id
        )
    )
    if row is None:
        raise NotFound("No such submission.", field="id")
    return row


async def attachments_of(
    db: AsyncSession, submission_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[FormAttachment]]:
    """The attachments of many submissions in one statement (no query per submission)."""
    found: dict[uuid.UUID, list[FormAttachment]] = {i: [] for i in submission_ids}
    if submission_ids:
        rows = await db.scalars(
            select(FormAttachment)
            .where(FormAttachment.submission_id.in_(submission_ids))
            .order_by(FormAttachment.created_at, FormAttachment.id)
        )
        for row in rows:
            if row.submission_id is not None:
                found[row.submission_id].append(row)
    return found


# --- status (DUO staff) ---------------------------------------------------------------------

_NOTICES = {
    (SubmissionStatus.PROCESSED, "en"): (
        "Your form has been processed",
        "DUO has processed your form “{title}”, received on {day} (reference {ref}).",
    ),
    (SubmissionStatus.PROCESSED, "nl"): (
        "Uw formulier is verwerkt",
        "DUO heeft uw formulier “{title}” verwerkt, ontvangen op {day} (kenmerk {ref}).",
    ),
    (SubmissionStatus.REJECTED, "en"): (
        "Your form could not be processed",
        "DUO could not process your form “{title}”, received on {day} (reference {ref}).\n\n"
        "Reason: {reason}",
    ),
    (SubmissionStatus.REJECTED, "nl"): (
        "Uw formulier kon niet worden verwerkt",
        "DUO kon uw formulier “{title}”, ontvangen op {day} (kenmerk {ref}), niet verwerken."
        "\n\nReden: {reason}",
    ),
}


async def set_status(
    db: AsyncSession,
    client_id: uuid.UUID,
    *,
    status: SubmissionStatus,
    reason: str | None,
    catalogue: Catalogue,
    now: datetime | None = None,
) -> FormSubmission:
    """received → processed | rejected (with a reason); announced in the person's inbox."""
    reason = (reason or "").strip() or None
    if status == SubmissionStatus.RECEIVED:
        raise InvalidInput("A submission can only become processed or rejected.", field="status")
    if status == SubmissionStatus.REJECTED and reason is None:
        raise InvalidInput("Say why the submission is rejected.", field="reason")
    row = await db.scalar(
        select(FormSubmission).where(FormSubmission.client_id == client_id).with_for_update()
    )
    if row is None:
        raise NotFound("No such submission.", field="id")
    if row.status != SubmissionStatus.RECEIVED:
        raise InvalidInput(f"This submission is already {row.status.value}.", field="status")
    row.status = status
    row.status_reason = reason
    row.status_changed_at = now or utcnow()
    person = await db.get(Person, row.person_id)
    language = person.preferred_language if person and person.preferred_language == "nl" else "en"
    form = catalogue.get(row.form_id, row.form_version)
    subject, body = _NOTICES[(status, language)]
    await post_message(
        db,
        row.person_id,
        kind=MessageKind.FORM_STATUS,
        subject=subject,
        body=body.format(
            title=form.title[language] if form else row.form_id,
            day=row.received_at.date().isoformat(),
            ref=str(row.client_id)[:8],
            reason=reason or "",
        ),
    )
    await db.flush()
    log.info("forms.status_changed", submission=str(row.client_id), status=status.value)
    return row
