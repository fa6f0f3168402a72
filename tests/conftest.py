"""Test fixtures: a migrated database, a per-test transaction rolled back at teardown, the app.

The suite runs on SQLite by default and on PostgreSQL when DATABASE_URL says so
(`.ci/run` does both). See SQLAlchemy's "joining a session into an external transaction".
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from api.app import create_app
from api.database import create_engine
from api.migrate import upgrade_connection
from api.settings import Settings
from records.demo import Bundle
from tests.support import add_person, asgi_client


def _database_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    directory = Path(tempfile.mkdtemp(prefix="duo-test-"))
    return f"sqlite+aiosqlite:///{directory / 'test.sqlite3'}"


@pytest.fixture(scope="session")
def database_url() -> str:
    return _database_url()


@pytest.fixture(scope="session")
def is_postgres(database_url: str) -> bool:
    return make_url(database_url).get_backend_name() == "postgresql"


async def reset_database(engine: AsyncEngine) -> None:
    """Start from an empty database, so migrations are tested from zero on every run."""
    if engine.dialect.name == "postgresql":
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    await reset_database(engine)
    async with engine.begin() as conn:
        await upgrade_connection(conn)
    yield engine
    await engine.dispose()


@pytest.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as conn:
        transaction = await conn.begin()
        try:
            yield conn
        finally:
            await transaction.rollback()


@pytest.fixture
def session_factory(connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    # Sessions that commit only release a SAVEPOINT; the outer transaction is rolled back.
    return async_sessionmaker(
        bind=connection,
        expire_on_commit=False,
        autoflush=False,
        join_transaction_mode="create_savepoint",
    )


@pytest.fixture
async def db(session_factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with session_factory() as session:
        yield session


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(environment="test", database_url=database_url, allow_adhoc_queries=True)


@pytest.fixture
def app(settings: Settings, session_factory: async_sessionmaker[AsyncSession]) -> Litestar:
    return create_app(settings, session_factory=session_factory)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app) as c:
        yield c


@pytest.fixture
def person_factory(db: AsyncSession) -> Any:
    async def factory(**person: Any) -> Bundle:
        return await add_person(db, **person)

    return factory
