"""Deciding on a submission: received → processed | rejected, announced in the person's inbox.

DUO staff do this (`duo-abroad forms set-status` today, a back-office UI later).
"""

from __future__ import annotations

import uuid
from datetime import datetime

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.database import utcnow
from api.errors import InvalidInput, NotFound
from forms.catalogue import Catalogue
from forms.models import FormSubmission, SubmissionStatus
from notifications.models import MessageKind
from notifications.service import post_message
from records.models import Person

log = structlog.get_logger("forms")

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
