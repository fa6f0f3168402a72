"""Delivery records: claim before sending, record each answer as it comes; retries with backoff,
never past the deadline.

The claim is a conditional UPDATE that names the claiming worker (`lease_owner`) and a short
lease, so of two workers holding the same delivery id only one sends it. The holder renews the
lease while it lives (`renew`) and records outcomes only for what it still holds. A worker that
dies leaves leases that run out within PUSH_LEASE_SECONDS, and the deliveries are taken up again:
at-least-once to the push service, but only what was truly in flight at the death can go twice
(the Topic header and the notification tag make a repeat replace the first).
"""

from __future__ import annotations

import json
import math
import random
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import (
    Text,
    Update,
    and_,
    case,
    cast,
    delete,
    false,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from api.settings import Settings
from notifications.messages import render
from notifications.models import (
    FINAL_STATUSES,
    DeliveryStatus,
    InboxMessage,
    PushDelivery,
    PushSubscription,
    Reminder,
    ReminderPreferences,
)
from notifications.sender import Outcome, SendResult
from notifications.subscriptions import remove_gone
from notifications.texts import reminder_payload, topic_for
from notifications.webpush import PushRequest
from records.models import Deadline, Person
from records.texts import language_or_default

# FCM's maximum TTL (4 weeks); the others allow at least as much.
MAX_TTL_SECONDS = 28 * 24 * 3600
# Clocks of workers and database differ a little; a job must not find its delivery "not yet due".
CLOCK_TOLERANCE = timedelta(seconds=5)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int
    base_seconds: float
    cap_seconds: float

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(
            max_attempts=settings.push_max_attempts,
            base_seconds=settings.push_retry_base_seconds,
            cap_seconds=settings.push_retry_cap_seconds,
        )

    def delay(self, attempts: int, retry_after: float | None) -> float:
        """Seconds until the next try: what the service asked for, else exponential backoff (base,
        twice that, four times, ... up to the cap), jittered by 20% so retries spread out."""
        if retry_after is not None:
            return max(retry_after, 0.0)
        backoff: float = self.base_seconds * 2.0 ** max(attempts - 1, 0)
        return min(self.cap_seconds, backoff) * random.uniform(0.8, 1.2)  # noqa: S311


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery this worker now holds, with everything needed to send it."""

    id: uuid.UUID
    subscription_id: uuid.UUID
    attempts: int
    deadline_at: datetime
    request: PushRequest
    reminder_due_at: datetime | None = None  # when its reminder was due: the lag's start


@dataclass(slots=True)
class Recorded:
    counts: dict[DeliveryStatus, int]
    retries: dict[int, list[uuid.UUID]]  # whole seconds to wait -> deliveries to try then
    # Seconds from each delivered reminder's due time to its delivery (duo_reminder_lag_seconds).
    lags: list[float] = field(default_factory=list)


def claim_statement(
    ids: Sequence[uuid.UUID], *, now: datetime, owner: uuid.UUID, lease: timedelta
) -> Update:
    """The conditional UPDATE that takes `ids` for `owner` (RETURNING the ids it took)."""
    # A CASE, not an OR of (status, time) pairs: the planner cannot use the (status,
    # next_attempt_at) index for it and looks the ids up by primary key. With the OR it chose
    # that index whenever its statistics thought few deliveries pending (right after a burst
    # was planned) and read every pending row for each job of 100 (issue #14: 100,000 rows
    # read per claim at 100,000 pending, so the claims grew with the backlog).
    claimable = case(
        (
            PushDelivery.status == DeliveryStatus.PENDING,
            PushDelivery.next_attempt_at <= now + CLOCK_TOLERANCE,
        ),
        (PushDelivery.status == DeliveryStatus.SENDING, PushDelivery.lease_until < now),
        else_=false(),
    )
    return (
        update(PushDelivery)
        .where(PushDelivery.id.in_(list(ids)), claimable)
        .values(
            status=DeliveryStatus.SENDING,
            lease_until=now + lease,
            lease_owner=owner,
            updated_at=now,
        )
        .returning(PushDelivery.id)
        .execution_options(synchronize_session=False)
    )


async def claim(
    db: AsyncSession,
    ids: Sequence[uuid.UUID],
    *,
    now: datetime,
    owner: uuid.UUID,
    lease: timedelta,
) -> list[Claimed]:
    """Take the deliveries that are due and not held by another worker (for `lease`, as
    `owner`); settle those that can no longer be sent (device gone, deadline completed or
    passed)."""
    if not ids:
        return []
    claiming = claim_statement(ids, now=now, owner=owner, lease=lease)
    taken = (await db.execute(claiming)).scalars().all()
    if not taken:
        return []
    rows = (
        await db.execute(
            select(
                PushDelivery.id,
                PushDelivery.person_id,
                PushDelivery.attempts,
                PushDelivery.subscription_id,
                PushSubscription.person_id.label("owner"),
                PushSubscription.endpoint,
                PushSubscription.p256dh,
                PushSubscription.auth,
                PushSubscription.expires_at,
                Reminder.deadline_id,
                Reminder.deadline_at,
                Reminder.due_at.label("reminder_due_at"),
                Reminder.language,
                InboxMessage.id.label("message_id"),
                InboxMessage.subject,
                InboxMessage.body,
                InboxMessage.text_key,
                # As text: decoded only for a person whose language changed since planning.
                cast(InboxMessage.params, Text).label("params_json"),
                Person.preferred_language,
                ReminderPreferences.language.label("push_language"),
                Deadline.due_at,
                Deadline.completed_at,
            )
            .select_from(PushDelivery)
            .join(Reminder, Reminder.id == PushDelivery.reminder_id)
            .join(Deadline, Deadline.id == Reminder.deadline_id)
            .outerjoin(PushSubscription, PushSubscription.id == PushDelivery.subscription_id)
            .outerjoin(InboxMessage, InboxMessage.id == Reminder.inbox_message_id)
            .join(Person, Person.id == PushDelivery.person_id)
            .outerjoin(ReminderPreferences, ReminderPreferences.person_id == PushDelivery.person_id)
            .where(PushDelivery.id.in_(taken))
        )
    ).all()
    ready: list[Claimed] = []
    settle: list[dict[str, object]] = []
    expired_devices: list[uuid.UUID] = []
    for row in rows:
        reason: tuple[DeliveryStatus, str] | None = None
        if row.owner is None or row.subscription_id is None:
            reason = (DeliveryStatus.GONE, "device unsubscribed")
        elif row.owner != row.person_id:
            reason = (DeliveryStatus.CANCELLED, "device changed hands")
        elif row.completed_at is not None:
            reason = (DeliveryStatus.CANCELLED, "deadline completed")
        elif row.deadline_at != row.due_at:
            # Moved (by an import): its text names the old date; the new one gets its own.
            reason = (DeliveryStatus.CANCELLED, "deadline moved")
        elif row.due_at <= now:
            reason = (DeliveryStatus.EXPIRED, "deadline passed")
        elif row.expires_at is not None and row.expires_at <= now:
            reason = (DeliveryStatus.GONE, "subscription expired")
            expired_devices.append(row.subscription_id)
        elif row.message_id is None:
            reason = (DeliveryStatus.CANCELLED, "inbox message removed")
        if reason is not None:
            settle.append(_final(row.id, reason[0], now=now, error=reason[1]))
            continue
        remaining = (row.due_at - now).total_seconds()
        # In the language the person reads now (#16 item 1), not the one of when it was planned.
        # Unchanged (nearly always): the texts rendered at planning are those; rendering them
        # again per message was 5% of a busy worker's CPU (issue #14).
        language = language_or_default(row.push_language or row.preferred_language)
        text = None
        if language != row.language:
            params = json.loads(row.params_json) if row.params_json else None
            text = render(row.text_key, params, language)
        if text is None:
            title, body, language = row.subject, row.body, row.language
        else:
            title, body = text.title, text.body
        ready.append(
            Claimed(
                id=row.id,
                subscription_id=row.subscription_id,
                attempts=row.attempts,
                deadline_at=row.due_at,
                reminder_due_at=row.reminder_due_at,
                request=PushRequest(
                    endpoint=row.endpoint,
                    p256dh=row.p256dh,
                    auth=row.auth,
                    payload=reminder_payload(
                        title=title,
                        body=body,
                        language=language,
                        deadline_id=row.deadline_id,
                        message_id=row.message_id,
                        due_at=row.due_at,
                    ),
                    # RFC 8030 §5.2: worthless after the deadline, so keep it no longer.
                    ttl=max(1, min(MAX_TTL_SECONDS, int(remaining))),
                    topic=topic_for(row.deadline_id),
                    urgency="high" if remaining <= 36 * 3600 else "normal",
                ),
            )
        )
    if settle:
        await db.execute(update(PushDelivery), settle)
    await remove_gone(db, expired_devices)
    return ready


async def renew(
    db: AsyncSession,
    ids: Sequence[uuid.UUID],
    *,
    owner: uuid.UUID,
    until: datetime,
) -> set[uuid.UUID]:
    """Extend `owner`'s lease on those of `ids` it still holds; which those are."""
    if not ids:
        return set()
    held = await db.execute(
        update(PushDelivery)
        .where(
            PushDelivery.id.in_(list(ids)),
            PushDelivery.lease_owner == owner,
            PushDelivery.status == DeliveryStatus.SENDING,
        )
        .values(lease_until=until)
        .returning(PushDelivery.id)
        .execution_options(synchronize_session=False)
    )
    return set(held.scalars())


async def held_elsewhere_until(
    db: AsyncSession, ids: Sequence[uuid.UUID], *, now: datetime, owner: uuid.UUID
) -> datetime | None:
    """When the last of another worker's live leases on `ids` runs out (None: none held)."""
    if not ids:
        return None
    latest: datetime | None = await db.scalar(
        select(func.max(PushDelivery.lease_until)).where(
            PushDelivery.id.in_(list(ids)),
            PushDelivery.status == DeliveryStatus.SENDING,
            PushDelivery.lease_owner != owner,
            PushDelivery.lease_until >= now,
        )
    )
    return latest


def _final(
    delivery_id: uuid.UUID,
    status: DeliveryStatus,
    *,
    now: datetime,
    error: str | None = None,
    code: int | None = None,
    attempts: int | None = None,
) -> dict[str, object]:
    values: dict[str, object] = {
        "id": delivery_id,
        "status": status,
        "lease_until": None,
        "lease_owner": None,
        "updated_at": now,
        "last_error": error[:200] if error else None,
        "last_status_code": code,
        "delivered_at": now if status == DeliveryStatus.DELIVERED else None,
    }
    if attempts is not None:
        values["attempts"] = attempts
    return values


_FINALS_PG = text(
    "UPDATE push_deliveries AS d SET status = c.status, attempts = c.attempts,"
    " last_status_code = c.code, last_error = c.error, delivered_at = c.delivered_at,"
    " lease_until = NULL, lease_owner = NULL, updated_at = :now"
    " FROM unnest(CAST(:ids AS uuid[]), CAST(:statuses AS text[]), CAST(:attempts AS int[]),"
    " CAST(:codes AS int[]), CAST(:errors AS text[]), CAST(:delivered AS timestamptz[]))"
    " AS c(id, status, attempts, code, error, delivered_at)"
    " WHERE d.id = c.id AND d.lease_owner = :owner"
)


async def record(
    db: AsyncSession,
    claimed: Sequence[Claimed],
    results: Sequence[SendResult],
    *,
    now: datetime,
    policy: RetryPolicy,
    owner: uuid.UUID,
) -> Recorded:
    """Write what happened to each delivery that `owner` still holds; returns the retries to
    schedule. (A delivery whose lease ran out and was taken over is the new holder's to record.)
    """
    finals: list[dict[str, object]] = []
    pending: list[dict[str, object]] = []
    gone: list[uuid.UUID] = []
    counts: dict[DeliveryStatus, int] = defaultdict(int)
    retries: dict[int, list[uuid.UUID]] = defaultdict(list)
    lags: list[float] = []
    for item, result in zip(claimed, results, strict=True):
        attempts = item.attempts + 1
        code = result.status_code
        status: DeliveryStatus
        if result.outcome is Outcome.DELIVERED:
            status = DeliveryStatus.DELIVERED
            finals.append(_final(item.id, status, now=now, code=code, attempts=attempts))
            if item.reminder_due_at is not None:
                lags.append(max(0.0, (now - item.reminder_due_at).total_seconds()))
        elif result.outcome is Outcome.GONE:
            status = DeliveryStatus.GONE
            gone.append(item.subscription_id)
            finals.append(
                _final(item.id, status, now=now, code=code, attempts=attempts, error="gone")
            )
        elif result.outcome is Outcome.REJECTED:
            status = DeliveryStatus.REJECTED
            error = result.detail or result.reason
            finals.append(
                _final(item.id, status, now=now, code=code, attempts=attempts, error=error)
            )
        else:
            delay = policy.delay(attempts, result.retry_after)
            wait = max(1, math.ceil(delay))
            if attempts >= policy.max_attempts:
                status = DeliveryStatus.FAILED
                error = f"gave up after {attempts} attempts ({result.reason})"
            elif now + timedelta(seconds=wait) >= item.deadline_at:
                status = DeliveryStatus.EXPIRED
                error = f"deadline passes before the next try ({result.reason})"
            else:
                status = DeliveryStatus.PENDING
                retries[wait].append(item.id)
                pending.append(
                    {
                        "id": item.id,
                        "status": status,
                        "attempts": attempts,
                        "next_attempt_at": now + timedelta(seconds=delay),
                        "lease_until": None,
                        "lease_owner": None,
                        "updated_at": now,
                        "last_status_code": code,
                        "last_error": (result.detail or result.reason)[:200],
                    }
                )
            if status is not DeliveryStatus.PENDING:
                finals.append(
                    _final(item.id, status, now=now, code=code, attempts=attempts, error=error)
                )
        counts[status] += 1
    held = (
        update(PushDelivery)
        .where(PushDelivery.lease_owner == owner)
        .execution_options(synchronize_session=None)
    )
    if finals and db.get_bind().dialect.name == "postgresql":
        # One statement for the whole batch (an executemany is one UPDATE per delivery).
        await db.execute(
            _FINALS_PG,
            {
                "ids": [f["id"] for f in finals],
                "statuses": [str(f["status"]) for f in finals],
                "attempts": [f["attempts"] for f in finals],
                "codes": [f["last_status_code"] for f in finals],
                "errors": [f["last_error"] for f in finals],
                "delivered": [f["delivered_at"] for f in finals],
                "owner": owner,
                "now": now,
            },
        )
    elif finals:
        await db.execute(held, finals)
    if pending:
        await db.execute(held, pending)
    await remove_gone(db, gone)
    return Recorded(counts=dict(counts), retries=dict(retries), lags=lags)


async def overdue(
    db: AsyncSession, *, now: datetime, grace: timedelta, limit: int = 10_000
) -> list[uuid.UUID]:
    """Deliveries whose job was lost (an in-memory queue restarted) or whose worker died."""
    stmt = (
        select(PushDelivery.id)
        .where(
            or_(
                and_(
                    PushDelivery.status == DeliveryStatus.PENDING,
                    PushDelivery.next_attempt_at <= now - grace,
                ),
                and_(
                    PushDelivery.status == DeliveryStatus.SENDING,
                    PushDelivery.lease_until < now,
                ),
            )
        )
        .order_by(PushDelivery.next_attempt_at)
        .limit(limit)
    )
    return list((await db.scalars(stmt)).all())


async def purge_finished(db: AsyncSession, *, before: datetime, chunk: int = 10_000) -> int:
    """Delete deliveries that reached a final state before `before`; how many.

    Safe for exactly-once: a reminder is posted once and never after its deadline, so no
    delivery is ever made again for a (reminder, device) whose record has gone. The reminder
    and its inbox message stay. In chunks, so that each statement stays well inside the
    statement timeout however much a busy day left behind.
    """
    purged = 0
    while True:
        old = (
            select(PushDelivery.id)
            .where(PushDelivery.status.in_(FINAL_STATUSES), PushDelivery.updated_at < before)
            .limit(chunk)
        )
        result = await db.execute(delete(PushDelivery).where(PushDelivery.id.in_(old)))
        deleted = int(getattr(result, "rowcount", 0) or 0)
        purged += deleted
        if deleted < chunk:
            return purged
