"""Running alembic from code: the CLI, `make run` and the tests all migrate the same way."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import AsyncConnection

from api.settings import PROJECT_ROOT


def alembic_config(database_url: str | None = None) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    if database_url:
        config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Migrate a database to a revision (synchronous: not for use inside an event loop)."""
    command.upgrade(alembic_config(database_url), revision)


async def upgrade_connection(connection: AsyncConnection, revision: str = "head") -> None:
    """Migrate over an existing async connection (tests, running event loops)."""

    def _run(sync_connection: object) -> None:
        config = alembic_config()
        config.attributes["connection"] = sync_connection
        command.upgrade(config, revision)

    await connection.run_sync(_run)
