"""Finding due reminders in the database: post each to the inbox once and queue one delivery per
device. Exactly once per (deadline, date, offset) and per (reminder, subscription): unique keys with
insert-or-skip, so scanners running at the same time never double anything.

A tick reads only the deadlines due for a look (issue #14): `deadlines.next_reminder_check_at`,
indexed, says when each next needs the scheduler: its next reminder's moment, the end of the quiet
hours a due one waits for, or NULL once nothing is left. A new deadline starts long ago (the
column's default), so the next tick plans it however it was written; whoever changes what a plan
is made from sets it back (`plan_again`: an import that changed a deadline, the person's time
zone, their reminder preferences). With nothing due a tick is one index probe.

Pages are taken with FOR UPDATE SKIP LOCKED on PostgreSQL: workers scanning at the same time
share the due deadlines instead of planning the same ones, and each page's deliveries are queued
when the page commits, so sending starts while planning goes on. Rows are written with
executemany (one statement compiled once, whatever the page size).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, bindparam, delete, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from api.database import new_id
from notifications.checks import plan_again, plan_again_for_persons
from notifications.messages import REMINDER, reminder_params
from notifications.models import (
    DeliveryStatus,
    InboxMessage,
    MessageKind,
    PushDelivery,
    PushSubscription,
    Reminder,
    ReminderPreferences,
    ReminderStatus,
)
from notifications.preferences import EffectivePreferences, effective
from notifications.reminders import days_left, next_check, plan
from notifications.texts import reminder_text
from records.models import Deadline, DeadlineKind, Person

__all__ = ["PAGE_SIZE", "ScanPage", "plan_again", "plan_again_for_persons", "scan_page"]

PAGE_SIZE = 500
REMINDER_KEY = ["deadline_id", "deadline_at", "offset_days"]  # its unique constraint
# A deadline that, by a fault, would stay due after being planned is looked at again this much
# later, not in a loop within the same tick.
RETRY_AFTER = timedelta(minutes=1)

DEADLINES = cast(Table, Deadline.__table__)
REMINDERS = cast(Table, Reminder.__table__)
INBOX = cast(Table, InboxMessage.__table__)
DELIVERIES = cast(Table, PushDelivery.__table__)


@dataclass(slots=True)
class ScanPage:
    """What one page of the scan did; `full` means more may be due (take another page)."""

    examined: int = 0
    posted: int = 0
    superseded: int = 0
    delivery_ids: list[uuid.UUID] = field(default_factory=list)
    full: bool = False


class _Stored:
    """A person's stored preferences from the scan's row (its zone column is aliased)."""

    __slots__ = ("kinds", "language", "offsets_days", "quiet_end", "quiet_start", "time_zone")

    def __init__(self, row: Any) -> None:
        self.kinds: list[str] = row.kinds
        self.offsets_days: list[int] = row.offsets_days
        self.quiet_start: time | None = row.quiet_start
        self.quiet_end: time | None = row.quiet_end
        self.time_zone: str | None = row.preferred_zone
        self.language: str | None = row.language


def _insert(db: AsyncSession) -> Any:
    return pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert


_NEXT_CHECK = (
    update(DEADLINES)
    .where(DEADLINES.c.id == bindparam("b_id"))
    .values(next_reminder_check_at=bindparam("b_next"))
)


# PostgreSQL: a page's next checks in one statement, from two arrays.
_NEXT_CHECKS_PG = text(
    "UPDATE deadlines AS d SET next_reminder_check_at = c.next_at"
    " FROM unnest(CAST(:ids AS uuid[]), CAST(:nexts AS timestamptz[])) AS c(id, next_at)"
    " WHERE d.id = c.id"
)


async def _set_next_checks(db: AsyncSession, checks: list[dict[str, Any]]) -> None:
    if db.get_bind().dialect.name == "postgresql":
        ids = [c["b_id"] for c in checks]
        await db.execute(_NEXT_CHECKS_PG, {"ids": ids, "nexts": [c["b_next"] for c in checks]})
    else:
        await db.execute(_NEXT_CHECK, checks)


async def scan_page(db: AsyncSession, *, now: datetime, limit: int = PAGE_SIZE) -> ScanPage:
    """Plan up to `limit` deadlines due for a look at `now` and post what is due."""
    # Completed or past deadlines have nothing left to remind of: never looked at again.
    await db.execute(
        update(Deadline)
        .where(
            Deadline.next_reminder_check_at <= now,
            or_(Deadline.completed_at.is_not(None), Deadline.due_at <= now),
        )
        .values(next_reminder_check_at=None)
        .execution_options(synchronize_session=False)
    )
    stmt = (
        select(
            Deadline.id,
            Deadline.person_id,
            Deadline.kind,
            Deadline.due_at,
            Deadline.description,
            Person.time_zone,
            Person.preferred_language,
            # Columns, not the entity: no ORM object per row.
            ReminderPreferences.person_id.label("preferences_of"),
            ReminderPreferences.kinds,
            ReminderPreferences.offsets_days,
            ReminderPreferences.quiet_start,
            ReminderPreferences.quiet_end,
            ReminderPreferences.time_zone.label("preferred_zone"),
            ReminderPreferences.language,
        )
        .join(Person, Person.id == Deadline.person_id)
        .outerjoin(ReminderPreferences, ReminderPreferences.person_id == Deadline.person_id)
        .where(
            Deadline.next_reminder_check_at <= now,
            Deadline.completed_at.is_(None),
            Deadline.due_at > now,
        )
        .order_by(Deadline.next_reminder_check_at)
        .limit(limit)
        # Another worker's page is skipped, not waited for nor planned twice (PostgreSQL;
        # SQLite has one writer at a time anyway).
        .with_for_update(of=Deadline, skip_locked=True)
    )
    rows = (await db.execute(stmt)).all()
    page = ScanPage(examined=len(rows), full=len(rows) == limit)
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
    messages: dict[uuid.UUID, dict[str, Any]] = {}  # by reminder id
    stale: list[dict[str, Any]] = []
    checks: list[dict[str, Any]] = []
    choices: dict[tuple[Any, ...], EffectivePreferences] = {}
    for row in rows:
        check: dict[str, Any] = {"b_id": row.id, "b_next": None}  # None: never again
        checks.append(check)
        # Most persons share a few combinations: work each out once a page.
        key = (
            row.time_zone,
            row.preferred_language,
            row.preferences_of is not None,
            tuple(row.kinds or ()),
            tuple(row.offsets_days or ()),
            row.quiet_start,
            row.quiet_end,
            row.preferred_zone,
            row.language,
        )
        prefs = choices.get(key)
        if prefs is None:
            stored = _Stored(row) if row.preferences_of is not None else None
            prefs = choices[key] = effective(
                stored, person_time_zone=row.time_zone, person_language=row.preferred_language
            )
        if DeadlineKind(row.kind) not in prefs.kinds:
            continue  # until the preferences change (they plan it again)
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
                    "inbox_message_id": None,
                }
            )
        if decided.post is not None and decided.due_at is not None:
            reminder_id, message_id = new_id(), new_id()
            posts.append(
                {
                    **common,
                    "id": reminder_id,
                    "offset_days": decided.post,
                    "status": ReminderStatus.POSTED,
                    "due_at": decided.due_at,
                    "inbox_message_id": message_id,
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
            messages[reminder_id] = {
                "id": message_id,
                "person_id": row.person_id,
                "kind": MessageKind.REMINDER,
                # Rendered again at read time in the person's language of the moment (#16).
                "text_key": REMINDER,
                "params": reminder_params(
                    kind=DeadlineKind(row.kind),
                    description=row.description,
                    deadline=row.due_at,
                    days_left=days_left(row.due_at, now, zone),
                    zone=prefs.time_zone,
                ),
                "subject": text.title,
                "body": text.body,
                "created_at": now,
                "read_at": None,
            }
        done = {*recorded[row.id], *decided.supersede}
        if decided.post is not None:
            done.add(decided.post)
        upcoming = next_check(
            row.due_at,
            offsets_days=prefs.offsets_days,
            recorded=done,
            zone=zone,
            quiet=prefs.quiet_hours,
            now=now,
        )
        # next_check answers the deadline itself when no reminder is left: nothing to look at.
        if upcoming < row.due_at:
            check["b_next"] = max(upcoming, now + RETRY_AFTER) if upcoming <= now else upcoming

    await _set_next_checks(db, checks)
    insert = _insert(db)
    if stale:
        await db.execute(
            insert(REMINDERS).on_conflict_do_nothing(index_elements=REMINDER_KEY), stale
        )
        page.superseded = len(stale)
    if not posts:
        return page
    # Each post's inbox message goes in first (the reminder points at it); a reminder another
    # scanner inserted first is skipped, and so its message is taken back.
    await db.execute(INBOX.insert(), list(messages.values()))
    inserted = (
        await db.execute(
            insert(REMINDERS)
            .on_conflict_do_nothing(index_elements=REMINDER_KEY)
            .returning(REMINDERS.c.id, REMINDERS.c.person_id),
            posts,
        )
    ).all()
    taken = {r.id for r in inserted}
    skipped = [messages[p["id"]]["id"] for p in posts if p["id"] not in taken]
    if skipped:
        await db.execute(delete(InboxMessage).where(InboxMessage.id.in_(skipped)))
    if not inserted:
        return page
    page.posted = len(inserted)
    page.delivery_ids = await _deliveries(db, inserted, now=now)
    return page


async def _deliveries(
    db: AsyncSession, inserted: Sequence[Any], *, now: datetime
) -> list[uuid.UUID]:
    """One pending delivery per device of each reminder's person."""
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
            "lease_until": None,
            "lease_owner": None,
            "last_status_code": None,
            "last_error": None,
            "created_at": now,
            "updated_at": now,
            "delivered_at": None,
        }
        for reminder_id, person_id in inserted
        for subscription_id, device_name in devices[person_id]
    ]
    if not deliveries:
        return []
    created = await db.execute(
        _insert(db)(DELIVERIES)
        .on_conflict_do_nothing(index_elements=["reminder_id", "subscription_id"])
        .returning(DELIVERIES.c.id),
        deliveries,
    )
    return list(created.scalars())
