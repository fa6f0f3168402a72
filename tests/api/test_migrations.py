"""Migrations build the same schema as the models, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncConnection

from api.migrate import alembic_config
from api.models import Base


async def test_database_is_at_head_with_no_drift(connection: AsyncConnection) -> None:
    """The session fixture migrated an empty database; nothing differs from the models."""

    def check(sync_connection: object) -> tuple[str | None, list[object]]:
        context = MigrationContext.configure(
            sync_connection,  # type: ignore[arg-type]
            opts={"compare_type": True, "render_as_batch": True},
        )
        return context.get_current_revision(), compare_metadata(context, Base.metadata)

    revision, diff = await connection.run_sync(check)
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert revision == head
    assert diff == []
