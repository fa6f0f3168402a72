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
when the page commits, so sending starts while planning goes on. A page is decided in Python
(notifications/reminders.py) and written back in one statement on PostgreSQL (`_WRITE_PG`);
SQLite takes the same decisions with executemany, one compiled statement per table.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, bindparam, delete, select, text, update
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
from notifications.reminders import days_left, next_check, plan, reminder_moments
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


async def scan_page(db: AsyncSession, *, now: datetime, limit: int = PAGE_SIZE) -> ScanPage:
    """Plan up to `limit` deadlines due for a look at `now` and post what is due."""
    stmt = (
        select(
            Deadline.id,
            Deadline.person_id,
            Deadline.kind,
            Deadline.due_at,
            Deadline.description,
            Deadline.completed_at,
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
        # Only the index range of what is due: a completed or past deadline in it is retired
        # with the page (its next check cleared), not by a scan of the whole range per page.
        .where(Deadline.next_reminder_check_at <= now)
        .order_by(Deadline.next_reminder_check_at)
        .limit(limit)
        # Another worker's page is skipped, not waited for nor planned twice (PostgreSQL;
        # SQLite has one writer at a time anyway).
        .with_for_update(of=Deadline, skip_locked=True)
    )
    rows = (await db.execute(stmt)).all()
    page = ScanPage(full=len(rows) == limit)
    if not rows:
        return page
    plans = await _plan(db, rows, now=now)
    page.examined = plans.examined
    page.superseded = len(plans.stale)
    if db.get_bind().dialect.name == "postgresql":
        page.posted, page.delivery_ids = await _write_postgres(db, plans, now=now)
    else:
        page.posted, page.delivery_ids = await _write_portable(db, plans, now=now)
    return page


@dataclass(slots=True)
class _Plans:
    """What a page decided: reminders to post (with their texts), stale ones, next checks."""

    posts: list[dict[str, Any]] = field(default_factory=list)
    stale: list[dict[str, Any]] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)
    examined: int = 0  # open deadlines planned (completed or past ones are only retired)


async def _plan(db: AsyncSession, rows: Sequence[Any], *, now: datetime) -> _Plans:
    """Decide each deadline of the page in Python (notifications/reminders.py: the person's
    zone, quiet hours, calendar days); only what was decided goes back to the database."""
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

    plans = _Plans()
    choices: dict[tuple[Any, ...], tuple[EffectivePreferences, ZoneInfo]] = {}
    for row in rows:
        check: dict[str, Any] = {"b_id": row.id, "b_next": None}  # None: never again
        plans.checks.append(check)
        if row.completed_at is not None or row.due_at <= now:
            continue  # nothing left to remind of: never looked at again
        plans.examined += 1
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
        chosen = choices.get(key)
        if chosen is None:
            stored = _Stored(row) if row.preferences_of is not None else None
            prefs = effective(
                stored, person_time_zone=row.time_zone, person_language=row.preferred_language
            )
            chosen = choices[key] = (prefs, ZoneInfo(prefs.time_zone))
        prefs, zone = chosen
        kind = DeadlineKind(row.kind)
        if kind not in prefs.kinds:
            continue  # until the preferences change (they plan it again)
        quiet = prefs.quiet_hours
        moments = reminder_moments(row.due_at, prefs.offsets_days, zone, quiet)
        decided = plan(
            row.due_at,
            offsets_days=prefs.offsets_days,
            recorded=recorded[row.id],
            zone=zone,
            quiet=quiet,
            now=now,
            moments=moments,
        )
        common = {
            "person_id": row.person_id,
            "deadline_id": row.id,
            "deadline_at": row.due_at,
            "language": prefs.language,
        }
        for offset in decided.supersede:
            plans.stale.append({**common, "offset_days": offset, "due_at": now})
        if decided.post is not None and decided.due_at is not None:
            left = days_left(row.due_at, now, zone)
            text = reminder_text(
                kind=kind,
                description=row.description,
                deadline=row.due_at,
                days_left=left,
                zone=zone,
                language=prefs.language,
            )
            plans.posts.append(
                {
                    **common,
                    "offset_days": decided.post,
                    "due_at": decided.due_at,
                    "subject": text.title,
                    "body": text.body,
                    # Rendered again at read time in the person's language of the moment
                    # (#16): the key and its parameters are what the inbox shows.
                    "params": reminder_params(
                        kind=kind,
                        description=row.description,
                        deadline=row.due_at,
                        days_left=left,
                        zone=prefs.time_zone,
                    ),
                }
            )
        done = {*recorded[row.id], *decided.supersede}
        if decided.post is not None:
            done.add(decided.post)
        upcoming = next_check(
            row.due_at,
            offsets_days=prefs.offsets_days,
            recorded=done,
            zone=zone,
            quiet=quiet,
            now=now,
            moments=moments,
        )
        # next_check answers the deadline itself when no reminder is left: nothing to look at.
        if upcoming < row.due_at:
            check["b_next"] = max(upcoming, now + RETRY_AFTER) if upcoming <= now else upcoming
    return plans


# PostgreSQL: a page's writes in one statement (issue #14), from arrays. Each reminder posted
# gets its inbox message and one delivery per device of its person; a reminder another scanner
# inserted first is skipped (ON CONFLICT DO NOTHING), and with it its message and deliveries.
# The reminder points at its message: foreign keys are checked at the end of the statement.
_WRITE_PG = text(
    """
WITH input AS (
  SELECT CAST(:now AS timestamptz) AS now, CAST(:text_key AS text) AS text_key
), post AS (
  SELECT * FROM unnest(
    CAST(:deadline_ids AS uuid[]), CAST(:person_ids AS uuid[]), CAST(:offsets AS smallint[]),
    CAST(:due_ats AS timestamptz[]), CAST(:deadline_ats AS timestamptz[]),
    CAST(:languages AS text[]), CAST(:subjects AS text[]), CAST(:bodies AS text[]),
    CAST(:params AS text[])
  ) AS p(deadline_id, person_id, offset_days, due_at, deadline_at, language, subject, body,
         params)
), posted AS (
  INSERT INTO push_reminders (id, person_id, deadline_id, offset_days, status, due_at,
                              deadline_at, language, inbox_message_id, created_at)
  SELECT gen_random_uuid(), person_id, deadline_id, offset_days, 'posted', due_at,
         deadline_at, language, gen_random_uuid(), input.now
  FROM post, input
  ON CONFLICT (deadline_id, deadline_at, offset_days) DO NOTHING
  RETURNING id, person_id, deadline_id, inbox_message_id
), messages AS (
  INSERT INTO inbox_messages (id, person_id, kind, text_key, params, subject, body, created_at)
  SELECT r.inbox_message_id, r.person_id, 'reminder', input.text_key,
         CAST(p.params AS jsonb), p.subject, p.body, input.now
  FROM posted r JOIN post p ON p.deadline_id = r.deadline_id, input
), deliveries AS (
  INSERT INTO push_deliveries (id, person_id, reminder_id, subscription_id, device_name,
                               status, attempts, next_attempt_at, created_at, updated_at)
  SELECT gen_random_uuid(), r.person_id, r.id, s.id, s.device_name, 'pending', 0,
         input.now, input.now, input.now
  FROM posted r JOIN push_subscriptions s ON s.person_id = r.person_id, input
  ON CONFLICT (reminder_id, subscription_id) DO NOTHING
  RETURNING id
), stale AS (
  INSERT INTO push_reminders (id, person_id, deadline_id, offset_days, status, due_at,
                              deadline_at, language, created_at)
  SELECT gen_random_uuid(), s.person_id, s.deadline_id, s.offset_days, 'superseded',
         input.now, s.deadline_at, s.language, input.now
  FROM input, unnest(
    CAST(:stale_deadline_ids AS uuid[]), CAST(:stale_person_ids AS uuid[]),
    CAST(:stale_offsets AS smallint[]), CAST(:stale_deadline_ats AS timestamptz[]),
    CAST(:stale_languages AS text[])
  ) AS s(deadline_id, person_id, offset_days, deadline_at, language)
  ON CONFLICT (deadline_id, deadline_at, offset_days) DO NOTHING
), checks AS (
  UPDATE deadlines AS d SET next_reminder_check_at = c.next_at
  FROM unnest(CAST(:check_ids AS uuid[]), CAST(:check_nexts AS timestamptz[])) AS c(id, next_at)
  WHERE d.id = c.id
)
SELECT (SELECT count(*) FROM posted) AS posted, (SELECT array_agg(id) FROM deliveries) AS ids
"""
)


async def _write_postgres(
    db: AsyncSession, plans: _Plans, *, now: datetime
) -> tuple[int, list[uuid.UUID]]:
    posts, stale = plans.posts, plans.stale
    row = (
        await db.execute(
            _WRITE_PG,
            {
                "now": now,
                "text_key": REMINDER,
                "deadline_ids": [p["deadline_id"] for p in posts],
                "person_ids": [p["person_id"] for p in posts],
                "offsets": [p["offset_days"] for p in posts],
                "due_ats": [p["due_at"] for p in posts],
                "deadline_ats": [p["deadline_at"] for p in posts],
                "languages": [p["language"] for p in posts],
                "subjects": [p["subject"] for p in posts],
                "bodies": [p["body"] for p in posts],
                "params": [json.dumps(p["params"]) for p in posts],
                "stale_deadline_ids": [s["deadline_id"] for s in stale],
                "stale_person_ids": [s["person_id"] for s in stale],
                "stale_offsets": [s["offset_days"] for s in stale],
                "stale_deadline_ats": [s["deadline_at"] for s in stale],
                "stale_languages": [s["language"] for s in stale],
                "check_ids": [c["b_id"] for c in plans.checks],
                "check_nexts": [c["b_next"] for c in plans.checks],
            },
        )
    ).one()
    return int(row.posted), list(row.ids or [])


async def _write_portable(
    db: AsyncSession, plans: _Plans, *, now: datetime
) -> tuple[int, list[uuid.UUID]]:
    """SQLite (and any other database): executemany, one compiled statement per table."""
    await db.execute(_NEXT_CHECK, plans.checks)
    insert = _insert(db)
    if plans.stale:
        stale = [
            {
                **s,
                "id": new_id(),
                "status": ReminderStatus.SUPERSEDED,
                "inbox_message_id": None,
                "created_at": now,
            }
            for s in plans.stale
        ]
        await db.execute(
            insert(REMINDERS).on_conflict_do_nothing(index_elements=REMINDER_KEY), stale
        )
    if not plans.posts:
        return 0, []
    posts: list[dict[str, Any]] = []
    messages: dict[uuid.UUID, dict[str, Any]] = {}  # by reminder id
    for p in plans.posts:
        reminder_id, message_id = new_id(), new_id()
        posts.append(
            {
                "id": reminder_id,
                "person_id": p["person_id"],
                "deadline_id": p["deadline_id"],
                "deadline_at": p["deadline_at"],
                "language": p["language"],
                "offset_days": p["offset_days"],
                "status": ReminderStatus.POSTED,
                "due_at": p["due_at"],
                "inbox_message_id": message_id,
                "created_at": now,
            }
        )
        messages[reminder_id] = {
            "id": message_id,
            "person_id": p["person_id"],
            "kind": MessageKind.REMINDER,
            "text_key": REMINDER,
            "params": p["params"],
            "subject": p["subject"],
            "body": p["body"],
            "created_at": now,
            "read_at": None,
        }
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
        return 0, []
    return len(inserted), await _deliveries(db, inserted, now=now)


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
