"""Alembic environment: async engines; batch mode so one set of files fits SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import JSON
from sqlalchemy.engine import Connection

from api.database import UTCDateTime, create_engine
from api.models import Base
from api.settings import load_settings

config = context.config
target_metadata = Base.metadata


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    # Custom types render as their import, so migrations do not depend on api internals moving.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        autogen_context.imports.add("from api.database import UTCDateTime")
        return "UTCDateTime()"
    if type_ == "type" and isinstance(obj, JSON) and "postgresql" in obj._variant_mapping:
        autogen_context.imports.add("from api.database import PortableJSON")
        return "PortableJSON"
    return False


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        render_item=render_item,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_configure)
            await connection.commit()
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:  # handed in by api.migrate (already inside an event loop)
        _configure(connection)
        return
    url = config.attributes.get("database_url") or load_settings().database_url
    asyncio.run(_run_async(url))


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; run against a database")
run_migrations_online()
