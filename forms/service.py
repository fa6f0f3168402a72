"""Submitting forms exactly once (alone or as a batch), and reading them back.

Idempotency (issue 5): the outbox's client UUID is a UNIQUE column. A batch is inserted with
one INSERT … ON CONFLICT (client_id) DO NOTHING: where the constraint says another transaction
stored the id first, that one won, and the entry answers with the winner's row: the same
receipt, nothing stored twice, whichever process or connection the replays came through.
There is no check-then-insert: the SELECT beforehand only saves work for plain replays.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal

import structlog
from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from api.database import utcnow
from api.errors import InvalidInput, NotFound
from api.pagination import Page, paginate
from forms import uploads
from forms.catalogue import Catalogue
from forms.models import FormAttachment, FormSubmission, SubmissionStatus
from forms.receipts import (
    ReceiptSigner,
    canonical_json,
    content_sha256,
    receipt_payload,
    sign_receipt,
)
from forms.validation import FieldError, error, unstorable_text, validate_content
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


@dataclass(slots=True)
class _Ready:
    """A valid entry, signed and about to be inserted."""

    index: int
    entry: SubmissionInput
    digest: str
    row: dict[str, Any]
    attachment_ids: list[uuid.UUID]


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
    stored = await _by_client_id(db, [p[1] for p in parsed])

    ready: dict[uuid.UUID, _Ready] = {}
    # Entries answered after the insert, as a replay of the row stored under their id:
    # repeats within this batch, and ids that another transaction stored first.
    later: list[tuple[int, uuid.UUID, SubmissionInput, str]] = []
    for i, client_id, entry in parsed:
        prepared = await _prepare(
            db,
            person_id,
            client_id,
            entry,
            existing=stored.get(client_id),
            policy=policy,
            language=language,
            now=now,
        )
        if isinstance(prepared, Outcome):
            outcomes[i] = prepared
        elif client_id in ready:
            later.append((i, client_id, entry, prepared.digest))
        else:
            prepared.index = i
            ready[client_id] = prepared

    inserted = await _insert(db, [ready[k] for k in sorted(ready)])
    taken: dict[uuid.UUID, Outcome] = {}
    for client_id, item in ready.items():
        row = inserted.get(client_id)
        if row is None:
            later.append((item.index, client_id, item.entry, item.digest))
        elif item.attachment_ids and not await _link(db, person_id, row, item.attachment_ids):
            taken[client_id] = _invalid(
                item.entry.client_id, [error("ATTACHMENT_IN_USE", language)]
            )
            outcomes[item.index] = taken[client_id]
        else:
            outcomes[item.index] = Outcome(
                client_id=item.entry.client_id, status="accepted", submission=row
            )
    if later:
        winners = await _by_client_id(db, [client_id for _, client_id, _, _ in later])
        for index, client_id, entry, digest in later:
            winner = winners.get(client_id)
            if winner is not None:
                outcomes[index] = _replay(winner, person_id, entry, digest, language)
            elif client_id in taken:
                outcomes[index] = replace(taken[client_id], client_id=entry.client_id)
            else:  # pragma: no cover - a conflicting row cannot vanish: rows are never deleted
                raise RuntimeError("a submission that conflicted is gone")

    done = [o for o in outcomes if o is not None]
    log.info(
        "forms.submitted",
        entries=len(done),
        accepted=sum(o.status == "accepted" and not o.replayed for o in done),
        replayed=sum(o.replayed for o in done),
        invalid=sum(o.status == "invalid" for o in done),
    )
    return done


async def _by_client_id(
    db: AsyncSession, client_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, FormSubmission]:
    if not client_ids:
        return {}
    rows = await db.scalars(select(FormSubmission).where(FormSubmission.client_id.in_(client_ids)))
    return {row.client_id: row for row in rows}


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


async def _prepare(
    db: AsyncSession,
    person_id: uuid.UUID,
    client_id: uuid.UUID,
    entry: SubmissionInput,
    *,
    existing: FormSubmission | None,
    policy: Policy,
    language: str,
    now: datetime,
) -> Outcome | _Ready:
    """Check one entry and sign its receipt; an Outcome when it is settled without an insert."""
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
    unstorable = unstorable_text(entry.content)
    if unstorable:
        return _invalid(
            entry.client_id, [error("INVALID_CHARACTERS", language, at) for at in unstorable]
        )
    errors = validate_content(
        form.validator, entry.content, language=language, field_messages=form.field_messages()
    )
    if errors or not isinstance(entry.content, dict):  # every schema says "type": "object"
        return _invalid(entry.client_id, errors)
    attachments, errors = await uploads.check_references(
        db, person_id, form, entry.content, language
    )
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
    row = {
        "id": uuid.uuid4(),
        "client_id": client_id,
        "person_id": person_id,
        "form_id": form.form_id,
        "form_version": form.version,
        "content": entry.content,
        "content_sha256": digest,
        "status": SubmissionStatus.RECEIVED,
        "status_reason": None,
        "received_at": now,
        "status_changed_at": now,
        "receipt": receipt,
    }
    return _Ready(-1, entry, digest, row, [a.id for a in attachments])


async def _insert(db: AsyncSession, items: list[_Ready]) -> dict[uuid.UUID, FormSubmission]:
    """One INSERT … ON CONFLICT (client_id) DO NOTHING RETURNING for the whole batch.

    The unique index decides: a row whose id another transaction holds is skipped (on
    PostgreSQL after waiting for that transaction to end) and answered as a replay. Rows go
    in client-id order, so two batches with the same ids take the index's locks in the same
    order and wait for each other instead of deadlocking.
    """
    if not items:
        return {}
    insert = postgresql_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = (
        insert(FormSubmission)
        .values([item.row for item in items])
        .on_conflict_do_nothing(index_elements=[FormSubmission.client_id])
        .returning(FormSubmission)
    )
    return {row.client_id: row for row in await db.scalars(stmt)}


async def _link(
    db: AsyncSession, person_id: uuid.UUID, row: FormSubmission, ids: list[uuid.UUID]
) -> bool:
    """Attach the files to the new row; if one was taken meanwhile, drop the row instead."""
    # Conditional UPDATE: of two submissions racing for one file, exactly one links it.
    linked = await db.execute(
        update(FormAttachment)
        .where(
            FormAttachment.id.in_(ids),
            FormAttachment.person_id == person_id,
            FormAttachment.submission_id.is_(None),
            FormAttachment.completed_at.is_not(None),
        )
        .values(submission_id=row.id)
        .execution_options(synchronize_session=False)
    )
    if linked.rowcount == len(ids):  # type: ignore[attr-defined]
        return True
    await db.execute(
        update(FormAttachment)
        .where(FormAttachment.submission_id == row.id)
        .values(submission_id=None)
        .execution_options(synchronize_session=False)
    )
    await db.execute(
        delete(FormSubmission)
        .where(FormSubmission.id == row.id)
        .execution_options(synchronize_session=False)
    )
    db.expunge(row)
    return False


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


# --- DUO's side (staff/): the queue of received submissions --------------------------------


async def list_received(
    db: AsyncSession,
    *,
    form_id: str | None,
    received_before: datetime | None,
    first: int,
    after: str | None,
) -> Page[FormSubmission]:
    """Submissions waiting for a decision, oldest first (any person: for DUO staff only)."""
    stmt = select(FormSubmission).where(FormSubmission.status == SubmissionStatus.RECEIVED)
    if form_id:
        stmt = stmt.where(FormSubmission.form_id == form_id)
    if received_before is not None:
        stmt = stmt.where(FormSubmission.received_at < received_before)
    return await paginate(
        db,
        stmt,
        order_column=FormSubmission.received_at,
        id_column=FormSubmission.id,
        first=first,
        after=after,
        descending=False,
    )


async def count_received(db: AsyncSession) -> dict[str, tuple[int, datetime]]:
    """Per form: how many submissions wait, and since when the oldest does."""
    rows = await db.execute(
        select(FormSubmission.form_id, func.count(), func.min(FormSubmission.received_at))
        .where(FormSubmission.status == SubmissionStatus.RECEIVED)
        .group_by(FormSubmission.form_id)
    )
    return {form_id: (int(count), oldest) for form_id, count, oldest in rows}


async def find_submission(db: AsyncSession, client_id: uuid.UUID) -> FormSubmission:
    """Any person's submission by its id (for DUO staff); NotFound otherwise."""
    row = await db.scalar(select(FormSubmission).where(FormSubmission.client_id == client_id))
    if row is None:
        raise NotFound("No such submission.", field="id")
    return row


async def submission_attachment(
    db: AsyncSession, submission_id: uuid.UUID, attachment_id: uuid.UUID
) -> FormAttachment:
    """An attachment that belongs to this submission; NotFound otherwise."""
    row = await db.scalar(
        select(FormAttachment).where(
            FormAttachment.id == attachment_id, FormAttachment.submission_id == submission_id
        )
    )
    if row is None:
        raise NotFound("No such attachment.", field="attachmentId")
    return row
