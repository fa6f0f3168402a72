"""The person's side of an access request: make it, upload the files, submit, answer, follow it.

No account exists yet. The browser generates a secret and keeps it; every call carries it and
only its SHA-256 is stored, so the request can be followed (and, once approved, turned into a
passkey) only from the browser that made it. Someone else's request id with another secret is
"not found", exactly like an id that does not exist.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from access.errors import AccessError, not_editable
from access.models import (
    AccessRequest,
    AccessRequestEvent,
    EventKind,
    RequestReason,
    RequestStatus,
)
from api.database import utcnow
from api.errors import InvalidInput, NotFound
from api.settings import Settings
from auth import audit
from auth.audit import RequestMeta
from forms import uploads
from forms.attachments import MEDIA_TYPES, VIDEO_TYPES, AttachmentStore
from forms.models import FormAttachment
from forms.uploads import Owner, UploadLimits
from forms.validation import is_country
from notifications.subscriptions import check_endpoint, check_keys

# 256 bits from crypto.getRandomValues, base64url without padding (the PWA's js/access.js).
_SECRET = re.compile(r"^[A-Za-z0-9_-]{43}$")
_CUSTOMER_NUMBER = re.compile(r"^[A-Z0-9]{4,16}$")
# Enough to catch typing slips; whether mail arrives is not this server's business (it sends
# none: the address is kept for a "your request changed, open the app" notice only).
_EMAIL = re.compile(r"^[^\s@]{1,64}@[^\s@]+\.[^\s@.]{2,}$")
MAX_MESSAGE = 2000
MAX_FILES = 12  # per request, documents and videos together, whatever their state
# Files may be added while the person is filling in, or answering a question.
UPLOAD_STATUSES = frozenset({RequestStatus.DRAFT, RequestStatus.MORE_INFO})
# A request never submitted is removed (with its files) after this long.
DRAFT_TTL = timedelta(days=7)
# Identity documents and videos of decided requests are kept this long, then deleted; the
# request's row and history stay (what was decided, when, by whom).
FILE_RETENTION = timedelta(days=90)
EARLIEST_BIRTH = date(1900, 1, 1)


@dataclass(frozen=True, slots=True)
class Details:
    """What the person says about themselves, checked and normalised."""

    customer_number: str | None
    full_name: str
    date_of_birth: date
    country: str
    contact_email: str
    reason: RequestReason
    language: str


@dataclass(frozen=True, slots=True)
class FileLimits:
    """Upload policies for the two kinds of file a request carries."""

    document: UploadLimits
    video: UploadLimits

    @classmethod
    def from_settings(cls, settings: Settings) -> FileLimits:
        return cls(
            document=UploadLimits(
                max_bytes=settings.forms_attachment_max_bytes,
                media_types=MEDIA_TYPES,
                max_pending=MAX_FILES,
            ),
            video=UploadLimits(
                max_bytes=settings.access_video_max_bytes,
                media_types=VIDEO_TYPES,
                max_pending=MAX_FILES,
            ),
        )

    def for_kind(self, kind: str) -> UploadLimits:
        if kind == "document":
            return self.document
        if kind == "video":
            return self.video
        raise InvalidInput("kind must be document or video.", field="kind")


def is_video(row: FormAttachment) -> bool:
    return row.media_type.startswith("video/")


def secret_digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def check_secret(secret: str | None) -> str:
    if not secret or not _SECRET.match(secret):
        raise AccessError(
            400,
            "INVALID_SECRET",
            "Send the request's secret as 43 base64url characters (Authorization: Bearer …).",
            field="secret",
        )
    return secret


def _no_controls(value: str, field: str, *, newlines: bool = False) -> str:
    allowed = {"\n"} if newlines else set()
    if any(unicodedata.category(c) == "Cc" and c not in allowed for c in value):
        raise InvalidInput("Control characters are not allowed here.", field=field)
    return value


def clean_details(
    *,
    customer_number: str | None,
    full_name: str,
    date_of_birth: date,
    country: str,
    contact_email: str,
    reason: str,
    language: str,
    today: date | None = None,
) -> Details:
    """Check every field; the first problem is an InvalidInput naming the field."""
    today = today or utcnow().date()
    number = re.sub(r"[\s.-]", "", customer_number or "").upper() or None
    if number is not None and not _CUSTOMER_NUMBER.match(number):
        raise InvalidInput(
            "A customer number has 4 to 16 letters and digits.", field="customerNumber"
        )
    name = " ".join(_no_controls(full_name, "fullName").split())
    if len(name) < 2 or not any(c.isalpha() for c in name):
        raise InvalidInput("Give your full name as in your passport.", field="fullName")
    if len(name) > 200:
        raise InvalidInput("The name can be at most 200 characters.", field="fullName")
    if not EARLIEST_BIRTH <= date_of_birth <= today:
        raise InvalidInput("This date of birth is not possible.", field="dateOfBirth")
    code = country.strip().upper()
    if not is_country(code):
        raise InvalidInput("Choose your country of residence.", field="country")
    email = _no_controls(contact_email, "contactEmail").strip()
    if len(email) > 254 or not _EMAIL.match(email):
        raise InvalidInput("This e-mail address is not valid.", field="contactEmail")
    try:
        why = RequestReason(reason)
    except ValueError as exc:
        raise InvalidInput(
            "The reason must be lost_digid or never_had_digid.", field="reason"
        ) from exc
    return Details(
        customer_number=number,
        full_name=name,
        date_of_birth=date_of_birth,
        country=code,
        contact_email=email,
        reason=why,
        language=language if language in ("en", "nl") else "en",
    )


def clean_message(message: str, *, field: str = "message", required: bool = True) -> str | None:
    text = _no_controls(message.replace("\r\n", "\n"), field, newlines=True).strip()
    if not text:
        if required:
            raise InvalidInput("Write a message.", field=field)
        return None
    if len(text) > MAX_MESSAGE:
        raise InvalidInput(f"At most {MAX_MESSAGE} characters.", field=field)
    return text


def new_digits() -> str:
    """Four digits for the liveness video, from the OS's CSPRNG: not guessable in advance."""
    return f"{secrets.randbelow(10_000):04d}"


async def create_request(
    db: AsyncSession,
    *,
    secret: str,
    details: Details,
    meta: RequestMeta,
    now: datetime | None = None,
) -> AccessRequest:
    """A draft request bound to this browser's secret, with its liveness digits."""
    digest = secret_digest(check_secret(secret))
    if await db.scalar(select(AccessRequest.id).where(AccessRequest.secret_hash == digest)):
        # A browser makes a new secret per request; a reused one is a client bug.
        raise AccessError(409, "SECRET_IN_USE", "Make a new secret for a new request.")
    now = now or utcnow()
    row = AccessRequest(
        secret_hash=digest,
        status=RequestStatus.DRAFT,
        liveness_digits=new_digits(),
        created_at=now,
        ip_address=meta.ip_address,
        user_agent=(meta.user_agent or "")[:300] or None,
    )
    _apply(row, details)
    db.add(row)
    await db.flush()
    await audit.record(
        db,
        action="access_request.create",
        outcome="success",
        meta=meta,
        details={"access_request_id": str(row.id), "country": row.country},
    )
    return row


def _apply(row: AccessRequest, details: Details) -> None:
    row.customer_number = details.customer_number
    row.full_name = details.full_name
    row.date_of_birth = details.date_of_birth
    row.country = details.country
    row.contact_email = details.contact_email
    row.reason = details.reason
    row.language = details.language


async def open_request(
    db: AsyncSession,
    request_id: uuid.UUID,
    *,
    secret: str | None,
    meta: RequestMeta,
    lock: bool = False,
) -> AccessRequest:
    """The request, if this secret is its secret; else NOT_FOUND (and an audit event)."""
    digest = secret_digest(check_secret(secret))
    stmt = select(AccessRequest).where(AccessRequest.id == request_id)
    row = await db.scalar(stmt.with_for_update() if lock else stmt)
    if row is None or not hmac.compare_digest(row.secret_hash, digest):
        await audit.record(
            db,
            action="access_request.open",
            outcome="failure",
            reason="unknown_request" if row is None else "wrong_secret",
            meta=meta,
            details={"access_request_id": str(request_id)},
        )
        raise NotFound("No such access request on this device.", field="id")
    return row


async def update_details(db: AsyncSession, row: AccessRequest, details: Details) -> AccessRequest:
    """Correct what was typed, while the request is a draft or a question is open."""
    if row.status not in UPLOAD_STATUSES:
        raise not_editable(row.status.value)
    _apply(row, details)
    await db.flush()
    return row


async def list_files(db: AsyncSession, request_id: uuid.UUID) -> Sequence[FormAttachment]:
    stmt = (
        select(FormAttachment)
        .where(FormAttachment.access_request_id == request_id)
        .order_by(FormAttachment.created_at, FormAttachment.id)
    )
    return (await db.scalars(stmt)).all()


# --- files: the generic resumable upload, owned by the request --------------------------------


def _uploadable(row: AccessRequest) -> Owner:
    if row.status not in UPLOAD_STATUSES:
        raise not_editable(row.status.value)
    return Owner.access_request(row.id)


async def create_file(
    db: AsyncSession,
    row: AccessRequest,
    *,
    kind: str,
    filename: str,
    size: int,
    sha256: str,
    media_type: str | None,
    limits: FileLimits,
) -> FormAttachment:
    return await uploads.create_upload(
        db,
        _uploadable(row),
        filename=filename,
        size=size,
        sha256=sha256,
        media_type=media_type,
        limits=limits.for_kind(kind),
    )


async def get_file(db: AsyncSession, row: AccessRequest, file_id: uuid.UUID) -> FormAttachment:
    return await uploads.get_attachment(db, Owner.access_request(row.id), file_id)


async def append_chunk(
    db: AsyncSession,
    store: AttachmentStore,
    row: AccessRequest,
    file_id: uuid.UUID,
    *,
    offset: int,
    data: bytes,
) -> FormAttachment:
    return await uploads.append_chunk(
        db, store, _uploadable(row), file_id, offset=offset, data=data
    )


async def complete_file(
    db: AsyncSession, store: AttachmentStore, row: AccessRequest, file_id: uuid.UUID
) -> FormAttachment:
    return await uploads.complete_upload(db, store, _uploadable(row), file_id)


async def delete_file(db: AsyncSession, row: AccessRequest, file_id: uuid.UUID) -> str:
    """Remove a file not yet seen by DUO (this submission's); its storage key."""
    owner = _uploadable(row)
    file = await uploads.get_attachment(db, owner, file_id)
    if row.submitted_at is not None and file.created_at <= row.submitted_at:
        raise AccessError(409, "FILE_SUBMITTED", "DUO has this file already; it is kept.")
    return await uploads.delete_upload(db, owner, file_id)


# --- submitting and answering -----------------------------------------------------------------


async def submit(
    db: AsyncSession, row: AccessRequest, *, meta: RequestMeta, now: datetime | None = None
) -> AccessRequest:
    """draft -> submitted: into the helpdesk's queue, with a document and a video."""
    if row.status is not RequestStatus.DRAFT:
        raise not_editable(row.status.value)
    complete = [f for f in await list_files(db, row.id) if f.completed_at is not None]
    if not any(not is_video(f) for f in complete):
        raise AccessError(
            422,
            "DOCUMENT_MISSING",
            "Add a photo or scan of your passport or identity card first.",
            field="document",
        )
    if not any(is_video(f) for f in complete):
        raise AccessError(
            422,
            "VIDEO_MISSING",
            "Record the short video with the four digits first.",
            field="video",
        )
    now = now or utcnow()
    row.status = RequestStatus.SUBMITTED
    row.submitted_at = row.queued_at = now
    db.add(AccessRequestEvent(request_id=row.id, occurred_at=now, kind=EventKind.SUBMITTED))
    await db.flush()
    await audit.record(
        db,
        action="access_request.submit",
        outcome="success",
        meta=meta,
        details={"access_request_id": str(row.id), "files": len(complete)},
    )
    return row


async def respond(
    db: AsyncSession,
    row: AccessRequest,
    *,
    message: str,
    meta: RequestMeta,
    now: datetime | None = None,
) -> AccessRequest:
    """more information needed -> submitted: the person's answer, back into the queue."""
    if row.status is not RequestStatus.MORE_INFO:
        raise not_editable(row.status.value)
    text = clean_message(message)
    now = now or utcnow()
    row.status = RequestStatus.SUBMITTED
    row.person_message = text
    row.queued_at = now
    db.add(
        AccessRequestEvent(
            request_id=row.id, occurred_at=now, kind=EventKind.RESPONDED, message=text
        )
    )
    await db.flush()
    await audit.record(
        db,
        action="access_request.respond",
        outcome="success",
        meta=meta,
        details={"access_request_id": str(row.id)},
    )
    return row


# --- push: the requester may allow notifications before having an account ---------------------


async def set_push(
    db: AsyncSession,
    row: AccessRequest,
    *,
    settings: Settings,
    endpoint: str,
    p256dh: str,
    auth: str,
) -> AccessRequest:
    """Keep this browser's push subscription with the request (checked as for accounts)."""
    if row.status is RequestStatus.COMPLETED:
        raise not_editable(row.status.value)
    check_endpoint(endpoint, settings)
    check_keys(p256dh, auth)
    row.push_endpoint, row.push_p256dh, row.push_auth = endpoint, p256dh, auth
    await db.flush()
    return row


async def clear_push(db: AsyncSession, request_id: uuid.UUID) -> None:
    await db.execute(
        update(AccessRequest)
        .where(AccessRequest.id == request_id)
        .values(push_endpoint=None, push_p256dh=None, push_auth=None)
    )


# --- approval -> passkey (called by auth.ceremonies) ------------------------------------------


async def approved_request(
    db: AsyncSession, request_id: uuid.UUID, *, secret: str, now: datetime | None = None
) -> tuple[AccessRequest | None, str | None]:
    """(request, None) if this browser may now register a passkey; else (request?, reason)."""
    now = now or utcnow()
    if not _SECRET.match(secret):
        return None, "malformed_secret"
    row = await db.get(AccessRequest, request_id)
    if row is None:
        return None, "unknown_request"
    if not hmac.compare_digest(row.secret_hash, secret_digest(secret)):
        return row, "wrong_secret"
    if row.status is RequestStatus.COMPLETED:
        return row, "used"
    if row.status is not RequestStatus.APPROVED or row.person_id is None:
        return row, f"not_approved:{row.status.value}"
    if row.approval_expires_at is None or row.approval_expires_at <= now:
        return row, "approval_expired"
    return row, None


async def consume_approval(
    db: AsyncSession, request_id: uuid.UUID, *, now: datetime | None = None
) -> bool:
    """approved -> completed, exactly once: the conditional UPDATE is the guard against races."""
    now = now or utcnow()
    result = await db.execute(
        update(AccessRequest)
        .where(
            AccessRequest.id == request_id,
            AccessRequest.status == RequestStatus.APPROVED,
            AccessRequest.approval_expires_at > now,
        )
        .values(status=RequestStatus.COMPLETED, completed_at=now)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    db.add(AccessRequestEvent(request_id=request_id, occurred_at=now, kind=EventKind.COMPLETED))
    await db.flush()
    return True


# --- housekeeping -----------------------------------------------------------------------------


async def purge(db: AsyncSession, *, now: datetime | None = None) -> tuple[int, list[str]]:
    """Drafts never submitted (with their files), and the files of long-decided requests.

    Returns (drafts removed, storage keys to delete after the commit).
    """
    now = now or utcnow()
    stale = select(AccessRequest.id).where(
        AccessRequest.status == RequestStatus.DRAFT, AccessRequest.created_at <= now - DRAFT_TTL
    )
    old = select(AccessRequest.id).where(
        AccessRequest.decided_at.is_not(None), AccessRequest.decided_at <= now - FILE_RETENTION
    )
    condition = or_(
        FormAttachment.access_request_id.in_(stale), FormAttachment.access_request_id.in_(old)
    )
    keys = list((await db.scalars(select(FormAttachment.storage_key).where(condition))).all())
    if keys:
        await db.execute(delete(FormAttachment).where(condition))
    drafts = await db.execute(delete(AccessRequest).where(AccessRequest.id.in_(stale)))
    return int(getattr(drafts, "rowcount", 0) or 0), keys
