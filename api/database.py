"""Database plumbing shared by every feature: the declarative base, portable types, the engine."""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, DateTime, Enum, MetaData, event, make_url
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator

from api.settings import Settings

# Deterministic constraint names keep alembic migrations identical on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC and always returns aware datetimes (SQLite drops the offset otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def string_enum(kind: type[enum.StrEnum], name: str, *, length: int = 32) -> Enum:
    """An enum stored as its plain string values with a CHECK constraint.

    Portable and readable in SQL, and adding a member never needs a PostgreSQL ALTER TYPE.
    """
    return Enum(
        kind,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=length,
        values_callable=lambda members: [m.value for m in members],
    )


# JSONB on PostgreSQL (indexable, compact), JSON text elsewhere.
PortableJSON = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> uuid.UUID:
    return uuid.uuid4()


def _sqlite_pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # SQLite enforces foreign keys only per connection; WAL lets readers run beside a writer.
    # isolation_level=None stops the driver from issuing its own (late) BEGIN, so that
    # SQLAlchemy's BEGIN below and SAVEPOINTs behave as on PostgreSQL.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    # Writers take the lock up front (begin_write): a deferred transaction that reads and
    # then writes fails at once with "database is locked" if another writer committed in
    # between, instead of waiting its turn on busy_timeout.
    immediate = connection.get_execution_options().get(WRITE_INTENT, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


WRITE_INTENT = "duo_write_intent"


async def begin_write(db: AsyncSession) -> None:
    """Start the session's transaction as a write transaction (SQLite: BEGIN IMMEDIATE).

    A no-op when a transaction is already open (e.g. the tests' outer transaction) and on
    PostgreSQL, where row locks and MVCC make the distinction unnecessary.
    """
    if not db.in_transaction():
        await db.connection(execution_options={WRITE_INTENT: True})


async def asyncpg_connection(db: AsyncSession) -> Any | None:
    """The asyncpg connection under the session's, inside its transaction (for COPY); None on
    other drivers."""
    connection = await db.connection()
    if connection.dialect.driver != "asyncpg":
        return None
    raw = await connection.get_raw_connection()
    return raw.driver_connection


def create_engine(
    database_url: str,
    *,
    echo: bool = False,
    timeouts: Settings | None = None,
    custom_plans: bool = False,
) -> AsyncEngine:
    """Build the async engine for a URL; SQLite gets the pragmas it needs to behave.

    With `timeouts` (the server's and the workers' settings), nothing waits on PostgreSQL for
    ever: connecting, each statement (server and client side) and a free pooled connection are
    bounded. One-off commands (migrate, seed-demo) leave them out: their statements may be long.

    `custom_plans` (the push workers): PostgreSQL plans each execution for its parameters
    instead of settling on a generic plan after five. A burst of reminders grows the tables the
    worker reads by hundreds of thousands of rows within a minute, faster than autovacuum
    analyzes them; a generic plan made while they were small stayed, and a job's claim took
    45 ms instead of 3 at 100,000 deliveries (issue #14). Planning costs about a millisecond.
    """
    if database_url.startswith("sqlite"):
        database = make_url(database_url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(database_url, echo=echo)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    options: dict[str, Any] = {}
    connect_args: dict[str, Any] = {}
    if timeouts is not None:
        options["pool_timeout"] = timeouts.database_pool_timeout_seconds
        connect_args = asyncpg_timeouts(timeouts)
    if custom_plans:
        connect_args.setdefault("server_settings", {})["plan_cache_mode"] = "force_custom_plan"
    if connect_args:
        options["connect_args"] = connect_args
    return create_async_engine(
        database_url,
        echo=echo,
        poolclass=WatchedPool,
        pool_size=10,
        max_overflow=10,
        pool_pre_ping=True,
        **options,
    )


def asyncpg_timeouts(settings: Settings) -> dict[str, Any]:
    """asyncpg.connect() arguments: connect and command timeouts, PostgreSQL's statement_timeout."""
    statement_ms = int(settings.database_statement_timeout_seconds * 1000)
    return {
        "timeout": settings.database_connect_timeout_seconds,
        "command_timeout": settings.database_command_timeout_seconds,
        "server_settings": {"statement_timeout": str(statement_ms)},
    }


class WatchedPool(AsyncAdaptedQueuePool):
    """SQLAlchemy's async queue pool, counting who waits for a connection (api.metrics samples
    it: a pool too small for the load shows as waiting before it shows as timeouts)."""

    waiting = 0

    def _do_get(self) -> ConnectionPoolEntry:
        self.waiting += 1
        try:
            return super()._do_get()
        finally:
            self.waiting -= 1


def create_session_factory(bind: Any) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: objects stay readable after commit (async sessions cannot lazy-load).
    return async_sessionmaker(bind=bind, expire_on_commit=False, autoflush=False)
