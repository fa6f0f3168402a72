"""Submitted forms and their attachments. File contents live in an AttachmentStore, never here."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from api.database import Base, PortableJSON, UTCDateTime, new_id, string_enum, utcnow


class SubmissionStatus(enum.StrEnum):
    RECEIVED = "received"
    PROCESSED = "processed"
    REJECTED = "rejected"


class FormSubmission(Base):
    """One accepted submission. `client_id` is the outbox's UUID and the idempotency key."""

    __tablename__ = "form_submissions"
    __table_args__ = (
        # Globally unique, not per person: a replay must find its row whoever sends it, and
        # the constraint (not a check-then-insert) is what makes racing replays store one row.
        UniqueConstraint("client_id", name="uq_form_submissions_client_id"),
        Index("ix_form_submissions_person_received", "person_id", "received_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    client_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"))
    form_id: Mapped[str] = mapped_column(String(64))
    form_version: Mapped[int] = mapped_column(Integer)
    content: Mapped[dict[str, Any]] = mapped_column(PortableJSON)
    # SHA-256 (hex) of the canonical content: what the receipt signs and what a replay matches.
    content_sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[SubmissionStatus] = mapped_column(
        string_enum(SubmissionStatus, "submission_status", length=16),
        default=SubmissionStatus.RECEIVED,
    )
    status_reason: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The signed receipt (compact JWS) as first issued: every replay returns these bytes.
    receipt: Mapped[str] = mapped_column(Text)


class FormAttachment(Base):
    """An uploaded file (resumable), referenced by id from a submission's content.

    Its owner is a person (a form attachment) or an access request (the identity document and
    liveness video of someone who has no account yet, access/): exactly one of the two.
    """

    __tablename__ = "form_attachments"
    __table_args__ = (
        Index("ix_form_attachments_person_created", "person_id", "created_at"),
        Index("ix_form_attachments_submission", "submission_id"),
        Index("ix_form_attachments_access_request", "access_request_id", "created_at"),
        CheckConstraint("(person_id IS NULL) <> (access_request_id IS NULL)", name="one_owner"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    person_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("persons.id", ondelete="CASCADE")
    )
    access_request_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("access_requests.id", ondelete="CASCADE")
    )
    # Set once, when a submission that references it is accepted; then it is immutable.
    submission_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("form_submissions.id", ondelete="CASCADE")
    )
    filename: Mapped[str] = mapped_column(String(200))  # for display only, never a path
    media_type: Mapped[str] = mapped_column(String(32))  # declared, then confirmed by content
    size: Mapped[int] = mapped_column(BigInteger)  # declared at creation
    received_bytes: Mapped[int] = mapped_column(BigInteger, default=0)  # the resume offset
    sha256: Mapped[str] = mapped_column(String(64))  # declared at creation, checked at the end
    storage_key: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)  # for unfinished uploads
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OutboxKey(Base):
    """A person's outbox owner id and sealing key, handed to their live sessions only.

    The PWA binds each waiting form on a device to `owner` (opaque: it names nobody) and
    encrypts it with `key` (AES-256-GCM), so that forms kept after a session ended are sent
    only after that same person signs in again, and unreadable until then (README, Forms,
    "What the outbox guarantees"). Random, not derived from SECRET_KEY: rotating that secret
    must not make kept forms unreadable.
    """

    __tablename__ = "form_outbox_keys"

    person_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("persons.id", ondelete="CASCADE"), primary_key=True
    )
    owner: Mapped[str] = mapped_column(String(32), unique=True)
    key: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
