"""The in-app inbox: the source of truth for everything DUO tells a person."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, Index, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from api.database import Base, UTCDateTime, new_id, utcnow


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
    kind: Mapped[MessageKind] = mapped_column(
        Enum(
            MessageKind,
            name="message_kind",
            native_enum=False,
            create_constraint=True,
            length=32,
            values_callable=lambda members: [m.value for m in members],
        )
    )
    # Written in the person's language at the time it was sent, as a letter would be.
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
