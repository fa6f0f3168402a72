"""When a reminder is due: N days before a deadline in the person's time zone, outside quiet hours,
never after the deadline. Pure functions on aware datetimes; notifications/scheduler.py applies
them to the database.

"N days before" is calendar days on the person's wall clock, not N times 24 hours: a deadline at
12:00 on 1 April in Amsterdam is reminded at 12:00 on 25 March, although summer time started in
between (so 167 hours before). Wall-clock times that do not exist (the hour skipped when clocks go
forward) move on by the gap; those that occur twice (clocks going back) mean the first occurrence.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True, slots=True)
class QuietHours:
    """A daily local-time window without notifications; it may wrap midnight (22:00 to 08:00)."""

    start: time
    end: time

    def contains(self, wall: time) -> bool:
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= wall < self.end
        return wall >= self.start or wall < self.end

    def end_after(self, moment: datetime, zone: ZoneInfo) -> datetime:
        """The end of the quiet period that `moment` falls in (`moment` itself if none)."""
        local = moment.astimezone(zone)
        wall = local.time().replace(tzinfo=None)
        if not self.contains(wall):
            return moment
        day = local.date()
        if self.start > self.end and wall >= self.start:
            day += timedelta(days=1)  # the evening part: quiet until tomorrow morning
        end_wall = datetime.combine(day, self.end)
        end = to_instant(end_wall, zone)
        if end <= moment:
            # Clocks went back inside the window and `moment` is in the repeated hour: the
            # window ends at the second occurrence of its end time.
            end = end_wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
        return max(end, moment)


def to_instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """A naive wall-clock time in `zone` as a UTC instant (PEP 495, fold=0).

    fold=0 reads a skipped time with the offset from before the change, which lands after the
    gap (02:30 on a spring-forward night is 03:30 summer time), and a repeated time as its first
    occurrence.
    """
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def reminder_moment(
    deadline: datetime, offset_days: int, zone: ZoneInfo, quiet: QuietHours | None
) -> datetime | None:
    """When the reminder `offset_days` before `deadline` is due, or None if that would not be
    before the deadline (a reminder after the deadline is worse than none)."""
    local_deadline = deadline.astimezone(zone).replace(tzinfo=None)
    moment = to_instant(local_deadline - timedelta(days=offset_days), zone)
    if quiet is not None:
        moment = quiet.end_after(moment, zone)
    return moment if moment < deadline else None


def reminder_moments(
    deadline: datetime, offsets_days: Sequence[int], zone: ZoneInfo, quiet: QuietHours | None
) -> dict[int, datetime | None]:
    """`reminder_moment` for each offset: worked out once for both `plan` and `next_check`
    (the zone arithmetic is most of a deadline's planning cost)."""
    return {offset: reminder_moment(deadline, offset, zone, quiet) for offset in offsets_days}


@dataclass(frozen=True, slots=True)
class Plan:
    """What to do now for one deadline."""

    post: int | None = None  # the offset to post (inbox + push) now
    due_at: datetime | None = None  # when `post` was due
    supersede: tuple[int, ...] = ()  # due as well, but a closer reminder replaces them


NOTHING = Plan()


def plan(
    deadline: datetime,
    *,
    offsets_days: Sequence[int],
    recorded: Collection[int],
    zone: ZoneInfo,
    quiet: QuietHours | None,
    now: datetime,
    moments: Mapping[int, datetime | None] | None = None,
) -> Plan:
    """Which reminder to post for a deadline at `now`, given those already recorded.

    When several are due at once (a deadline created late, a worker that was down), only the
    closest is posted: three notifications saying "14 days", "3 days" and "1 day" at the same
    moment help nobody. A due reminder further out than one already posted is stale.
    `moments`: `reminder_moments` of these offsets, if already worked out.
    """
    if now >= deadline:
        return NOTHING
    if moments is None:
        moments = reminder_moments(deadline, offsets_days, zone, quiet)
    due: dict[int, datetime] = {}
    for offset in offsets_days:
        if offset in recorded:
            continue
        moment = moments[offset]
        if moment is not None and moment <= now:
            due[offset] = moment
    if not due:
        return NOTHING
    closest = min(due)
    if recorded and closest > min(recorded):
        return Plan(supersede=tuple(sorted(due, reverse=True)))
    if quiet is not None and quiet.end_after(now, zone) > now:
        # Catching up at night (the scheduler was down): wait for the morning, unless the
        # deadline comes first, in which case the reminder would be late anyway.
        return NOTHING
    stale = tuple(sorted((o for o in due if o != closest), reverse=True))
    return Plan(post=closest, due_at=due[closest], supersede=stale)


def next_check(
    deadline: datetime,
    *,
    offsets_days: Sequence[int],
    recorded: Collection[int],
    zone: ZoneInfo,
    quiet: QuietHours | None,
    now: datetime,
    moments: Mapping[int, datetime | None] | None = None,
) -> datetime:
    """When a deadline next needs the scheduler, once `recorded` includes what was just posted:
    its earliest reminder still to come; the end of the quiet hours while one is due but waits
    for them (not every minute until then); the deadline itself when nothing is left."""
    if moments is None:
        moments = reminder_moments(deadline, offsets_days, zone, quiet)
    upcoming = []
    for offset in offsets_days:
        if offset in recorded:
            continue
        moment = moments[offset]
        if moment is None:
            continue
        if moment <= now:
            return quiet.end_after(now, zone) if quiet is not None else now
        upcoming.append(moment)
    return min(upcoming, default=deadline)


def days_left(deadline: datetime, now: datetime, zone: ZoneInfo) -> int:
    """Calendar days from today to the deadline's day, both on the person's wall clock."""
    return (deadline.astimezone(zone).date() - now.astimezone(zone).date()).days


def local_date(moment: datetime, zone: ZoneInfo) -> date:
    return moment.astimezone(zone).date()
