"""Running alembic from code: the CLI, `make run` and the tests all migrate the same way."""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncConnection

from api.resources import migrations_dir


def alembic_config(database_url: str | None = None) -> Config:
    # No alembic.ini: it sits in the checkout only (for the `alembic` command); an installed
    # package finds its migrations as the `migrations` package.
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.set_main_option("path_separator", "os")
    if database_url:
        config.attributes["database_url"] = database_url
    return config


class _Applied(logging.Handler):
    """Collects alembic's "Running upgrade A -> B, message" lines instead of printing them."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.revisions: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("Running upgrade ") and " -> " in message:
            self.revisions.append(message.split(" -> ", 1)[1].split(",", 1)[0].strip())


@contextmanager
def _collecting_steps() -> Iterator[_Applied]:
    # One line per migration on every first `make run` is noise for a newcomer (issue #15);
    # the CLI prints one line saying what was applied instead.
    logger = logging.getLogger("alembic.runtime.migration")
    handler, level, propagate = _Applied(), logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


def upgrade(database_url: str, revision: str = "head") -> list[str]:
    """Migrate a database to a revision (synchronous: not for use inside an event loop).

    Returns the revisions applied, in order (none when it was already there).
    """
    with _collecting_steps() as steps:
        command.upgrade(alembic_config(database_url), revision)
    return steps.revisions


async def upgrade_connection(connection: AsyncConnection, revision: str = "head") -> None:
    """Migrate over an existing async connection (tests, running event loops)."""

    def _run(sync_connection: object) -> None:
        config = alembic_config()
        config.attributes["connection"] = sync_connection
        command.upgrade(config, revision)

    await connection.run_sync(_run)


@dataclass(frozen=True, slots=True)
class Revisions:
    """The migrations this code ships: what the database must be at, and what it knows."""

    heads: frozenset[str]
    known: frozenset[str]

    def judge(self, current: Collection[str]) -> str:
        """`ok` at head; `behind` when this code needs migrations the database lacks (or has
        none); `ahead` when it is at a revision newer than this code (a rolling deploy:
        migrations add, so the older code still works)."""
        if set(current) == set(self.heads):
            return "ok"
        if not current or all(revision in self.known for revision in current):
            return "behind"
        return "ahead"


def script_revisions() -> Revisions:
    """Read from the migration scripts, not the database."""
    scripts = ScriptDirectory.from_config(alembic_config())
    return Revisions(
        heads=frozenset(scripts.get_heads()),
        known=frozenset(script.revision for script in scripts.walk_revisions()),
    )


async def revisions(connection: AsyncConnection) -> tuple[set[str], set[str]]:
    """(the database's current revisions, the code's heads): equal when nothing is pending."""
    from alembic.runtime.migration import MigrationContext

    def _current(sync_connection: Any) -> set[str]:
        return set(MigrationContext.configure(sync_connection).get_current_heads())

    return await connection.run_sync(_current), set(script_revisions().heads)
