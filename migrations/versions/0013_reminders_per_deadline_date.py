"""push reminders: one per (deadline, its date, offset), so a moved deadline is reminded again

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 14:00:00.000000

An import may move a deadline (records/imports/); the reminders already posted for its old
date must not stand in for the new date's.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("push_reminders", schema=None) as batch_op:
        batch_op.drop_constraint("uq_push_reminders_deadline_offset", type_="unique")
        batch_op.create_unique_constraint(
            "uq_push_reminders_deadline_date_offset", ["deadline_id", "deadline_at", "offset_days"]
        )


def downgrade() -> None:
    # Only possible while no deadline has reminders for two dates.
    with op.batch_alter_table("push_reminders", schema=None) as batch_op:
        batch_op.drop_constraint("uq_push_reminders_deadline_date_offset", type_="unique")
        batch_op.create_unique_constraint(
            "uq_push_reminders_deadline_offset", ["deadline_id", "offset_days"]
        )
