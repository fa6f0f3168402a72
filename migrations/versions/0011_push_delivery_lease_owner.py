"""push deliveries: the worker that holds a claimed delivery

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 09:00:00.000000

A claim records which worker holds the delivery (`lease_owner`): only that worker renews the
lease (its heartbeat) and records the outcome, so a worker whose lease ran out while it was cut
off cannot overwrite the result of the worker that took over (issue #12).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("push_deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lease_owner", sa.Uuid(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("push_deliveries", schema=None) as batch_op:
        batch_op.drop_column("lease_owner")
