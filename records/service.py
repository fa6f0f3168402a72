"""Reading and updating a person's own records. Every function is scoped by person_id, except
the DUO staff lookups at the end (find_persons, find_person), which the staff UI guards."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from api.database import utcnow
from api.errors import InvalidInput, NotFound, Unauthenticated
from api.pagination import Page, paginate
from notifications.checks import plan_again_for_persons
from records.models import Deadline, Diploma, Enrolment, Person, StudyFinance

SUPPORTED_LANGUAGES = ("en", "nl")


async def get_person(db: AsyncSession, person_id: uuid.UUID) -> Person:
    person = await db.get(Person, person_id)
    if person is None:
        # A session whose person is gone is as good as no session.
        raise Unauthenticated()
    return person


async def list_enrolments(db: AsyncSession, person_id: uuid.UUID) -> Sequence[Enrolment]:
    stmt = (
        select(Enrolment)
        .where(Enrolment.person_id == person_id)
        .order_by(Enrolment.start_date.desc(), Enrolment.id)
    )
    return (await db.scalars(stmt)).all()


async def list_diplomas(db: AsyncSession, person_id: uuid.UUID) -> Sequence[Diploma]:
    # selectinload: one extra statement for all results, however many diplomas there are.
    stmt = (
        select(Diploma)
        .where(Diploma.person_id == person_id)
        .options(selectinload(Diploma.results))
        .order_by(Diploma.awarded_on.desc(), Diploma.id)
    )
    return (await db.scalars(stmt)).all()


async def get_diploma(db: AsyncSession, person_id: uuid.UUID, diploma_id: uuid.UUID) -> Diploma:
    stmt = (
        select(Diploma)
        .where(Diploma.id == diploma_id, Diploma.person_id == person_id)
        .options(selectinload(Diploma.results))
    )
    diploma = await db.scalar(stmt)
    if diploma is None:
        raise NotFound("No such diploma.", field="id")
    return diploma


async def get_study_finance(db: AsyncSession, person_id: uuid.UUID) -> StudyFinance | None:
    return await db.get(StudyFinance, person_id)


async def list_deadlines(
    db: AsyncSession,
    person_id: uuid.UUID,
    *,
    first: int,
    after: str | None,
    include_completed: bool,
) -> Page[Deadline]:
    stmt = select(Deadline).where(Deadline.person_id == person_id)
    if not include_completed:
        stmt = stmt.where(Deadline.completed_at.is_(None))
    return await paginate(
        db,
        stmt,
        order_column=Deadline.due_at,
        id_column=Deadline.id,
        first=first,
        after=after,
        descending=False,
    )


def _check_time_zone(name: str) -> None:
    # ZoneInfo also accepts file paths like "../../etc/x"; only IANA names are allowed.
    if name not in available_timezones():
        raise InvalidInput(
            "Unknown time zone; use an IANA name like Asia/Jakarta.", field="timeZone"
        )
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput("Unknown time zone.", field="timeZone") from exc


async def update_preferences(
    db: AsyncSession,
    person_id: uuid.UUID,
    *,
    preferred_language: str | None,
    time_zone: str | None,
    language_from_device: bool = False,
) -> Person:
    """Change what the person may change themselves: language and time zone.

    A language chosen in the app is the person's from then on; a device's own language
    (`language_from_device`) is taken only while the person never chose one (#16 item 1).
    """
    if preferred_language is not None and preferred_language not in SUPPORTED_LANGUAGES:
        raise InvalidInput("Language must be 'en' or 'nl'.", field="preferredLanguage")
    if time_zone is not None:
        _check_time_zone(time_zone)
    person = await get_person(db, person_id)
    if preferred_language is not None and not (
        language_from_device and person.language_chosen_at is not None
    ):
        person.preferred_language = preferred_language
        if not language_from_device:
            person.language_chosen_at = utcnow()
    if time_zone is not None and time_zone != person.time_zone:
        person.time_zone = time_zone
        await plan_again_for_persons(db, [person.id])  # reminders follow the new zone
    await db.flush()
    return person


async def find_persons(
    db: AsyncSession,
    *,
    customer_number: str | None = None,
    family_name: str | None = None,
    date_of_birth: date | None = None,
    limit: int = 20,
) -> Sequence[Person]:
    """DUO staff's lookup: by exact customer number, or by family name and date of birth.

    Exact matches only (case-insensitive name): a search is for finding the person one is
    helping, not for browsing the register.
    """
    if customer_number:
        stmt = select(Person).where(Person.customer_number == customer_number.strip().upper())
    elif family_name and date_of_birth:
        stmt = select(Person).where(
            func.lower(Person.family_name) == family_name.strip().lower(),
            Person.date_of_birth == date_of_birth,
        )
    else:
        return []
    return (await db.scalars(stmt.order_by(Person.customer_number).limit(limit))).all()


async def find_person(db: AsyncSession, person_id: uuid.UUID) -> Person:
    """Any person by id (for DUO staff); NotFound, unlike get_person's signed-in view."""
    person = await db.get(Person, person_id)
    if person is None:
        raise NotFound("No such person.", field="id")
    return person
