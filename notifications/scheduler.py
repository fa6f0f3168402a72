"""Finding due reminders in the database: post each to the inbox once and queue one delivery per
device. Exactly once per (deadline, date, offset) and per (reminder, subscription): unique keys with
insert-or-skip, so scanners running at the same time never double anything.

A tick does not re-plan every open deadline: push_reminder_checks keeps, per deadline, when it
next needs a look and what that was computed from. A deadline is examined when it is new, when
that moment has come, or when its due date, its person's time zone or preferences changed.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, or_, select, update
from sqlalchemy import insert as sa_insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from api.database import new_id
from notifications.messages import REMINDER, reminder_params
from notifications.models import (
    DeliveryStatus,
    InboxMessage,
    MessageKind,
    PushDelivery,
    PushSubscription,
    Reminder,
    ReminderCheck,
    ReminderPreferences,
    ReminderStatus,
)
from notifications.preferences import MAX_OFFSET_DAYS, effective
from notifications.reminders import days_left, next_check, plan
from notifications.texts import reminder_text
from records.models import Deadline, DeadlineKind, Person

# Look this far ahead: the largest offset, plus a day for time zones, DST and quiet hours.
HORIZON = timedelta(days=MAX_OFFSET_DAYS + 2)
PAGE_SIZE = 500
REMINDER_KEY = ["deadline_id", "deadline_at", "offset_days"]  # its unique constraint


@dataclass(slots=True)
class ScanPage:
    """What one page of the scan did; `next_after` is None after the last page."""

    examined: int = 0
    posted: int = 0
    superseded: int = 0
    delivery_ids: list[uuid.UUID] = field(default_factory=list)
    next_after: uuid.UUID | None = None


def _insert(db: AsyncSession) -> Any:
    return pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert


async def plan_again(db: AsyncSession, deadline_ids: Collection[uuid.UUID]) -> None:
    """Forget what these deadlines' reminders were planned from: the next tick plans them as new
    (an import that changed them calls this; a changed due date alone would also be noticed)."""
    if deadline_ids:
        await db.execute(delete(ReminderCheck).where(ReminderCheck.deadline_id.in_(deadline_ids)))


async def scan_page(
    db: AsyncSession, *, now: datetime, after: uuid.UUID | None = None, limit: int = PAGE_SIZE
) -> ScanPage:
    """Examine up to `limit` open deadlines (by id, after `after`) and post what is due."""
    stmt = (
        select(
            Deadline.id,
            Deadline.person_id,
            Deadline.kind,
            Deadline.due_at,
            Deadline.description,
            Person.time_zone,
            Person.preferred_language,
            ReminderPreferences,
        )
        .join(Person, Person.id == Deadline.person_id)
        .outerjoin(ReminderPreferences, ReminderPreferences.person_id == Deadline.person_id)
        .outerjoin(ReminderCheck, ReminderCheck.deadline_id == Deadline.id)
        .where(
            Deadline.completed_at.is_(None),
            Deadline.due_at > now,
            Deadline.due_at <= now + HORIZON,
            or_(
                ReminderCheck.deadline_id.is_(None),
                ReminderCheck.next_check_at <= now,
                ReminderCheck.due_at != Deadline.due_at,
                ReminderCheck.time_zone != Person.time_zone,
                ReminderCheck.preferences_at.is_distinct_from(ReminderPreferences.updated_at),
            ),
        )
        .order_by(Deadline.id)
        .limit(limit)
    )
    if after is not None:
        stmt = stmt.where(Deadline.id > after)
    rows = (await db.execute(stmt)).all()
    page = ScanPage(examined=len(rows), next_after=rows[-1].id if len(rows) == limit else None)
    if not rows:
        return page

    # Reminders count for the date they announced: those of a deadline's earlier date (it was
    # moved) do not stand in for the new date's.
    recorded: dict[uuid.UUID, set[int]] = defaultdict(set)
    due = {r.id: r.due_at for r in rows}
    existing = select(Reminder.deadline_id, Reminder.offset_days, Reminder.deadline_at).where(
        Reminder.deadline_id.in_(list(due))
    )
    for deadline_id, offset, deadline_at in (await db.execute(existing)).all():
        if deadline_at == due[deadline_id]:
            recorded[deadline_id].add(offset)

    posts: list[dict[str, Any]] = []
    stale: list[dict[str, Any]] = []
    checks: list[dict[str, Any]] = []
    texts: dict[uuid.UUID, tuple[str, str, dict[str, Any]]] = {}
    for row in rows:
        stored = row.ReminderPreferences
        prefs = effective(
            stored, person_time_zone=row.time_zone, person_language=row.preferred_language
        )
        check = {
            "deadline_id": row.id,
            "next_check_at": row.due_at,  # nothing to remind of: not before the deadline
            "due_at": row.due_at,
            "time_zone": row.time_zone,
            "preferences_at": stored.updated_at if stored is not None else None,
        }
        checks.append(check)
        if DeadlineKind(row.kind) not in prefs.kinds:
            continue
        zone = ZoneInfo(prefs.time_zone)
        decided = plan(
            row.due_at,
            offsets_days=prefs.offsets_days,
            recorded=recorded[row.id],
            zone=zone,
            quiet=prefs.quiet_hours,
            now=now,
        )
        common = {
            "person_id": row.person_id,
            "deadline_id": row.id,
            "deadline_at": row.due_at,
            "language": prefs.language,
            "created_at": now,
        }
        for offset in decided.supersede:
            stale.append(
                {
                    **common,
                    "id": new_id(),
                    "offset_days": offset,
                    "status": ReminderStatus.SUPERSEDED,
                    "due_at": now,
                }
            )
        if decided.post is not None and decided.due_at is not None:
            reminder_id = new_id()
            posts.append(
                {
                    **common,
                    "id": reminder_id,
                    "offset_days": decided.post,
                    "status": ReminderStatus.POSTED,
                    "due_at": decided.due_at,
                }
            )
            text = reminder_text(
                kind=DeadlineKind(row.kind),
                description=row.description,
                deadline=row.due_at,
                days_left=days_left(row.due_at, now, zone),
                zone=zone,
                language=prefs.language,
            )
            params = reminder_params(
                kind=DeadlineKind(row.kind),
                description=row.description,
                deadline=row.due_at,
                days_left=days_left(row.due_at, now, zone),
                zone=prefs.time_zone,
            )
            texts[reminder_id] = (text.title, text.body, params)
        done = {*recorded[row.id], *decided.supersede}
        if decided.post is not None:
            done.add(decided.post)
        check["next_check_at"] = next_check(
            row.due_at,
            offsets_days=prefs.offsets_days,
            recorded=done,
            zone=zone,
            quiet=prefs.quiet_hours,
            now=now,
        )

    insert = _insert(db)
    upsert = insert(ReminderCheck).values(checks)
    await db.execute(
        upsert.on_conflict_do_update(
            index_elements=["deadline_id"],
            set_={
                key: upsert.excluded[key]
                for key in ("next_check_at", "due_at", "time_zone", "preferences_at")
            },
        )
    )
    if stale:
        await db.execute(
            insert(Reminder).values(stale).on_conflict_do_nothing(index_elements=REMINDER_KEY)
        )
        page.superseded = len(stale)
    if not posts:
        return page
    # Only the reminders this transaction inserted are posted; a concurrent scanner's are its own.
    inserted = (
        await db.execute(
            insert(Reminder)
            .values(posts)
            .on_conflict_do_nothing(index_elements=REMINDER_KEY)
            .returning(Reminder.id, Reminder.person_id)
        )
    ).all()
    if not inserted:
        return page
    page.posted = len(inserted)
    page.delivery_ids = await _post(db, inserted, texts, now=now)
    return page


async def _post(
    db: AsyncSession,
    inserted: Sequence[Any],
    texts: dict[uuid.UUID, tuple[str, str, dict[str, Any]]],
    *,
    now: datetime,
) -> list[uuid.UUID]:
    """Inbox message once per reminder, then one pending delivery per device of the person."""
    messages = []
    links = []
    for reminder_id, person_id in inserted:
        message_id = new_id()
        subject, body, params = texts[reminder_id]
        messages.append(
            {
                "id": message_id,
                "person_id": person_id,
                "kind": MessageKind.REMINDER,
                "text_key": REMINDER,
                "params": params,
                "subject": subject,
                "body": body,
                "created_at": now,
            }
        )
        links.append({"id": reminder_id, "inbox_message_id": message_id})
    await db.execute(sa_insert(InboxMessage), messages)
    await db.execute(update(Reminder), links)

    person_ids = {person_id for _, person_id in inserted}
    devices: dict[uuid.UUID, list[tuple[uuid.UUID, str | None]]] = defaultdict(list)
    subscriptions = select(
        PushSubscription.id, PushSubscription.person_id, PushSubscription.device_name
    ).where(PushSubscription.person_id.in_(person_ids))
    for subscription_id, person_id, device_name in (await db.execute(subscriptions)).all():
        devices[person_id].append((subscription_id, device_name))
    deliveries = [
        {
            "id": new_id(),
            "person_id": person_id,
            "reminder_id": reminder_id,
            "subscription_id": subscription_id,
            "device_name": device_name,
            "status": DeliveryStatus.PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
            "updated_at": now,
        }
        for reminder_id, person_id in inserted
        for subscription_id, device_name in devices[person_id]
    ]
    if not deliveries:
        return []
    created = await db.execute(
        _insert(db)(PushDelivery)
        .values(deliveries)
        .on_conflict_do_nothing(index_elements=["reminder_id", "subscription_id"])
        .returning(PushDelivery.id)
    )
    return list(created.scalars())
