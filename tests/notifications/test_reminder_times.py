"""Reminder arithmetic: N calendar days before the deadline on the person's wall clock, quiet
hours, and the days clocks change (plain unit tests; no database)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from notifications.reminders import QuietHours, days_left, plan, reminder_moment

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
NEW_YORK = ZoneInfo("America/New_York")
SYDNEY = ZoneInfo("Australia/Sydney")
KOLKATA = ZoneInfo("Asia/Kolkata")
NIGHT = QuietHours(start=time(22, 0), end=time(8, 0))


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def local(
    zone: ZoneInfo, year: int, month: int, day: int, hour: int, minute: int, *, fold: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=zone, fold=fold)


@pytest.mark.parametrize(
    ("zone", "deadline", "offset", "expected"),
    [
        # Amsterdam, summer time starts 28 March 2027 (02:00 -> 03:00): same wall-clock time,
        # one hour less in between.
        (AMSTERDAM, local(AMSTERDAM, 2027, 4, 1, 12, 0), 7, utc(2027, 3, 25, 11, 0)),
        # ...and ends 31 October 2027 (03:00 -> 02:00): one hour more.
        (AMSTERDAM, local(AMSTERDAM, 2027, 11, 4, 12, 0), 7, utc(2027, 10, 28, 10, 0)),
        # New York, 14 March 2027 and 7 November 2027.
        (NEW_YORK, local(NEW_YORK, 2027, 3, 15, 9, 0), 3, utc(2027, 3, 12, 14, 0)),
        (NEW_YORK, local(NEW_YORK, 2027, 11, 9, 9, 0), 7, utc(2027, 11, 2, 13, 0)),
        # Sydney, southern hemisphere: summer time ends 4 April 2027, starts 3 October 2027.
        (SYDNEY, local(SYDNEY, 2027, 4, 5, 10, 0), 3, utc(2027, 4, 1, 23, 0)),
        (SYDNEY, local(SYDNEY, 2027, 10, 5, 9, 0), 3, utc(2027, 10, 1, 23, 0)),
        # Kolkata: +05:30 all year; the half hour survives.
        (KOLKATA, local(KOLKATA, 2027, 1, 20, 17, 0), 14, utc(2027, 1, 6, 11, 30)),
    ],
)
def test_days_before_are_calendar_days_on_the_local_clock(
    zone: ZoneInfo, deadline: datetime, offset: int, expected: datetime
) -> None:
    assert reminder_moment(deadline, offset, zone, None) == expected
    assert reminder_moment(deadline, offset, zone, None) == expected  # no hidden state


def test_a_skipped_wall_clock_time_moves_on_by_the_gap() -> None:
    """02:30 on 28 March 2027 does not exist in Amsterdam: the reminder comes at 03:30."""
    deadline = local(AMSTERDAM, 2027, 3, 31, 2, 30)
    moment = reminder_moment(deadline, 3, AMSTERDAM, None)
    assert moment == utc(2027, 3, 28, 1, 30)
    assert moment is not None
    assert moment.astimezone(AMSTERDAM).hour == 3


def test_a_repeated_wall_clock_time_means_its_first_occurrence() -> None:
    """02:30 on 31 October 2027 happens twice in Amsterdam: the first (summer time) counts."""
    deadline = local(AMSTERDAM, 2027, 11, 3, 2, 30)
    assert reminder_moment(deadline, 3, AMSTERDAM, None) == utc(2027, 10, 31, 0, 30)


def test_quiet_hours_delay_to_their_end_across_the_spring_forward_night() -> None:
    """23:00 CET on 27 March is quiet; the night ends at 08:00 CEST, only 8 hours later."""
    deadline = local(AMSTERDAM, 2027, 3, 30, 23, 0)
    moment = reminder_moment(deadline, 3, AMSTERDAM, NIGHT)
    assert moment == utc(2027, 3, 28, 6, 0)
    assert moment - utc(2027, 3, 27, 22, 0) == timedelta(hours=8)


def test_quiet_hours_ending_inside_the_skipped_hour_end_after_it() -> None:
    quiet = QuietHours(start=time(22, 0), end=time(2, 30))
    moment = quiet.end_after(local(AMSTERDAM, 2027, 3, 27, 23, 0), AMSTERDAM)
    assert moment == utc(2027, 3, 28, 1, 30)  # 03:30 summer time


def test_quiet_hours_in_the_repeated_hour_end_at_the_second_occurrence() -> None:
    """Clocks go back at 03:00: 02:15 in the repeated hour (winter time) is still quiet until
    02:30 winter time, not 02:30 summer time, which is already past."""
    quiet = QuietHours(start=time(1, 0), end=time(2, 30))
    second_pass = local(AMSTERDAM, 2027, 10, 31, 2, 15, fold=1)
    assert second_pass.astimezone(UTC) == utc(2027, 10, 31, 1, 15)
    assert quiet.end_after(second_pass, AMSTERDAM) == utc(2027, 10, 31, 1, 30)
    first_pass = local(AMSTERDAM, 2027, 10, 31, 2, 15)
    assert quiet.end_after(first_pass, AMSTERDAM) == utc(2027, 10, 31, 0, 30)


def test_quiet_hours_in_a_half_hour_zone() -> None:
    """Due 31 December 23:59 Amsterdam = 1 January 04:29 in Kolkata; one day before is 04:29,
    inside the night, so 08:00 IST (02:30 UTC)."""
    deadline = local(AMSTERDAM, 2026, 12, 31, 23, 59)
    assert reminder_moment(deadline, 1, KOLKATA, NIGHT) == utc(2026, 12, 31, 2, 30)
    assert days_left(deadline, utc(2026, 12, 31, 2, 30), KOLKATA) == 1


@pytest.mark.parametrize(
    ("start", "end", "inside", "outside"),
    [
        (time(22, 0), time(8, 0), [time(22, 0), time(23, 59), time(0, 0), time(7, 59)],
         [time(8, 0), time(12, 0), time(21, 59)]),
        (time(1, 0), time(6, 0), [time(1, 0), time(5, 59)], [time(0, 59), time(6, 0)]),
        (time(9, 0), time(9, 0), [], [time(9, 0), time(0, 0)]),  # equal: no quiet hours
    ],
)  # fmt: skip
def test_quiet_window_membership(
    start: time, end: time, inside: list[time], outside: list[time]
) -> None:
    quiet = QuietHours(start, end)
    assert all(quiet.contains(t) for t in inside)
    assert not any(quiet.contains(t) for t in outside)


def test_the_closest_due_reminder_is_posted_and_further_ones_superseded() -> None:
    """A deadline created two days before it is due: "14 days" and "3 days" are both overdue;
    only the 3-day reminder goes out, the 14-day one is recorded as superseded."""
    deadline = utc(2027, 5, 10, 12, 0)
    now = utc(2027, 5, 8, 12, 0)
    decided = plan(
        deadline, offsets_days=(14, 3, 1), recorded=(), zone=AMSTERDAM, quiet=None, now=now
    )
    assert decided.post == 3
    assert decided.supersede == (14,)
    assert decided.due_at == utc(2027, 5, 7, 12, 0)


def test_a_reminder_further_out_than_one_already_posted_is_stale() -> None:
    deadline = utc(2027, 5, 10, 12, 0)
    decided = plan(
        deadline,
        offsets_days=(7, 3, 1),
        recorded=(3,),
        zone=AMSTERDAM,
        quiet=None,
        now=utc(2027, 5, 8, 12, 0),
    )
    assert decided.post is None
    assert decided.supersede == (7,)


def test_nothing_is_due_before_its_moment() -> None:
    deadline = utc(2027, 5, 10, 12, 0)
    decided = plan(
        deadline,
        offsets_days=(3,),
        recorded=(),
        zone=AMSTERDAM,
        quiet=None,
        now=utc(2027, 5, 7, 9, 59),
    )
    assert decided.post is None
    assert decided.supersede == ()


def test_catching_up_at_night_waits_for_the_morning() -> None:
    """The scheduler was down: at 02:00 local the 1-day reminder is overdue, but it is night."""
    deadline = local(AMSTERDAM, 2027, 5, 10, 18, 0)
    night = local(AMSTERDAM, 2027, 5, 10, 2, 0).astimezone(UTC)
    morning = local(AMSTERDAM, 2027, 5, 10, 8, 0).astimezone(UTC)
    kwargs = {"offsets_days": (1,), "recorded": (), "zone": AMSTERDAM, "quiet": NIGHT}
    assert plan(deadline, now=night, **kwargs).post is None  # type: ignore[arg-type]
    assert plan(deadline, now=morning, **kwargs).post == 1  # type: ignore[arg-type]


def test_never_after_the_deadline() -> None:
    """Due at 07:00, overdue 1-day reminder at 02:00: the night ends after the deadline, so it
    is never sent; and nothing at all once the deadline has passed."""
    deadline = local(AMSTERDAM, 2027, 5, 10, 7, 0)
    kwargs = {"offsets_days": (1,), "recorded": (), "zone": AMSTERDAM, "quiet": NIGHT}
    for hour in (2, 5, 6):
        now = local(AMSTERDAM, 2027, 5, 10, hour, 0).astimezone(UTC)
        assert plan(deadline, now=now, **kwargs).post is None  # type: ignore[arg-type]
    after = deadline.astimezone(UTC) + timedelta(minutes=1)
    assert plan(deadline, now=after, **kwargs).post is None  # type: ignore[arg-type]
    assert reminder_moment(deadline, 0, AMSTERDAM, None) is None  # at the deadline: too late
