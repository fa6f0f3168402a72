"""GraphQL types for a person's records: explicit fields, never auto-mapped from the ORM."""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum

import strawberry

from records import models
from records.texts import deadline_description


@strawberry.enum(description="Dutch education level.")
class EducationLevel(Enum):
    VO = "vo"
    MBO = "mbo"
    HBO = "hbo"
    WO = "wo"


@strawberry.enum
class EnrolmentStatus(Enum):
    ENROLLED = "enrolled"
    COMPLETED = "completed"
    DISCONTINUED = "discontinued"


@strawberry.enum
class RepaymentScheme(Enum):
    SF15 = "sf15"
    SF35 = "sf35"
    NONE = "none"


@strawberry.enum
class DeadlineKind(Enum):
    PAYMENT = "payment"
    INCOME_STATEMENT = "income_statement"
    APPLICATION = "application"
    DOCUMENT = "document"


@strawberry.type(description="A person as registered with DUO.")
class Person:
    id: strawberry.ID
    customer_number: str
    given_names: str
    family_name: str
    date_of_birth: date
    country_of_residence: str = strawberry.field(description="ISO 3166-1 alpha-2 code.")
    preferred_language: str = strawberry.field(
        description="'en' or 'nl': every text the server makes for the person is in it."
    )
    language_chosen: bool = strawberry.field(
        description="The person chose the language in the app (a device then follows it); "
        "false: DUO's register's or a device's own, which a device may replace."
    )
    time_zone: str = strawberry.field(description="IANA time zone name.")

    @classmethod
    def from_model(cls, person: models.Person) -> Person:
        return cls(
            id=strawberry.ID(str(person.id)),
            customer_number=person.customer_number,
            given_names=person.given_names,
            family_name=person.family_name,
            date_of_birth=person.date_of_birth,
            country_of_residence=person.country_of_residence,
            preferred_language=person.preferred_language,
            language_chosen=person.language_chosen_at is not None,
            time_zone=person.time_zone,
        )


@strawberry.type(description="One line of education history.")
class Enrolment:
    id: strawberry.ID
    institution: str
    programme: str
    level: EducationLevel
    start_date: date
    end_date: date | None
    status: EnrolmentStatus

    @classmethod
    def from_model(cls, row: models.Enrolment) -> Enrolment:
        return cls(
            id=strawberry.ID(str(row.id)),
            institution=row.institution,
            programme=row.programme,
            level=EducationLevel(row.level.value),
            start_date=row.start_date,
            end_date=row.end_date,
            status=EnrolmentStatus(row.status.value),
        )


@strawberry.type(description="A grade or result for one subject or course.")
class DiplomaResult:
    subject: str
    grade: str = strawberry.field(description="As printed on the diploma, e.g. '7.5' or 'goed'.")
    credits: int | None = strawberry.field(description="ECTS credits, where the course has them.")


@strawberry.type
class Diploma:
    id: strawberry.ID
    institution: str
    programme: str
    programme_code: str | None
    level: EducationLevel
    awarded_on: date
    results: list[DiplomaResult]

    @classmethod
    def from_model(cls, row: models.Diploma) -> Diploma:
        return cls(
            id=strawberry.ID(str(row.id)),
            institution=row.institution,
            programme=row.programme,
            programme_code=row.programme_code,
            level=EducationLevel(row.level.value),
            awarded_on=row.awarded_on,
            results=[
                DiplomaResult(subject=r.subject, grade=r.grade, credits=r.credits)
                for r in row.results
            ],
        )


@strawberry.type(description="An amount of money in minor units, exact.")
class Money:
    cents: int
    currency: str


@strawberry.type
class StudyFinance:
    debt: Money
    monthly_amount: Money
    repayment_scheme: RepaymentScheme
    interest_rate_percent: float
    next_due_date: date | None
    updated_at: datetime

    @classmethod
    def from_model(cls, row: models.StudyFinance) -> StudyFinance:
        return cls(
            debt=Money(cents=row.debt_cents, currency="EUR"),
            monthly_amount=Money(cents=row.monthly_amount_cents, currency="EUR"),
            repayment_scheme=RepaymentScheme(row.repayment_scheme.value),
            interest_rate_percent=row.interest_rate_basis_points / 100,
            next_due_date=row.next_due_date,
            updated_at=row.updated_at,
        )


@strawberry.type
class Deadline:
    id: strawberry.ID
    kind: DeadlineKind
    due_at: datetime
    description: str
    completed: bool

    @classmethod
    def from_model(cls, row: models.Deadline, language: str) -> Deadline:
        return cls(
            id=strawberry.ID(str(row.id)),
            kind=DeadlineKind(row.kind.value),
            due_at=row.due_at,
            description=deadline_description(row.kind, row.description, language),
            completed=row.completed_at is not None,
        )


@strawberry.input
class PreferencesInput:
    preferred_language: str | None = None
    time_zone: str | None = None
    language_from_device: bool = strawberry.field(
        default=False,
        description="preferredLanguage is the device's own language, not a choice: it is "
        "taken only while the person has not chosen one in the app.",
    )
