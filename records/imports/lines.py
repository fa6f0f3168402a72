"""One line of an import file: the JSON shape of each record type, decoding and validation.

msgspec decodes and type-checks a line in one pass of C code straight into the Struct named by
its "type"; what a type cannot express (a real country, an IANA zone, date order) is checked
after. msgspec reports the first problem it meets as an English message: `_translate` maps
those messages to the report's stable codes, the one place that knows their wording (the tests
pin every code, so a msgspec upgrade that rewords one fails there, not in production).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from importlib import resources
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from records.models import DeadlineKind, EducationLevel, EnrolmentStatus, RepaymentScheme

# One-line text: no control characters (PostgreSQL cannot store NUL; the others are noise).
TEXT = r"^[^\x00-\x1f\x7f]*$"
# Longer text may break lines (tab, LF, CR), nothing else below 0x20.
MULTILINE_TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
TEXT_PATTERNS = frozenset({TEXT, MULTILINE_TEXT})

CustomerNumber = Annotated[str, Meta(pattern=r"^[A-Z0-9]{1,16}$")]
# DUO's own reference of a record: printable ASCII without spaces, e.g. "payment-2026".
Ref = Annotated[str, Meta(pattern=r"^[!-~]{1,64}$")]
Name = Annotated[str, Meta(min_length=1, max_length=200, pattern=TEXT)]
Country = Annotated[str, Meta(pattern=r"^[A-Z]{2}$")]
ZoneName = Annotated[str, Meta(min_length=1, max_length=64)]
Grade = Annotated[str, Meta(min_length=1, max_length=32, pattern=TEXT)]
Credits = Annotated[int, Meta(ge=0, le=1000)]
ProgrammeCode = Annotated[str, Meta(min_length=1, max_length=16, pattern=TEXT)]
Description = Annotated[str, Meta(min_length=1, max_length=2000, pattern=MULTILINE_TEXT)]
Cents = Annotated[int, Meta(ge=0, le=10**12)]  # up to ten billion euro: a BIGINT column
MonthlyCents = Annotated[int, Meta(ge=0, le=2**31 - 1)]  # an INTEGER column
BasisPoints = Annotated[int, Meta(ge=0, le=10_000)]  # 0-100 %
Instant = Annotated[datetime, Meta(tz=True)]  # RFC 3339 with an offset: never a guessed zone

MAX_RESULTS = 100
EARLIEST = date(1900, 1, 1)


class _Line(
    msgspec.Struct,
    tag_field="type",
    forbid_unknown_fields=True,
    rename="camel",
    kw_only=True,
    frozen=True,
):
    customer_number: CustomerNumber


class PersonLine(_Line, tag="person", kw_only=True, frozen=True):
    given_names: Name
    family_name: Name
    date_of_birth: date
    country_of_residence: Country
    # Used only when the person is new: afterwards these are the person's own settings.
    preferred_language: Literal["en", "nl"] | None = None
    time_zone: ZoneName | None = None


class EnrolmentLine(_Line, tag="enrolment", kw_only=True, frozen=True):
    ref: Ref
    institution: Name
    programme: Name
    level: EducationLevel
    start_date: date
    end_date: date | None = None
    status: EnrolmentStatus


class ResultLine(msgspec.Struct, forbid_unknown_fields=True, rename="camel", frozen=True):
    subject: Name
    grade: Grade
    credits: Credits | None = None


class DiplomaLine(_Line, tag="diploma", kw_only=True, frozen=True):
    ref: Ref
    institution: Name
    programme: Name
    programme_code: ProgrammeCode | None = None
    level: EducationLevel
    awarded_on: date
    # The complete list, in order: position i in the file is position i on the diploma.
    results: Annotated[list[ResultLine], Meta(max_length=MAX_RESULTS)] = []


class StudyFinanceLine(_Line, tag="study_finance", kw_only=True, frozen=True):
    debt_cents: Cents
    repayment_scheme: RepaymentScheme
    monthly_amount_cents: MonthlyCents
    interest_rate_basis_points: BasisPoints
    next_due_date: date | None = None


class DeadlineLine(_Line, tag="deadline", kw_only=True, frozen=True):
    ref: Ref
    kind: DeadlineKind
    due_at: Instant
    description: Description
    completed_at: Instant | None = None


class DeleteLine(_Line, tag="delete", kw_only=True, frozen=True):
    """Removes one record; persons are never deleted by an import."""

    record: Literal["enrolment", "diploma", "study_finance", "deadline"]
    ref: Ref | None = None  # required except for study_finance (one per person)


Line = PersonLine | EnrolmentLine | DiplomaLine | StudyFinanceLine | DeadlineLine | DeleteLine
RECORD_TYPES = ("person", "enrolment", "diploma", "study_finance", "deadline")
LINE_TYPES = (*RECORD_TYPES, "delete")

_decoder = msgspec.json.Decoder(Line)


@dataclass(frozen=True, slots=True)
class Problem:
    """Why a line was refused: the field (a path like `results[2].grade`), a code, the detail."""

    field: str
    code: str
    detail: str


_TAGS: dict[type[_Line], str] = {
    PersonLine: "person",
    EnrolmentLine: "enrolment",
    DiplomaLine: "diploma",
    StudyFinanceLine: "study_finance",
    DeadlineLine: "deadline",
}


def record_type(line: Line) -> str:
    """The record type a line is about (a delete line counts for the type it deletes)."""
    return line.record if isinstance(line, DeleteLine) else _TAGS[type(line)]


def key(line: Line) -> str:
    """What identifies the record within a file: type, customer number and reference."""
    ref = getattr(line, "ref", None) or ""
    # \x1f cannot occur in a customer number or a reference.
    return f"{record_type(line)}\x1f{line.customer_number}\x1f{ref}"


def decode(raw: bytes, *, today: date) -> Line | Problem:
    """The line's record, or the first problem found in it."""
    try:
        line = _decoder.decode(raw)
    except msgspec.ValidationError as exc:
        return _translate(str(exc))
    except msgspec.DecodeError as exc:
        return Problem("", "INVALID_JSON", str(exc))
    problem = _check(line, today=today)
    return line if problem is None else problem


_TYPE_VALUE = re.compile(rb'"type"\s*:\s*"([a-z_]{1,20})"')
_RECORD_VALUE = re.compile(rb'"record"\s*:\s*"([a-z_]{1,20})"')


def peek_type(raw: bytes) -> str | None:
    """The record type a refused line seems to be about, for the per-type counts."""
    match = _TYPE_VALUE.search(raw)
    if match is not None and match.group(1) == b"delete":
        match = _RECORD_VALUE.search(raw)
    if match is None:
        return None
    name = match.group(1).decode()
    return name if name in RECORD_TYPES else None


# --- msgspec's messages as codes ---------------------------------------------------------------

_AT = r"(?: - at `\$(?P<at>[^`]*)`)?$"
_MESSAGES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^Object missing required field `(?P<name>[^`]+)`" + _AT), "REQUIRED"),
    (re.compile(r"^Object contains unknown field `(?P<name>[^`]+)`" + _AT), "UNKNOWN_FIELD"),
    (re.compile(r"^Expected `str` of length <= \d+" + _AT), "TOO_LONG"),
    (re.compile(r"^Expected `str` of length >= \d+" + _AT), "TOO_SHORT"),
    (re.compile(r"^Expected `array` of length <= \d+" + _AT), "TOO_MANY"),
    (re.compile(r"^Expected `int` >= -?\d+" + _AT), "TOO_SMALL"),
    (re.compile(r"^Expected `int` <= -?\d+" + _AT), "TOO_LARGE"),
    (re.compile(r"^Expected `str` matching regex '(?P<pattern>.*)'" + _AT), "INVALID_FORMAT"),
    (re.compile(r"^Invalid enum value .*?" + _AT), "NOT_ALLOWED"),
    (re.compile(r"^Invalid RFC3339 encoded (?:date|datetime)" + _AT), "INVALID_DATE"),
    (re.compile(r"^Expected `datetime` with a timezone component" + _AT), "INVALID_DATE"),
    (re.compile(r"^Expected `object`, got `\w+`$"), "NOT_AN_OBJECT"),
    (re.compile(r"^Expected `[^`]+`, got `[^`]+`" + _AT), "INVALID_TYPE"),
]


def _translate(message: str) -> Problem:
    detail = message.split(" - at `", 1)[0]
    for pattern, code in _MESSAGES:
        match = pattern.match(message)
        if match is None:
            continue
        groups = match.groupdict()
        field = _path(groups.get("at") or "")
        if groups.get("name"):
            field = f"{field}.{groups['name']}" if field else groups["name"]
        if field == "type":  # the tag: an unknown or missing record type
            return Problem("type", "REQUIRED" if code == "REQUIRED" else "UNKNOWN_TYPE", detail)
        # msgspec quotes the pattern with its backslashes doubled.
        quoted = (groups.get("pattern") or "").replace("\\\\", "\\")
        if code == "INVALID_FORMAT" and quoted in TEXT_PATTERNS:
            return Problem(field, "INVALID_CHARACTERS", "control characters are not allowed")
        return Problem(field, code, detail)
    at = re.search(r" - at `\$([^`]*)`$", message)
    field = _path(at.group(1)) if at else ""
    if field == "type":
        return Problem("type", "UNKNOWN_TYPE", f"type must be one of {', '.join(LINE_TYPES)}")
    return Problem(field, "INVALID_VALUE", detail)


def _path(at: str) -> str:
    # msgspec's "$.results[2].grade" without the "$.": how the report names a field.
    return at[1:] if at.startswith(".") else at


# --- what the types cannot say -----------------------------------------------------------------


def _check(line: Line, *, today: date) -> Problem | None:
    if isinstance(line, PersonLine):
        if line.country_of_residence not in countries():
            return Problem("countryOfResidence", "INVALID_COUNTRY", "not an ISO 3166-1 country")
        if line.time_zone is not None and line.time_zone not in zones():
            return Problem("timeZone", "INVALID_TIME_ZONE", "not an IANA time zone name")
        return _day("dateOfBirth", line.date_of_birth, latest=today)
    if isinstance(line, EnrolmentLine):
        problem = _day("startDate", line.start_date)
        if problem is None and line.end_date is not None and line.end_date < line.start_date:
            return Problem("endDate", "INVALID_DATE", "before startDate")
        return problem
    if isinstance(line, DiplomaLine):
        return _day("awardedOn", line.awarded_on)
    if isinstance(line, DeleteLine):
        if line.record == "study_finance" and line.ref is not None:
            return Problem("ref", "NOT_ALLOWED", "study finance has no ref (one per person)")
        if line.record != "study_finance" and line.ref is None:
            return Problem("ref", "REQUIRED", f"a {line.record} is deleted by its ref")
    return None


def _day(field: str, value: date, *, latest: date | None = None) -> Problem | None:
    if value < EARLIEST:
        return Problem(field, "INVALID_DATE", f"before {EARLIEST.isoformat()}")
    if latest is not None and value > latest:
        return Problem(field, "INVALID_DATE", "in the future")
    return None


# The IANA time zone database (the tzdata package) lists the ISO 3166-1 countries and each
# country's zones: the same 249 codes as forms/codes.json, and a default zone where a country
# has only one.
def _tab(name: str) -> Iterator[list[str]]:
    text = resources.files("tzdata").joinpath("zoneinfo", name).read_text(encoding="utf-8")
    for row in text.splitlines():
        if row and not row.startswith("#"):
            yield row.split("\t")


@cache
def countries() -> frozenset[str]:
    return frozenset(row[0] for row in _tab("iso3166.tab"))


@cache
def zones() -> frozenset[str]:
    from zoneinfo import available_timezones

    return frozenset(available_timezones())


@cache
def _zones_by_country() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for row in _tab("zone.tab"):
        found.setdefault(row[0], []).append(row[2])
    return found


def only_zone(country: str) -> str | None:
    """The time zone of a country that has exactly one, else None (the file must say)."""
    listed = _zones_by_country().get(country, [])
    return listed[0] if len(listed) == 1 else None
