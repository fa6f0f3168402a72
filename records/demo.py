"""Synthetic, deterministic demo data: realistic Dutch education records of people abroad.

The same seed and reference date always give the same people, so demo logins, tests and
benchmarks are reproducible. Person i gets customer number DA{i:07d}; person 1 is the
documented demo user. On PostgreSQL (asyncpg) new chunks are written with COPY, fast enough
for a million persons (the issue's benchmark size); elsewhere with idempotent bulk INSERTs.
"""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from itertools import accumulate
from operator import itemgetter
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.database import asyncpg_connection
from notifications.models import InboxMessage, MessageKind
from records.models import (
    Deadline,
    DeadlineKind,
    Diploma,
    DiplomaResult,
    EducationLevel,
    Enrolment,
    EnrolmentStatus,
    Person,
    RepaymentScheme,
    StudyFinance,
)

DEFAULT_SEED = 20261128
AMSTERDAM = ZoneInfo("Europe/Amsterdam")

# The documented demo user (README): what a newcomer signs in as.
DEMO_CUSTOMER_NUMBER = "DA0000001"
DEMO_DATE_OF_BIRTH = date(1994, 3, 15)

# (country, time zone, weight): where DUO's ex-students live, skewed to the largest groups.
RESIDENCES: list[tuple[str, str, int]] = [
    ("ID", "Asia/Jakarta", 8),
    ("CN", "Asia/Shanghai", 8),
    ("IN", "Asia/Kolkata", 7),
    ("DE", "Europe/Berlin", 9),
    ("BE", "Europe/Brussels", 7),
    ("GB", "Europe/London", 6),
    ("US", "America/New_York", 5),
    ("US", "America/Los_Angeles", 3),
    ("CA", "America/Toronto", 3),
    ("BR", "America/Sao_Paulo", 3),
    ("MX", "America/Mexico_City", 2),
    ("CL", "America/Santiago", 1),
    ("AU", "Australia/Sydney", 4),
    ("NZ", "Pacific/Auckland", 2),
    ("JP", "Asia/Tokyo", 2),
    ("KR", "Asia/Seoul", 2),
    ("SG", "Asia/Singapore", 2),
    ("VN", "Asia/Ho_Chi_Minh", 2),
    ("TR", "Europe/Istanbul", 4),
    ("AE", "Asia/Dubai", 2),
    ("ZA", "Africa/Johannesburg", 2),
    ("NG", "Africa/Lagos", 2),
    ("EG", "Africa/Cairo", 1),
    ("SR", "America/Paramaribo", 3),
    ("CW", "America/Curacao", 2),
    ("ES", "Europe/Madrid", 3),
    ("IT", "Europe/Rome", 2),
    ("GR", "Europe/Athens", 2),
    ("PL", "Europe/Warsaw", 2),
    ("NL", "Europe/Amsterdam", 4),
]

GIVEN_NAMES = [
    "Ayu",
    "Wei",
    "Priya",
    "Lukas",
    "Emma",
    "Daan",
    "Sophie",
    "Mohammed",
    "Fatima",
    "Lucas",
    "Mei",
    "Arjun",
    "Siti",
    "Carlos",
    "Ana",
    "Yuki",
    "Ji-woo",
    "Olumide",
    "Chiara",
    "Nikos",
    "Zeynep",
    "Emre",
    "Anouk",
    "Sanne",
    "Thijs",
    "Noah",
    "Julia",
    "Kwame",
    "Linh",
    "Rahul",
    "Isabela",
    "Mateo",
    "Hannah",
    "Oliver",
    "Aisha",
    "Tomasz",
    "Elena",
    "Sipho",
    "Camila",
    "Rohan",
]
FAMILY_NAMES = [
    "Lestari",
    "Zhang",
    "Sharma",
    "Müller",
    "de Vries",
    "Jansen",
    "van den Berg",
    "El Amrani",
    "Bakker",
    "Santos",
    "Wang",
    "Patel",
    "Rahman",
    "García",
    "Tanaka",
    "Kim",
    "Adeyemi",
    "Rossi",
    "Papadopoulos",
    "Yılmaz",
    "Visser",
    "Smit",
    "Meijer",
    "de Boer",
    "Mulder",
    "Nguyen",
    "Kumar",
    "Oliveira",
    "Hernández",
    "Schmidt",
    "Kowalski",
    "Dlamini",
    "Mensah",
    "Silva",
    "van Dijk",
]

# Real institutions and programmes; codes are illustrative, not DUO's registry values.
PROGRAMMES: dict[EducationLevel, list[tuple[str, str, str | None, list[str]]]] = {
    EducationLevel.WO: [
        (
            "Universiteit van Amsterdam",
            "BSc Psychologie",
            "56604",
            [
                "Inleiding psychologie",
                "Statistiek I",
                "Sociale psychologie",
                "Biologische psychologie",
                "Methodenleer",
                "Bachelorproject",
            ],
        ),
        (
            "Technische Universiteit Delft",
            "BSc Computer Science and Engineering",
            "50300",
            [
                "Object-Oriented Programming",
                "Reasoning and Logic",
                "Algorithms and Data Structures",
                "Computer Organisation",
                "Software Engineering Methods",
                "Research Project",
            ],
        ),
        (
            "Universiteit Leiden",
            "MSc International Relations",
            "60785",
            [
                "Theories of International Relations",
                "Global Political Economy",
                "Research Methods",
                "Master Thesis",
            ],
        ),
        (
            "Rijksuniversiteit Groningen",
            "BSc International Business",
            "50950",
            [
                "Marketing",
                "Financial Accounting",
                "Microeconomics",
                "Organisational Behaviour",
                "Business Statistics",
                "Bachelor Thesis",
            ],
        ),
        (
            "Wageningen University & Research",
            "MSc Food Technology",
            "66022",
            ["Food Chemistry", "Food Microbiology", "Process Engineering", "Master Thesis"],
        ),
        (
            "Erasmus Universiteit Rotterdam",
            "BSc Econometrie en Operationele Research",
            "56833",
            ["Analyse I", "Lineaire algebra", "Kansrekening", "Econometrie I", "Bachelorscriptie"],
        ),
        (
            "Universiteit Utrecht",
            "MSc Artificial Intelligence",
            "60232",
            ["Machine Learning", "Intelligent Agents", "Natural Language Processing", "Thesis"],
        ),
    ],
    EducationLevel.HBO: [
        (
            "Hogeschool van Amsterdam",
            "Bachelor HBO-ICT",
            "30020",
            ["Programmeren 1", "Databases", "Netwerken", "Projectmanagement", "Afstudeeropdracht"],
        ),
        (
            "Hanzehogeschool Groningen",
            "Bachelor Verpleegkunde",
            "34560",
            ["Anatomie en fysiologie", "Verpleegkundig handelen", "Stage", "Afstudeeronderzoek"],
        ),
        (
            "Fontys Hogescholen",
            "Bachelor International Business",
            "30009",
            [
                "International Marketing",
                "Finance",
                "Intercultural Management",
                "Graduation Project",
            ],
        ),
        (
            "Hogeschool Utrecht",
            "Bachelor Bouwkunde",
            "34216",
            ["Bouwtechniek", "Constructieleer", "Bouwfysica", "Afstudeerproject"],
        ),
        (
            "Saxion",
            "Bachelor Hotel Management",
            "34407",
            ["Hospitality Operations", "Revenue Management", "Internship", "Thesis"],
        ),
    ],
    EducationLevel.MBO: [
        (
            "ROC van Amsterdam",
            "Software Developer (niveau 4)",
            "25604",
            ["Nederlands", "Engels", "Rekenen", "Programmeren", "Beroepspraktijkvorming"],
        ),
        (
            "Albeda",
            "Logistiek medewerker (niveau 2)",
            "25416",
            ["Nederlands", "Rekenen", "Logistieke processen", "Beroepspraktijkvorming"],
        ),
        (
            "ROC Midden Nederland",
            "Verzorgende-IG (niveau 3)",
            "25491",
            ["Nederlands", "Zorgverlening", "Beroepspraktijkvorming"],
        ),
    ],
    EducationLevel.VO: [
        (
            "Stedelijk Gymnasium Leiden",
            "vwo (gymnasium), profiel Natuur en Techniek",
            None,
            ["Nederlands", "Engels", "Latijn", "Wiskunde B", "Natuurkunde", "Scheikunde"],
        ),
        (
            "Het Amsterdams Lyceum",
            "havo, profiel Economie en Maatschappij",
            None,
            ["Nederlands", "Engels", "Wiskunde A", "Economie", "Geschiedenis", "Duits"],
        ),
    ],
}
WORD_GRADES = ["voldoende", "goed", "uitstekend"]

# Precomputed once: make_bundle runs a million times for the benchmark data set. Each table
# gives exactly what the per-call expression gave (same values, same random draws).
_PLACES = [(country, zone) for country, zone, _ in RESIDENCES]
_PLACE_CUM_WEIGHTS = list(accumulate(weight for *_, weight in RESIDENCES))
_DECIMAL_GRADES = [f"{tenths / 10:.1f}" for tenths in range(60, 93)]  # randint(60, 92) / 10
_YEARS = {EducationLevel.VO: 6, EducationLevel.MBO: 3, EducationLevel.HBO: 4}
_CREATED_AT = datetime(2020, 1, 1, tzinfo=UTC)
_PATHS = [
    [EducationLevel.WO],
    [EducationLevel.HBO],
    [EducationLevel.HBO, EducationLevel.WO],
    [EducationLevel.MBO],
    [EducationLevel.WO, EducationLevel.WO],
]
# uuid.UUID(int=n, version=4) without its argument checks: the same bits, half the time.
_UUID_V4_CLEAR = ~((0xC000 << 48) | (0xF000 << 64))
_UUID_V4_SET = (0x8000 << 48) | (4 << 76)
_UNKNOWN_SAFETY = uuid.SafeUUID.unknown
_new_uuid = uuid.UUID.__new__
_set = object.__setattr__  # UUID is immutable; this is what UUID.__init__ itself does


@dataclass
class Bundle:
    """All rows for one person, as plain dicts ready for bulk insert."""

    person: dict[str, Any]
    enrolments: list[dict[str, Any]] = field(default_factory=list)
    diplomas: list[dict[str, Any]] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)
    finance: dict[str, Any] | None = None
    deadlines: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)


def customer_number(index: int) -> str:
    return f"DA{index:07d}"


_DEMO_NUMBER = re.compile(r"DA[0-9]{7}")


def _uuid(rng: random.Random) -> uuid.UUID:
    # uuid.UUID(int=rng.getrandbits(128), version=4), done as UUID.__init__ does it.
    value = _new_uuid(uuid.UUID)
    _set(value, "int", (rng.getrandbits(128) & _UUID_V4_CLEAR) | _UUID_V4_SET)
    _set(value, "is_safe", _UNKNOWN_SAFETY)
    return value


@lru_cache(maxsize=1024)
def _end_of_day_amsterdam(day: date) -> datetime:
    # DUO deadlines are Dutch calendar days: they end at midnight in the Netherlands.
    return datetime.combine(day, time(23, 59, 59), tzinfo=AMSTERDAM).astimezone(UTC)


def _grade(rng: random.Random, level: EducationLevel) -> str:
    if level is EducationLevel.MBO:
        return rng.choice(WORD_GRADES)
    return _DECIMAL_GRADES[rng.randint(60, 92) - 60]


def make_bundle(index: int, *, seed: int = DEFAULT_SEED, today: date) -> Bundle:
    """The person with this index: a pure function of (seed, index, today)."""
    rng = random.Random(seed * 1_000_003 + index)
    country, zone = rng.choices(_PLACES, cum_weights=_PLACE_CUM_WEIGHTS)[0]
    if index == 1:
        given, family, dob, country, zone = (
            "Ayu",
            "Lestari",
            DEMO_DATE_OF_BIRTH,
            "ID",
            "Asia/Jakarta",
        )
    else:
        given, family = rng.choice(GIVEN_NAMES), rng.choice(FAMILY_NAMES)
        dob = date(1975, 1, 1) + timedelta(days=rng.randint(0, 365 * 27))
    person_id = _uuid(rng)
    bundle = Bundle(
        person={
            "id": person_id,
            "customer_number": customer_number(index),
            "given_names": given,
            "family_name": family,
            "date_of_birth": dob,
            "country_of_residence": country,
            "preferred_language": "nl" if country in ("NL", "BE", "SR", "CW") else "en",
            "time_zone": zone,
            "created_at": _CREATED_AT,
        }
    )

    # Education: secondary school at 18, then usually one or two higher programmes.
    year = dob.year + 18
    paths = [EducationLevel.VO, *rng.choice(_PATHS)]
    for level in paths:
        institution, programme, code, subjects = rng.choice(PROGRAMMES[level])
        start = date(year - (6 if level is EducationLevel.VO else 0), 9, 1)
        years = _YEARS.get(level, 3)
        end = date(start.year + years, 7, rng.randint(1, 20))
        finished = end < today and rng.random() > 0.1
        status = (
            EnrolmentStatus.COMPLETED
            if finished
            else EnrolmentStatus.ENROLLED
            if end >= today
            else EnrolmentStatus.DISCONTINUED
        )
        # Register references: level and start year tell a person's programmes apart.
        ref = f"{level.value}-{start.year}"
        bundle.enrolments.append(
            {
                "id": _uuid(rng),
                "person_id": person_id,
                "ref": ref,
                "institution": institution,
                "programme": programme,
                "level": level,
                "start_date": start,
                "end_date": end if status is not EnrolmentStatus.ENROLLED else None,
                "status": status,
            }
        )
        if status is EnrolmentStatus.COMPLETED:
            diploma_id = _uuid(rng)
            bundle.diplomas.append(
                {
                    "id": diploma_id,
                    "person_id": person_id,
                    "ref": ref,
                    "institution": institution,
                    "programme": programme,
                    "programme_code": code,
                    "level": level,
                    "awarded_on": end,
                }
            )
            for position, subject in enumerate(subjects):
                bundle.results.append(
                    {
                        "id": _uuid(rng),
                        "diploma_id": diploma_id,
                        "position": position,
                        "subject": subject,
                        "grade": _grade(rng, level),
                        "credits": rng.choice([5, 6, 7, 10, 15])
                        if level in (EducationLevel.HBO, EducationLevel.WO)
                        else None,
                    }
                )
        year = end.year

    # Study finance: most ex-students abroad repay a loan.
    if rng.random() < 0.85 or index == 1:
        debt = rng.randint(2_000_00, 45_000_00)
        scheme = rng.choice([RepaymentScheme.SF15, RepaymentScheme.SF35])
        term = 180 if scheme is RepaymentScheme.SF15 else 420
        next_due = date(today.year, today.month, 1) + timedelta(days=32)
        bundle.finance = {
            "person_id": person_id,
            "debt_cents": debt,
            "repayment_scheme": scheme,
            "monthly_amount_cents": max(debt // term, 45_00),
            "interest_rate_basis_points": rng.choice([0, 46, 256]),
            "next_due_date": next_due.replace(day=1),
            "updated_at": datetime.combine(today, time(6), tzinfo=UTC),
        }
        # The annual payment window closes on 31 December (Dutch time).
        bundle.deadlines.append(
            {
                "id": _uuid(rng),
                "person_id": person_id,
                "ref": f"{DeadlineKind.PAYMENT.value}-{today.year}",
                "kind": DeadlineKind.PAYMENT,
                "due_at": _end_of_day_amsterdam(date(today.year, 12, 31)),
                "description": "Annual repayment for people abroad: pay before 31 December.",
                "completed_at": None,
            }
        )
        bundle.deadlines.append(
            {
                "id": _uuid(rng),
                "person_id": person_id,
                "ref": f"{DeadlineKind.INCOME_STATEMENT.value}-{today.year}",
                "kind": DeadlineKind.INCOME_STATEMENT,
                "due_at": _end_of_day_amsterdam(today + timedelta(days=rng.randint(10, 90))),
                "description": "Send proof of your income of last year to set your monthly amount.",
                "completed_at": None,
            }
        )
    if rng.random() < 0.2:
        bundle.deadlines.append(
            {
                "id": _uuid(rng),
                "person_id": person_id,
                "ref": f"{DeadlineKind.APPLICATION.value}-{today.year}",
                "kind": DeadlineKind.APPLICATION,
                "due_at": _end_of_day_amsterdam(today + timedelta(days=rng.randint(20, 200))),
                "description": "Apply for a reduced monthly amount (draagkrachtmeting).",
                "completed_at": None,
            }
        )
    bundle.messages.append(
        {
            "id": _uuid(rng),
            "person_id": person_id,
            "kind": MessageKind.INFO,
            "text_key": "welcome",  # notifications/messages.py: rendered in the reader's language
            "params": {},
            "subject": "Welkom bij DUO Abroad"
            if bundle.person["preferred_language"] == "nl"
            else "Welcome to DUO Abroad",
            "body": "U kunt hier uw gegevens, diploma's en formulieren bekijken, ook offline."
            if bundle.person["preferred_language"] == "nl"
            else "Here you can see your records, diplomas and forms, also offline.",
            "created_at": datetime.combine(today, time(8), tzinfo=UTC),
            "read_at": None,
        }
    )
    return bundle


def generate(
    count: int, *, seed: int = DEFAULT_SEED, today: date, start: int = 1
) -> Iterator[Bundle]:
    for index in range(start, start + count):
        yield make_bundle(index, seed=seed, today=today)


TABLES: list[tuple[type[Any], Callable[[Bundle], list[dict[str, Any]]]]] = [
    (Person, lambda b: [b.person]),
    (Enrolment, lambda b: b.enrolments),
    (Diploma, lambda b: b.diplomas),
    (DiplomaResult, lambda b: b.results),
    (StudyFinance, lambda b: [b.finance] if b.finance else []),
    (Deadline, lambda b: b.deadlines),
    (InboxMessage, lambda b: b.messages),
]


# Below this many new persons a COPY saves nothing worth a second code path (tests add one).
COPY_MIN_BUNDLES = 100


async def insert_bundles(db: AsyncSession, bundles: list[Bundle]) -> int:
    """Bulk-insert bundles whose customer numbers are not there yet; returns how many were new."""
    existing = await _existing_numbers(db, [b.person["customer_number"] for b in bundles])
    if not existing and len(bundles) >= COPY_MIN_BUNDLES:
        driver = await asyncpg_connection(db)
        if driver is not None:
            await _copy_bundles(driver, bundles)
            return len(bundles)
    fresh = [b for b in bundles if b.person["customer_number"] not in existing]
    for model, rows_of in TABLES:
        rows = [row for b in fresh for row in rows_of(b)]
        if rows:
            await db.execute(insert(model), rows)
    return len(fresh)


async def _existing_numbers(db: AsyncSession, numbers: list[str]) -> set[str]:
    wanted = set(numbers)
    lowest, highest = min(wanted), max(wanted)
    if _consecutive_demo_numbers(wanted, lowest, highest):
        # A seeding chunk: one index range scan. On PostgreSQL an IN list of a thousand is ~15x
        # slower, and a sequential scan while the table is being loaded (stale statistics),
        # which made seeding quadratic. Strings of one length that differ only in digits sort
        # like their numbers in any collation, so the range holds every wanted number.
        condition = Person.customer_number.between(lowest, highest)
    else:
        condition = Person.customer_number.in_(numbers)
    found = await db.scalars(select(Person.customer_number).where(condition))
    return {number for number in found if number in wanted}


def _consecutive_demo_numbers(numbers: set[str], lowest: str, highest: str) -> bool:
    if not all(_DEMO_NUMBER.fullmatch(number) for number in numbers):
        return False
    return int(highest[2:]) - int(lowest[2:]) + 1 == len(numbers)


async def _copy_bundles(driver: Any, bundles: list[Bundle]) -> None:
    # Binary COPY: asyncpg encodes the tuples in Cython, PostgreSQL skips SQL parsing and
    # planning per row. It joins the session's transaction (the SELECT above began it), so the
    # caller's commit or rollback covers it like the INSERT path.
    for model, rows_of in TABLES:
        table = model.__table__
        columns = [column.name for column in table.columns]
        as_tuple = itemgetter(*columns)
        records = [as_tuple(row) for b in bundles for row in rows_of(b)]
        if records:
            await driver.copy_records_to_table(table.name, records=records, columns=columns)


async def seed_demo(
    db: AsyncSession,
    *,
    persons: int,
    seed: int = DEFAULT_SEED,
    today: date | None = None,
    chunk: int = 1000,
    on_progress: Callable[[int], None] | None = None,
) -> int:
    """Create demo persons 1..persons idempotently; commits per chunk. Returns new persons."""
    today = today or datetime.now(UTC).date()
    created = 0
    for start in range(1, persons + 1, chunk):
        size = min(chunk, persons + 1 - start)
        created += await insert_bundles(
            db, list(generate(size, seed=seed, today=today, start=start))
        )
        await db.commit()
        if on_progress:
            on_progress(size)
    return created
