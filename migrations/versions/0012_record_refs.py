"""records: register references (enrolments, diplomas, deadlines), one result per position

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 10:00:00.000000

The import (records/imports/) matches records on (person, ref) and results on (diploma,
position). Existing rows (demo data) get their own id as reference, which is unique.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("enrolments", "diplomas", "deadlines")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("ref", sa.String(length=64), nullable=True))
        # The id's text form: unique, and what a row had before references existed.
        op.execute(sa.text(f"UPDATE {table} SET ref = CAST(id AS VARCHAR(64))"))  # noqa: S608
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column("ref", existing_type=sa.String(length=64), nullable=False)
            batch_op.create_unique_constraint(f"uq_{table}_person_ref", ["person_id", "ref"])
    with op.batch_alter_table("diploma_results", schema=None) as batch_op:
        batch_op.drop_index("ix_diploma_results_diploma")
        batch_op.create_unique_constraint(
            "uq_diploma_results_diploma_position", ["diploma_id", "position"]
        )


def downgrade() -> None:
    with op.batch_alter_table("diploma_results", schema=None) as batch_op:
        batch_op.drop_constraint("uq_diploma_results_diploma_position", type_="unique")
        batch_op.create_index(
            "ix_diploma_results_diploma", ["diploma_id", "position"], unique=False
        )
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(f"uq_{table}_person_ref", type_="unique")
            batch_op.drop_column("ref")
