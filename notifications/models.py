"""The in-app inbox (the source of truth for everything DUO tells a person) and Web Push."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime, time
from typing import Any

from sqlalchemy import (
    ForeignKey,
    Index,
    SmallInteger,
    String,
    Text,
    Time,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from api.database import Base, PortableJSON, UTCDateTime, new_id, string_enum, utcnow


class MessageKind(enum.StrEnum):
    INFO = "info"
    SECURITY = "security"
    REMINDER = "reminder"
    FORM_STATUS = "form_status"


class InboxMessage(Base):
    __tablename__ = "inbox_messages"
    __table_args__ = (Index("ix_inbox_person_created", "person_id", "created_at", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"))
    kind: Mapped[MessageKind] = mapped_column(string_enum(MessageKind, "message_kind"))
    # What DUO says, by key and parameters (notifications/messages.py): rendered when it is
    # read, in the language the person has chosen by then (#16 item 1). None: a free text.
    text_key: Mapped[str | None] = mapped_column(String(64))
    params: Mapped[dict[str, Any] | None] = mapped_column(PortableJSON)
    # As rendered when it was sent (the person's language then): what a row without a key, or
    # with a key a later release no longer knows, shows.
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# --- Web Push: keys, subscriptions, preferences, reminders, deliveries -------------------------


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for a worker (first try or a retry at next_attempt_at)
    SENDING = "sending"  # claimed by a worker until lease_until
    DELIVERED = "delivered"  # the push service accepted it (201)
    GONE = "gone"  # 404/410: the subscription was removed
    REJECTED = "rejected"  # 400/413 and other client errors: recorded, not retried
    FAILED = "failed"  # retries exhausted (429/5xx/timeouts)
    EXPIRED = "expired"  # the deadline passed before it could be delivered
    CANCELLED = "cancelled"  # the deadline was completed or moved in the meantime


FINAL_STATUSES = frozenset(
    {
        DeliveryStatus.DELIVERED,
        DeliveryStatus.GONE,
        DeliveryStatus.REJECTED,
        DeliveryStatus.FAILED,
        DeliveryStatus.EXPIRED,
        DeliveryStatus.CANCELLED,
    }
)


class ReminderStatus(enum.StrEnum):
    POSTED = "posted"  # in the inbox, and pushed to every device
    SUPERSEDED = "superseded"  # a closer reminder for the same deadline was due at the same time


class VapidKey(Base):
    """The application server's VAPID key pair outside production (RFC 8292), made once."""

    __tablename__ = "push_vapid_keys"

    # One row: the key pair browsers' subscriptions are bound to must never change silently.
    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    private_key_pem: Mapped[str] = mapped_column(Text)
    public_key: Mapped[str] = mapped_column(String(100))  # base64url uncompressed P-256 point
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PushSubscription(Base):
    """One browser or device that agreed to receive push messages (PushSubscription.toJSON())."""

    __tablename__ = "push_subscriptions"
    __table_args__ = (Index("ix_push_subscriptions_person", "person_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"))
    # A capability URL at the push service: whoever holds it can push to the device.
    endpoint: Mapped[str] = mapped_column(String(2048), unique=True)
    p256dh: Mapped[str] = mapped_column(String(100))  # base64url, 65-byte uncompressed point
    auth: Mapped[str] = mapped_column(String(32))  # base64url, 16 bytes
    device_name: Mapped[str | None] = mapped_column(String(100))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ReminderPreferences(Base):
    """What a person wants to be reminded of, when, and when not. No row: the defaults."""

    __tablename__ = "reminder_preferences"

    person_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("persons.id", ondelete="CASCADE"), primary_key=True
    )
    kinds: Mapped[list[str]] = mapped_column(PortableJSON)  # DeadlineKind values
    offsets_days: Mapped[list[int]] = mapped_column(PortableJSON)  # e.g. [14, 3, 1]
    # Local wall-clock times; both set or both empty (no quiet hours).
    quiet_start: Mapped[time | None] = mapped_column(Time)
    quiet_end: Mapped[time | None] = mapped_column(Time)
    time_zone: Mapped[str | None] = mapped_column(String(64))  # None: the person's
    language: Mapped[str | None] = mapped_column(String(2))  # None: the person's
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Reminder(Base):
    """One reminder (deadline, its date, days before): posted to the inbox once, pushed to each
    device."""

    __tablename__ = "push_reminders"
    __table_args__ = (
        # The exactly-once key: a second scanner's insert of the same one is skipped. The date is
        # part of it: a deadline moved (by an import) is reminded of again for its new date.
        UniqueConstraint(
            "deadline_id",
            "deadline_at",
            "offset_days",
            name="uq_push_reminders_deadline_date_offset",
        ),
        Index("ix_push_reminders_person_created", "person_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"))
    deadline_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("deadlines.id", ondelete="CASCADE"))
    offset_days: Mapped[int] = mapped_column(SmallInteger)
    status: Mapped[ReminderStatus] = mapped_column(
        string_enum(ReminderStatus, "reminder_status", length=16)
    )
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)  # when it was planned (local rules)
    deadline_at: Mapped[datetime] = mapped_column(UTCDateTime)  # the deadline it announces
    language: Mapped[str] = mapped_column(String(2))  # of its texts
    inbox_message_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("inbox_messages.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    deliveries: Mapped[list[PushDelivery]] = relationship(
        back_populates="reminder", order_by="PushDelivery.created_at", passive_deletes=True
    )


class PushDelivery(Base):
    """One push of one reminder (or a test push) to one subscription, and how it went."""

    __tablename__ = "push_deliveries"
    __table_args__ = (
        UniqueConstraint(
            "reminder_id", "subscription_id", name="uq_push_deliveries_reminder_subscription"
        ),
        Index("ix_push_deliveries_status_next", "status", "next_attempt_at"),
        Index("ix_push_deliveries_person_created", "person_id", "created_at"),
        # ON DELETE SET NULL looks deliveries up by subscription.
        Index("ix_push_deliveries_subscription", "subscription_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"))
    reminder_id: Mapped[uuid.UUID | None] = mapped_column(  # None: a test push
        ForeignKey("push_reminders.id", ondelete="CASCADE")
    )
    # Kept (as NULL) when the subscription goes, so the outcome stays on record.
    subscription_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("push_subscriptions.id", ondelete="SET NULL")
    )
    device_name: Mapped[str | None] = mapped_column(String(100))  # as it was when created
    status: Mapped[DeliveryStatus] = mapped_column(
        string_enum(DeliveryStatus, "delivery_status", length=16)
    )
    attempts: Mapped[int] = mapped_column(SmallInteger, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_owner: Mapped[uuid.UUID | None] = mapped_column(Uuid)  # the worker holding it
    last_status_code: Mapped[int | None] = mapped_column(SmallInteger)
    last_error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    reminder: Mapped[Reminder | None] = relationship(back_populates="deliveries")
