"""form outbox keys: the owner id and sealing key that bind forms waiting on a device to a person

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 09:00:00.000000

Written by hand in the shape autogenerate gives (tests/api/test_migrations.py: no drift).
Rows are made on first use (forms/outbox.py), so nothing is filled in here.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from api.database import UTCDateTime

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "form_outbox_keys",
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("owner", sa.String(length=32), nullable=False),
        sa.Column("key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["persons.id"],
            name=op.f("fk_form_outbox_keys_person_id_persons"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("person_id", name=op.f("pk_form_outbox_keys")),
        sa.UniqueConstraint("owner", name=op.f("uq_form_outbox_keys_owner")),
    )


def downgrade() -> None:
    op.drop_table("form_outbox_keys")
