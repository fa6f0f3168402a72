"""reminder checks on the deadline itself: the minute tick reads only what is due (#14)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05 21:30:00.000000

`deadlines.next_reminder_check_at`, indexed, replaces the table `push_reminder_checks`: a new
deadline, however it is written, starts long ago (the column's default), so the next tick plans
it; a changed one is set back to that by whoever changed it (an import, the person's time zone,
their preferences). After the upgrade every open deadline is planned once more: the unique keys
of reminders and deliveries keep that from doubling anything.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from api.database import UTCDateTime

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LONG_AGO = sa.text("'1970-01-01 00:00:00.000000'")


def upgrade() -> None:
    with op.batch_alter_table("deadlines", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "next_reminder_check_at", UTCDateTime(), server_default=LONG_AGO, nullable=True
            )
        )
        batch_op.create_index(
            "ix_deadlines_next_reminder_check", ["next_reminder_check_at"], unique=False
        )
    with op.batch_alter_table("push_reminder_checks", schema=None) as batch_op:
        batch_op.drop_index("ix_push_reminder_checks_next")
    op.drop_table("push_reminder_checks")


def downgrade() -> None:
    op.create_table(
        "push_reminder_checks",
        sa.Column("deadline_id", sa.Uuid(), nullable=False),
        sa.Column("next_check_at", UTCDateTime(), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("preferences_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["deadline_id"],
            ["deadlines.id"],
            name=op.f("fk_push_reminder_checks_deadline_id_deadlines"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("deadline_id", name=op.f("pk_push_reminder_checks")),
    )
    with op.batch_alter_table("push_reminder_checks", schema=None) as batch_op:
        batch_op.create_index("ix_push_reminder_checks_next", ["next_check_at"], unique=False)
    # Empty: the old tick plans every open deadline once (it treats a missing row as new).
    with op.batch_alter_table("deadlines", schema=None) as batch_op:
        batch_op.drop_index("ix_deadlines_next_reminder_check")
        batch_op.drop_column("next_reminder_check_at")
