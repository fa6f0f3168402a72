"""Reminder preferences: which deadlines, how long before, quiet hours, time zone, language."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import time
from enum import Enum
from typing import Final, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from sqlalchemy.ext.asyncio import AsyncSession

from api.database import utcnow
from api.errors import InvalidInput, Unauthenticated
from notifications.checks import plan_again_for_persons
from notifications.models import ReminderPreferences
from notifications.reminders import QuietHours
from records.models import DeadlineKind, Person

SUPPORTED_LANGUAGES = ("en", "nl")
DEFAULT_OFFSETS_DAYS = (14, 3, 1)
# Nobody wants a nudge between 22:00 and 08:00 their time unless they say so.
DEFAULT_QUIET_HOURS = QuietHours(start=time(22, 0), end=time(8, 0))
MAX_OFFSETS = 5
MAX_OFFSET_DAYS = 60
_KIND_VALUES = frozenset(k.value for k in DeadlineKind)


class _Unchanged(Enum):
    UNCHANGED = "unchanged"


UNCHANGED: Final = _Unchanged.UNCHANGED


@dataclass(frozen=True, slots=True)
class EffectivePreferences:
    """What the scheduler applies: stored choices with the defaults and the person's profile."""

    kinds: frozenset[DeadlineKind]
    offsets_days: tuple[int, ...]  # largest first
    quiet_hours: QuietHours | None
    time_zone: str
    language: str
    time_zone_override: str | None  # None: follows the profile's time zone
    language_override: str | None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)


class StoredPreferences(Protocol):
    """A ReminderPreferences row, or any row with its columns (the scheduler reads columns)."""

    @property
    def kinds(self) -> list[str]: ...
    @property
    def offsets_days(self) -> list[int]: ...
    @property
    def quiet_start(self) -> time | None: ...
    @property
    def quiet_end(self) -> time | None: ...
    @property
    def time_zone(self) -> str | None: ...
    @property
    def language(self) -> str | None: ...


def effective(
    row: StoredPreferences | None, *, person_time_zone: str, person_language: str
) -> EffectivePreferences:
    """Stored choices over the defaults, the profile's zone and language where none is set."""
    if person_language not in SUPPORTED_LANGUAGES:
        person_language = "en"
    if row is None:
        return EffectivePreferences(
            kinds=frozenset(DeadlineKind),
            offsets_days=DEFAULT_OFFSETS_DAYS,
            quiet_hours=DEFAULT_QUIET_HOURS,
            time_zone=_usable_zone(person_time_zone),
            language=person_language,
            time_zone_override=None,
            language_override=None,
        )
    quiet = None
    if row.quiet_start is not None and row.quiet_end is not None:
        quiet = QuietHours(start=row.quiet_start, end=row.quiet_end)
    return EffectivePreferences(
        kinds=frozenset(DeadlineKind(k) for k in row.kinds if k in _KIND_VALUES),
        offsets_days=tuple(sorted(set(row.offsets_days), reverse=True)),
        quiet_hours=quiet,
        time_zone=_usable_zone(row.time_zone or person_time_zone),
        language=row.language or person_language,
        time_zone_override=row.time_zone,
        language_override=row.language,
    )


def _usable_zone(name: str) -> str:
    # A profile zone that this machine's tz database lacks must not stop everyone's reminders.
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return "UTC"
    return name


def check_time_zone(name: str) -> None:
    # ZoneInfo also accepts file paths like "../../etc/x"; only IANA names are allowed
    # (the same rule as records.service for the profile's zone).
    if name not in available_timezones():
        raise InvalidInput(
            "Unknown time zone; use an IANA name like Asia/Jakarta.", field="timeZone"
        )


def check_offsets(offsets: Sequence[int]) -> tuple[int, ...]:
    unique = tuple(sorted(set(offsets), reverse=True))
    if not 1 <= len(unique) <= MAX_OFFSETS:
        raise InvalidInput(
            f"Choose between 1 and {MAX_OFFSETS} reminder days.", field="offsetsDays"
        )
    if any(not 1 <= days <= MAX_OFFSET_DAYS for days in unique):
        raise InvalidInput(
            f"Reminder days must be between 1 and {MAX_OFFSET_DAYS}.", field="offsetsDays"
        )
    return unique


async def _person(db: AsyncSession, person_id: uuid.UUID) -> Person:
    person = await db.get(Person, person_id)
    if person is None:
        raise Unauthenticated()
    return person


def _for(row: ReminderPreferences | None, person: Person) -> EffectivePreferences:
    return effective(
        row, person_time_zone=person.time_zone, person_language=person.preferred_language
    )


async def get_preferences(db: AsyncSession, person_id: uuid.UUID) -> EffectivePreferences:
    person = await _person(db, person_id)
    return _for(await db.get(ReminderPreferences, person_id), person)


async def update_preferences(
    db: AsyncSession,
    person_id: uuid.UUID,
    *,
    kinds: Sequence[DeadlineKind] | _Unchanged = UNCHANGED,
    offsets_days: Sequence[int] | _Unchanged = UNCHANGED,
    quiet_hours: QuietHours | _Unchanged | None = UNCHANGED,
    time_zone: str | _Unchanged | None = UNCHANGED,
    language: str | _Unchanged | None = UNCHANGED,
) -> EffectivePreferences:
    """Change what is given; None clears an override (quiet hours off, zone and language follow
    the profile)."""
    person = await _person(db, person_id)
    row = await db.get(ReminderPreferences, person_id)
    if row is None:
        row = ReminderPreferences(
            person_id=person_id,
            kinds=sorted(k.value for k in DeadlineKind),
            offsets_days=list(DEFAULT_OFFSETS_DAYS),
            quiet_start=DEFAULT_QUIET_HOURS.start,
            quiet_end=DEFAULT_QUIET_HOURS.end,
            time_zone=None,
            language=None,
        )
        db.add(row)
    if kinds is not UNCHANGED:
        row.kinds = sorted({DeadlineKind(k).value for k in kinds})
    if offsets_days is not UNCHANGED:
        row.offsets_days = list(check_offsets(offsets_days))
    if quiet_hours is not UNCHANGED:
        if quiet_hours is not None and quiet_hours.start == quiet_hours.end:
            raise InvalidInput(
                "Quiet hours must start and end at different times.", field="quietHours"
            )
        row.quiet_start = quiet_hours.start if quiet_hours else None
        row.quiet_end = quiet_hours.end if quiet_hours else None
    if time_zone is not UNCHANGED:
        if time_zone is not None:
            check_time_zone(time_zone)
        row.time_zone = time_zone
    if language is not UNCHANGED:
        if language is not None and language not in SUPPORTED_LANGUAGES:
            raise InvalidInput("Language must be 'en' or 'nl'.", field="language")
        row.language = language
    row.updated_at = utcnow()
    await db.flush()
    await plan_again_for_persons(db, [person_id])
    return _for(row, person)


async def follow_profile_language(db: AsyncSession, person_id: uuid.UUID) -> None:
    """The person chose a language for the app: reminders follow it too (#16 item 1)."""
    row = await db.get(ReminderPreferences, person_id)
    if row is not None and row.language is not None:
        row.language = None
        row.updated_at = utcnow()
        await db.flush()
