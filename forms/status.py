"""Deciding on a submission: received → processed | rejected, announced in the person's inbox.

DUO staff do this (`duo-abroad forms set-status` today, a back-office UI later).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.database import utcnow
from api.errors import InvalidInput, NotFound
from forms.catalogue import Catalogue
from forms.models import FormSubmission, SubmissionStatus
from notifications.messages import FORM_PROCESSED, FORM_REJECTED
from notifications.models import MessageKind
from notifications.service import post_message

log = structlog.get_logger("forms")


@dataclass(frozen=True, slots=True)
class Decision:
    submission: FormSubmission
    message_id: uuid.UUID  # the inbox message that announces it (pushed after the commit)


async def decide(
    db: AsyncSession,
    client_id: uuid.UUID,
    *,
    status: SubmissionStatus,
    reason: str | None,
    catalogue: Catalogue,
    now: datetime | None = None,
) -> Decision:
    """received → processed | rejected (with a reason); announced in the person's inbox.

    Says which inbox message announces it: the caller pushes it after the commit.
    """
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
    form = catalogue.get(row.form_id, row.form_version)
    # Rendered when read, in the person's language then (#16 item 1): the title in both.
    title = dict(form.title) if form else {"en": row.form_id, "nl": row.form_id}
    message = await post_message(
        db,
        row.person_id,
        kind=MessageKind.FORM_STATUS,
        key=FORM_PROCESSED if status == SubmissionStatus.PROCESSED else FORM_REJECTED,
        params={
            "title": title,
            "day": row.received_at.date().isoformat(),
            "ref": str(row.client_id)[:8],
            "reason": reason or "",
        },
    )
    await db.flush()
    log.info("forms.status_changed", submission=str(row.client_id), status=status.value)
    return Decision(submission=row, message_id=message.id)
