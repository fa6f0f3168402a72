"""web push: VAPID keys, subscriptions, reminder preferences, reminders, deliveries; job queue

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 13:30:00.000000

Written by hand (0003 and 0004 were being written at the same time): only the tables of
notifications/models.py. On PostgreSQL it also installs pgqueuer's tables, in their own schema
"pgqueuer" (outside the models' metadata, so outside alembic's comparison).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from api.database import PortableJSON, UTCDateTime

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

QUEUE_SCHEMA = "pgqueuer"


def _status(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=16)


def upgrade() -> None:
    op.create_table(
        "push_vapid_keys",
        sa.Column("id", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("private_key_pem", sa.Text(), nullable=False),
        sa.Column("public_key", sa.String(length=100), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_vapid_keys")),
    )
    op.create_table(
        "push_subscriptions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("endpoint", sa.String(length=2048), nullable=False),
        sa.Column("p256dh", sa.String(length=100), nullable=False),
        sa.Column("auth", sa.String(length=32), nullable=False),
        sa.Column("device_name", sa.String(length=100), nullable=True),
        sa.Column("user_agent", sa.String(length=300), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["persons.id"],
            name=op.f("fk_push_subscriptions_person_id_persons"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_subscriptions")),
        sa.UniqueConstraint("endpoint", name=op.f("uq_push_subscriptions_endpoint")),
    )
    with op.batch_alter_table("push_subscriptions", schema=None) as batch_op:
        batch_op.create_index("ix_push_subscriptions_person", ["person_id"], unique=False)

    op.create_table(
        "reminder_preferences",
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("kinds", PortableJSON, nullable=False),
        sa.Column("offsets_days", PortableJSON, nullable=False),
        sa.Column("quiet_start", sa.Time(), nullable=True),
        sa.Column("quiet_end", sa.Time(), nullable=True),
        sa.Column("time_zone", sa.String(length=64), nullable=True),
        sa.Column("language", sa.String(length=2), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["persons.id"],
            name=op.f("fk_reminder_preferences_person_id_persons"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("person_id", name=op.f("pk_reminder_preferences")),
    )
    op.create_table(
        "push_reminders",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("deadline_id", sa.Uuid(), nullable=False),
        sa.Column("offset_days", sa.SmallInteger(), nullable=False),
        sa.Column("status", _status("reminder_status", "posted", "superseded"), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("deadline_at", UTCDateTime(), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("inbox_message_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["deadline_id"],
            ["deadlines.id"],
            name=op.f("fk_push_reminders_deadline_id_deadlines"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["inbox_message_id"],
            ["inbox_messages.id"],
            name=op.f("fk_push_reminders_inbox_message_id_inbox_messages"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["persons.id"],
            name=op.f("fk_push_reminders_person_id_persons"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_reminders")),
        sa.UniqueConstraint("deadline_id", "offset_days", name="uq_push_reminders_deadline_offset"),
    )
    with op.batch_alter_table("push_reminders", schema=None) as batch_op:
        batch_op.create_index(
            "ix_push_reminders_person_created", ["person_id", "created_at", "id"], unique=False
        )

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

    op.create_table(
        "push_deliveries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("reminder_id", sa.Uuid(), nullable=True),
        sa.Column("subscription_id", sa.Uuid(), nullable=True),
        sa.Column("device_name", sa.String(length=100), nullable=True),
        sa.Column(
            "status",
            _status(
                "delivery_status",
                "pending",
                "sending",
                "delivered",
                "gone",
                "rejected",
                "failed",
                "expired",
                "cancelled",
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.SmallInteger(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.Column("last_status_code", sa.SmallInteger(), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("delivered_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["persons.id"],
            name=op.f("fk_push_deliveries_person_id_persons"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reminder_id"],
            ["push_reminders.id"],
            name=op.f("fk_push_deliveries_reminder_id_push_reminders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["push_subscriptions.id"],
            name=op.f("fk_push_deliveries_subscription_id_push_subscriptions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_deliveries")),
        sa.UniqueConstraint(
            "reminder_id", "subscription_id", name="uq_push_deliveries_reminder_subscription"
        ),
    )
    with op.batch_alter_table("push_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_push_deliveries_person_created", ["person_id", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_push_deliveries_status_next", ["status", "next_attempt_at"], unique=False
        )
        batch_op.create_index("ix_push_deliveries_subscription", ["subscription_id"], unique=False)

    _install_job_queue()


def _install_job_queue() -> None:
    """pgqueuer's own DDL for its schema; idempotent (it converges whatever is there)."""
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return  # the embedded SQLite default queues jobs in memory
    from pgqueuer.adapters.persistence.schema_ddl import render_converge
    from pgqueuer.domain.settings import DBSettings

    for statement in render_converge(DBSettings(db_schema=QUEUE_SCHEMA)):
        bind.exec_driver_sql(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP SCHEMA IF EXISTS {QUEUE_SCHEMA} CASCADE")
    with op.batch_alter_table("push_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_push_deliveries_subscription")
        batch_op.drop_index("ix_push_deliveries_status_next")
        batch_op.drop_index("ix_push_deliveries_person_created")
    op.drop_table("push_deliveries")
    with op.batch_alter_table("push_reminder_checks", schema=None) as batch_op:
        batch_op.drop_index("ix_push_reminder_checks_next")
    op.drop_table("push_reminder_checks")
    with op.batch_alter_table("push_reminders", schema=None) as batch_op:
        batch_op.drop_index("ix_push_reminders_person_created")
    op.drop_table("push_reminders")
    op.drop_table("reminder_preferences")
    with op.batch_alter_table("push_subscriptions", schema=None) as batch_op:
        batch_op.drop_index("ix_push_subscriptions_person")
    op.drop_table("push_subscriptions")
    op.drop_table("push_vapid_keys")
