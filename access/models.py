"""Self-service access requests: someone without DigiD asks DUO for access from the app.

The request holds what the person typed, the four digits they read aloud in their liveness
video, and where the helpdesk's review stands. Its files (identity document, video) are
uploads owned by the request (forms.models.FormAttachment.access_request_id). The browser that
made it proves itself with a secret it generated; only the secret's SHA-256 is stored here.
"""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, LargeBinary, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from api.database import Base, UTCDateTime, new_id, string_enum, utcnow


class RequestStatus(enum.StrEnum):
    DRAFT = "draft"  # being filled in: files may be uploaded, nobody at DUO sees it yet
    SUBMITTED = "submitted"  # in the helpdesk's queue
    IN_REVIEW = "in_review"  # a helpdesk member opened (claimed) it
    MORE_INFO = "more_info"  # the helpdesk asked a question; the person can answer and upload
    APPROVED = "approved"  # bound to a person; the requesting browser may register a passkey
    REFUSED = "refused"  # with a reason the person sees
    COMPLETED = "completed"  # approved, and the passkey is registered (the approval is spent)


# Where the helpdesk has work: the queue.
OPEN_STATUSES = frozenset({RequestStatus.SUBMITTED, RequestStatus.IN_REVIEW})
# Decided: no second decision, whoever asks.
DECIDED_STATUSES = frozenset(
    {RequestStatus.APPROVED, RequestStatus.REFUSED, RequestStatus.COMPLETED}
)


class RequestReason(enum.StrEnum):
    LOST_DIGID = "lost_digid"  # had DigiD, lost it (left the Netherlands, lapsed, no SMS)
    NEVER_HAD_DIGID = "never_had_digid"


class EventKind(enum.StrEnum):
    SUBMITTED = "submitted"
    CLAIMED = "claimed"
    RELEASED = "released"
    MORE_INFO = "more_info"
    RESPONDED = "responded"
    APPROVED = "approved"
    REFUSED = "refused"
    COMPLETED = "completed"


DECISIONS = frozenset({EventKind.MORE_INFO, EventKind.APPROVED, EventKind.REFUSED})


class AccessRequest(Base):
    __tablename__ = "access_requests"
    __table_args__ = (
        # The queue: open requests, oldest first, by country.
        Index("ix_access_requests_status_queued", "status", "queued_at"),
        Index("ix_access_requests_country_status", "country", "status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    # SHA-256 of the secret the browser generated: only that browser can follow the request.
    secret_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    status: Mapped[RequestStatus] = mapped_column(
        string_enum(RequestStatus, "access_request_status", length=16),
        default=RequestStatus.DRAFT,
    )
    reason: Mapped[RequestReason] = mapped_column(
        string_enum(RequestReason, "access_request_reason", length=16)
    )
    # What the person says about themselves; staff compare it with DUO's record.
    customer_number: Mapped[str | None] = mapped_column(String(16))
    full_name: Mapped[str] = mapped_column(String(200))
    date_of_birth: Mapped[date] = mapped_column(Date)
    country: Mapped[str] = mapped_column(String(2))  # of residence, ISO 3166-1 alpha-2
    # For a "your request changed, open the app" notice only: never personal data by e-mail.
    contact_email: Mapped[str] = mapped_column(String(254))
    language: Mapped[str] = mapped_column(String(2))  # of the app when asked: for notices
    # Chosen by the server when the request is made; read aloud in the liveness video.
    liveness_digits: Mapped[str] = mapped_column(String(4))
    person_message: Mapped[str | None] = mapped_column(Text)  # the person's latest answer
    staff_message: Mapped[str | None] = mapped_column(Text)  # the question, or the refusal
    # Bound by the approval: whose passkey the requesting browser may register.
    person_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("persons.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # first time
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # last time it (re)entered
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # approved or refused
    approval_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The helpdesk member working on it, until when (a claim that expires frees it again).
    # Staff ids without a foreign key: the staff realm (staff/) is a separate feature.
    claimed_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # The requesting browser's push subscription, if the person allowed notifications there.
    push_endpoint: Mapped[str | None] = mapped_column(String(2048))
    push_p256dh: Mapped[str | None] = mapped_column(String(100))
    push_auth: Mapped[str | None] = mapped_column(String(32))
    ip_address: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(300))


class AccessRequestEvent(Base):
    """The request's history: what happened, when, by whom; the source of the queue's timings."""

    __tablename__ = "access_request_events"
    __table_args__ = (
        Index("ix_access_request_events_request", "request_id", "occurred_at"),
        Index("ix_access_request_events_kind_time", "kind", "occurred_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    request_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("access_requests.id", ondelete="CASCADE")
    )
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[EventKind] = mapped_column(
        string_enum(EventKind, "access_request_event_kind", length=16)
    )
    staff_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    message: Mapped[str | None] = mapped_column(Text)
    # For decisions: seconds the request had waited in the queue (queued_at -> decision).
    waited_seconds: Mapped[int | None] = mapped_column(Integer)
