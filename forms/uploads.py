"""Resumable attachment uploads (create, chunks at an offset, completion), and their use by forms.

A phone on a flaky network uploads evidence once, in chunks it can resume from the offset the
server reports, and then refers to the attachment by id in as many submission retries as it
takes. The type is proven by content (magic numbers at the first chunk, format trailer or
container structure at completion) and must agree with the file name; the size is capped when
the upload is created.

An upload belongs to an Owner: a signed-in person (form attachments), or an access request
(access/: someone without an account yet uploads an identity document and a liveness video).
Each caller passes the policy (accepted types, size cap, how many may wait) that fits its use.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.database import utcnow
from api.errors import DomainError, NotFound
from forms.attachments import (
    MEDIA_TYPES,
    SNIFF_BYTES,
    TYPE_NAMES,
    AttachmentStore,
    media_type_for_name,
    sniff,
    well_formed,
)
from forms.catalogue import FormVersion
from forms.models import FormAttachment
from forms.validation import FieldError, error

# Unsubmitted attachments are kept this long: long enough for an outbox entry to wait for a
# fix ("needs attention"), short enough that abandoned uploads do not pile up.
UPLOAD_TTL = timedelta(days=30)
MAX_PENDING_UPLOADS = 20  # per person, not yet part of a submission: caps abuse of disk space
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class UploadError(DomainError):
    """An upload refused; carries its HTTP status (forms/routes.py maps it)."""

    def __init__(
        self, status: int, code: str, message: str, *, field: str | None = None, **extra: object
    ) -> None:
        super().__init__(message, field=field)
        self.status = status
        self.code = code
        self.extra = extra


@dataclass(frozen=True, slots=True)
class UploadLimits:
    """What an upload may be: its size cap, accepted types by extension, how many may wait."""

    max_bytes: int
    media_types: Mapping[str, str] = field(default_factory=lambda: MEDIA_TYPES)
    max_pending: int = MAX_PENDING_UPLOADS

    def names(self) -> str:
        """ "JPEG, PNG and PDF": the accepted types, for messages."""
        names = list(dict.fromkeys(TYPE_NAMES[t] for t in self.media_types.values()))
        return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]


@dataclass(frozen=True, slots=True)
class Owner:
    """Whose upload it is: exactly one of a person (forms) or an access request (access/)."""

    person_id: uuid.UUID | None = None
    access_request_id: uuid.UUID | None = None

    def __post_init__(self) -> None:
        if (self.person_id is None) == (self.access_request_id is None):
            raise ValueError("an upload has exactly one owner")

    @classmethod
    def person(cls, person_id: uuid.UUID) -> Owner:
        return cls(person_id=person_id)

    @classmethod
    def access_request(cls, request_id: uuid.UUID) -> Owner:
        return cls(access_request_id=request_id)

    def condition(self) -> ColumnElement[bool]:
        if self.person_id is not None:
            return FormAttachment.person_id == self.person_id
        return FormAttachment.access_request_id == self.access_request_id


def clean_filename(raw: str) -> str:
    """A display name: the last path segment, no control characters, at most 200 characters."""
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip()
    if len(name) > 200:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 199 - len(ext)] + dot + ext) if dot else name[:200]
    return name


async def create_upload(
    db: AsyncSession,
    owner: Owner,
    *,
    filename: str,
    size: int,
    sha256: str,
    media_type: str | None,
    limits: UploadLimits,
    now: datetime | None = None,
) -> FormAttachment:
    now = now or utcnow()
    name = clean_filename(filename)
    declared = media_type_for_name(name, limits.media_types)
    if not name or declared is None:
        extensions = ", ".join(limits.media_types)
        raise UploadError(
            415,
            "ATTACHMENT_TYPE",
            f"Only {limits.names()} files ({extensions}) can be attached.",
            field="filename",
        )
    if media_type is not None and media_type.split(";")[0].strip().lower() != declared:
        raise UploadError(
            415, "ATTACHMENT_TYPE", "The file type does not match the file name.", field="mediaType"
        )
    if size > limits.max_bytes:
        raise UploadError(
            413,
            "ATTACHMENT_TOO_LARGE",
            f"Files can be at most {limits.max_bytes // (1024 * 1024)} MB.",
            field="size",
            maxBytes=limits.max_bytes,
        )
    if size < 1:
        raise UploadError(400, "BAD_USER_INPUT", "The file is empty.", field="size")
    if not _SHA256.match(sha256):
        raise UploadError(
            400, "BAD_USER_INPUT", "sha256 must be 64 lowercase hex digits.", field="sha256"
        )
    pending = await db.scalar(
        select(func.count()).where(
            owner.condition(),
            FormAttachment.submission_id.is_(None),
            FormAttachment.expires_at > now,
        )
    )
    if (pending or 0) >= limits.max_pending:
        raise UploadError(
            429, "TOO_MANY_UPLOADS", "Too many unsent files. Send or remove some first."
        )
    attachment_id = uuid.uuid4()
    row = FormAttachment(
        id=attachment_id,
        person_id=owner.person_id,
        access_request_id=owner.access_request_id,
        filename=name,
        media_type=declared,
        size=size,
        received_bytes=0,
        sha256=sha256,
        storage_key=attachment_id.hex,
        created_at=now,
        expires_at=now + UPLOAD_TTL,
    )
    db.add(row)
    await db.flush()
    return row


async def get_attachment(
    db: AsyncSession, owner: Owner, attachment_id: uuid.UUID, *, lock: bool = False
) -> FormAttachment:
    """The owner's own attachment; anyone else's is not found, exactly like a missing one."""
    stmt = select(FormAttachment).where(FormAttachment.id == attachment_id, owner.condition())
    row = await db.scalar(stmt.with_for_update() if lock else stmt)
    if row is None:
        raise NotFound("No such attachment.", field="id")
    return row


def _writable(row: FormAttachment, now: datetime) -> None:
    if row.completed_at is not None:
        raise UploadError(409, "UPLOAD_COMPLETE", "This upload is already complete.")
    if row.expires_at <= now:
        raise UploadError(410, "UPLOAD_EXPIRED", "This upload has expired. Start it again.")


async def append_chunk(
    db: AsyncSession,
    store: AttachmentStore,
    owner: Owner,
    attachment_id: uuid.UUID,
    *,
    offset: int,
    data: bytes,
    now: datetime | None = None,
) -> FormAttachment:
    """Write one chunk at `offset`, which must be where the upload stands (else 409 + offset)."""
    now = now or utcnow()
    # FOR UPDATE: two retries of one chunk cannot both append (PostgreSQL; SQLite serialises).
    row = await get_attachment(db, owner, attachment_id, lock=True)
    _writable(row, now)
    if offset != row.received_bytes:
        raise UploadError(
            409,
            "UPLOAD_OFFSET_MISMATCH",
            "Resume the upload at the offset given.",
            offset=row.received_bytes,
        )
    if offset + len(data) > row.size:
        raise UploadError(
            413, "ATTACHMENT_TOO_LARGE", "More bytes than the size declared for this upload."
        )
    if not data:
        return row
    if offset == 0:
        if len(data) < min(SNIFF_BYTES, row.size):
            raise UploadError(
                400, "CHUNK_TOO_SMALL", f"The first chunk must hold at least {SNIFF_BYTES} bytes."
            )
        # Refused before a byte is stored: an HTML page named .jpg never reaches the disk.
        if sniff(data[:SNIFF_BYTES]) != row.media_type:
            raise _type_refused(row)
    await store.write_at(row.storage_key, offset, data)
    row.received_bytes = offset + len(data)
    await db.flush()
    return row


def _type_refused(row: FormAttachment) -> UploadError:
    kind = TYPE_NAMES[row.media_type]
    family = "WebM and MP4" if row.media_type.startswith("video/") else "JPEG, PNG and PDF"
    return UploadError(
        415,
        "ATTACHMENT_TYPE",
        f"This file is not a {kind} file, though its name says so. "
        f"Only {family} files can be attached.",
    )


async def complete_upload(
    db: AsyncSession,
    store: AttachmentStore,
    owner: Owner,
    attachment_id: uuid.UUID,
    *,
    now: datetime | None = None,
) -> FormAttachment:
    """Check size, SHA-256 and format, and make the attachment usable; repeatable."""
    now = now or utcnow()
    row = await get_attachment(db, owner, attachment_id, lock=True)
    if row.completed_at is not None:
        return row
    _writable(row, now)
    stored = await store.size(row.storage_key)
    if row.received_bytes != row.size or stored != row.size:
        row.received_bytes = min(row.received_bytes, stored)
        await db.flush()
        raise UploadError(
            409,
            "UPLOAD_INCOMPLETE",
            "The upload is not complete: resume at the offset given.",
            offset=row.received_bytes,
        )
    head = await store.read_range(row.storage_key, 0, SNIFF_BYTES)

    async def read(offset: int, length: int) -> bytes:
        return await store.read_range(row.storage_key, offset, length)

    if sniff(head) != row.media_type or not await well_formed(row.media_type, read, row.size):
        await _restart(db, store, row)
        raise _type_refused(row)
    if await store.sha256(row.storage_key) != row.sha256:
        # Corrupted on the way (or a different file): start again from zero.
        await _restart(db, store, row)
        raise UploadError(
            422,
            "ATTACHMENT_CHECKSUM",
            "The file arrived damaged (SHA-256 differs). Upload it again.",
            offset=0,
        )
    row.completed_at = now
    await db.flush()
    return row


async def _restart(db: AsyncSession, store: AttachmentStore, row: FormAttachment) -> None:
    await store.write_at(row.storage_key, 0, b"")
    row.received_bytes = 0
    await db.flush()


async def delete_upload(db: AsyncSession, owner: Owner, attachment_id: uuid.UUID) -> str:
    """Remove an unsubmitted attachment's row; its storage key, to delete after commit.

    In that order: a file without a row is harmless, a row without its file is not.
    """
    row = await get_attachment(db, owner, attachment_id, lock=True)
    if row.submission_id is not None:
        raise UploadError(
            409, "ATTACHMENT_IN_USE", "This file is part of a submission and is kept with it."
        )
    await db.delete(row)
    await db.flush()
    return row.storage_key


async def expired_uploads(db: AsyncSession, *, now: datetime | None = None) -> Sequence[str]:
    """Delete the rows of unsubmitted form attachments past their expiry; their storage keys.

    The caller commits, then deletes the files (a file without a row is harmless). An access
    request's files live as long as their request (access/ removes them with it).
    """
    condition = (
        FormAttachment.person_id.is_not(None),
        FormAttachment.submission_id.is_(None),
        FormAttachment.expires_at <= (now or utcnow()),
    )
    keys = (await db.scalars(select(FormAttachment.storage_key).where(*condition))).all()
    if keys:
        await db.execute(delete(FormAttachment).where(*condition))
    return keys


# --- references from a submission -----------------------------------------------------------


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


async def check_references(
    db: AsyncSession,
    person_id: uuid.UUID,
    form: FormVersion,
    content: dict[str, Any],
    language: str,
) -> tuple[list[FormAttachment], list[FieldError]]:
    """The attachments a submission names, or field errors where one is not usable."""
    refs = [(path, _uuid(raw)) for path, raw in attachment_refs(form, content)]
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


def _uuid(raw: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None
