"""GraphQL types for the inbox."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from notifications import models


@strawberry.enum
class MessageKind(Enum):
    INFO = "info"
    SECURITY = "security"
    REMINDER = "reminder"
    FORM_STATUS = "form_status"


@strawberry.type
class InboxMessage:
    id: strawberry.ID
    kind: MessageKind
    subject: str
    body: str
    created_at: datetime
    read: bool

    @classmethod
    def from_model(cls, row: models.InboxMessage) -> InboxMessage:
        return cls(
            id=strawberry.ID(str(row.id)),
            kind=MessageKind(row.kind.value),
            subject=row.subject,
            body=row.body,
            created_at=row.created_at,
            read=row.read_at is not None,
        )
