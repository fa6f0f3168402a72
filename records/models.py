"""DUO's records of a person: identity, education history, diplomas, study finance, deadlines."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Date,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from api.database import Base, PortableJSON, UTCDateTime, new_id, string_enum, utcnow


class EducationLevel(enum.StrEnum):
    VO = "vo"  # secondary education
    MBO = "mbo"  # secondary vocational
    HBO = "hbo"  # universities of applied sciences
    WO = "wo"  # research universities


class EnrolmentStatus(enum.StrEnum):
    ENROLLED = "enrolled"
    COMPLETED = "completed"
    DISCONTINUED = "discontinued"


class RepaymentScheme(enum.StrEnum):
    # Dutch repayment regimes, named by their repayment term in years.
    SF15 = "sf15"
    SF35 = "sf35"
    NONE = "none"


class DeadlineKind(enum.StrEnum):
    PAYMENT = "payment"
    INCOME_STATEMENT = "income_statement"
    APPLICATION = "application"
    DOCUMENT = "document"


def generated_ref() -> str:
    """A reference for a record that did not come from a register (created by hand or a test)."""
    return f"local-{new_id().hex}"


class Person(Base):
    __tablename__ = "persons"
    # Access requests (access/) look candidates up by date of birth, then compare names.
    __table_args__ = (Index("ix_persons_date_of_birth", "date_of_birth"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    # DUO's own customer number (klantnummer); what staff quote and what activation binds to.
    customer_number: Mapped[str] = mapped_column(String(16), unique=True)
    given_names: Mapped[str] = mapped_column(String(200))
    family_name: Mapped[str] = mapped_column(String(200))
    date_of_birth: Mapped[date] = mapped_column(Date)
    country_of_residence: Mapped[str] = mapped_column(String(2))  # ISO 3166-1 alpha-2
    preferred_language: Mapped[str] = mapped_column(String(2), default="en")
    # When the person chose it in the app (#16 item 1); None: DUO's register's, or a device's
    # own language, which a choice made in the app overrides and other devices do not.
    language_chosen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    time_zone: Mapped[str] = mapped_column(String(64), default="Europe/Amsterdam")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    enrolments: Mapped[list[Enrolment]] = relationship(
        back_populates="person", order_by="Enrolment.start_date", passive_deletes=True
    )
    diplomas: Mapped[list[Diploma]] = relationship(
        back_populates="person", order_by="Diploma.awarded_on", passive_deletes=True
    )


class Enrolment(Base):
    """One line of education history."""

    __tablename__ = "enrolments"
    __table_args__ = (
        Index("ix_enrolments_person_start", "person_id", "start_date"),
        UniqueConstraint("person_id", "ref", name="uq_enrolments_person_ref"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"))
    # DUO's register reference of this record, unique per person: what an import matches on.
    ref: Mapped[str] = mapped_column(String(64), default=generated_ref)
    institution: Mapped[str] = mapped_column(String(200))
    programme: Mapped[str] = mapped_column(String(200))
    level: Mapped[EducationLevel] = mapped_column(string_enum(EducationLevel, "education_level"))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    status: Mapped[EnrolmentStatus] = mapped_column(
        string_enum(EnrolmentStatus, "enrolment_status")
    )

    person: Mapped[Person] = relationship(back_populates="enrolments")


class Diploma(Base):
    __tablename__ = "diplomas"
    __table_args__ = (
        Index("ix_diplomas_person_awarded", "person_id", "awarded_on"),
        UniqueConstraint("person_id", "ref", name="uq_diplomas_person_ref"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"))
    # DUO's register reference, unique per person: an import corrects a diploma in place (its
    # extracts keep pointing at it) instead of adding a second one.
    ref: Mapped[str] = mapped_column(String(64), default=generated_ref)
    institution: Mapped[str] = mapped_column(String(200))
    programme: Mapped[str] = mapped_column(String(200))
    # CROHO/CREBO programme code as registered with DUO, where the level has one.
    programme_code: Mapped[str | None] = mapped_column(String(16))
    level: Mapped[EducationLevel] = mapped_column(string_enum(EducationLevel, "diploma_level"))
    awarded_on: Mapped[date] = mapped_column(Date)

    person: Mapped[Person] = relationship(back_populates="diplomas")
    results: Mapped[list[DiplomaResult]] = relationship(
        back_populates="diploma", order_by="DiplomaResult.position", passive_deletes=True
    )


class DiplomaResult(Base):
    """A grade or result for one subject or course of a diploma."""

    __tablename__ = "diploma_results"
    __table_args__ = (
        # One result per position: an import replaces a diploma's list position by position.
        UniqueConstraint("diploma_id", "position", name="uq_diploma_results_diploma_position"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    diploma_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("diplomas.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(SmallInteger)
    subject: Mapped[str] = mapped_column(String(200))
    # Dutch grades are 1-10 with one decimal, or words (voldoende/goed); kept as printed.
    grade: Mapped[str] = mapped_column(String(32))
    credits: Mapped[int | None] = mapped_column(SmallInteger)  # ECTS, for hbo/wo courses

    diploma: Mapped[Diploma] = relationship(back_populates="results")


class StudyFinance(Base):
    __tablename__ = "study_finance"

    person_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("persons.id", ondelete="CASCADE"), primary_key=True
    )
    # Money in euro cents: exact, no float rounding.
    debt_cents: Mapped[int] = mapped_column(BigInteger)
    repayment_scheme: Mapped[RepaymentScheme] = mapped_column(
        string_enum(RepaymentScheme, "repayment_scheme")
    )
    monthly_amount_cents: Mapped[int] = mapped_column(Integer)
    interest_rate_basis_points: Mapped[int] = mapped_column(SmallInteger)
    next_due_date: Mapped[date | None] = mapped_column(Date)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# The default of Deadline.next_reminder_check_at, in the form SQLite stores datetimes in.
LONG_AGO = "1970-01-01 00:00:00.000000"


class Deadline(Base):
    __tablename__ = "deadlines"
    __table_args__ = (
        Index("ix_deadlines_person_due", "person_id", "due_at"),
        UniqueConstraint("person_id", "ref", name="uq_deadlines_person_ref"),
        # The minute's reminder tick reads only the deadlines due for a look (issue #14).
        Index("ix_deadlines_next_reminder_check", "next_reminder_check_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"))
    # DUO's register reference (e.g. "payment-2026"), unique per person: a moved due date is the
    # same deadline, updated in place and planned again for reminders.
    ref: Mapped[str] = mapped_column(String(64), default=generated_ref)
    kind: Mapped[DeadlineKind] = mapped_column(string_enum(DeadlineKind, "deadline_kind"))
    # An instant: "31 December, end of day in the Netherlands" is stored as its UTC moment.
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    description: Mapped[str] = mapped_column(Text)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the reminder scheduler (notifications/scheduler.py) next needs to look at it; NULL:
    # never again. A new row starts long ago, however it is written, so the next tick plans it.
    next_reminder_check_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, server_default=text(f"'{LONG_AGO}'")
    )


class ImportStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"  # every line read; some may have been rejected (see the report)
    FAILED = "failed"  # the database stopped it: running it again finishes it


class RecordImport(Base):
    """A JSON Lines file a staff member uploaded, imported in the background (records/imports/).

    The file and its report of rejected lines live under IMPORT_DIR, named by this id.
    """

    __tablename__ = "record_imports"
    __table_args__ = (Index("ix_record_imports_created", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    # Who started it: a staff member (their realm's id, as in the audit trail) and their name then.
    staff_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    staff_name: Mapped[str] = mapped_column(String(100))
    file_name: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))  # hex, of the file as received
    status: Mapped[ImportStatus] = mapped_column(string_enum(ImportStatus, "import_status"))
    bytes_read: Mapped[int] = mapped_column(BigInteger, default=0)
    lines: Mapped[int] = mapped_column(Integer, default=0)
    changed: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    # Per record type: {"person": {"inserted": 1, ...}, ...}; set as batches commit.
    counts: Mapped[dict[str, dict[str, int]] | None] = mapped_column(PortableJSON)
    error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Moved on by every committed batch: a running import whose heartbeat stopped was interrupted.
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
