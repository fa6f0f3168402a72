"""access requests: the request, its history, uploads owned by a request, a new ceremony purpose

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 08:39:07.984707

Written by hand in the shape autogenerate gives (tests/api/test_migrations.py finds no drift),
plus what autogenerate does not see: the one-owner CHECK on form_attachments and the new
`access_request` value in the CHECK of webauthn_challenges.purpose.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from api.database import UTCDateTime

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PURPOSES = ("login", "activation", "add", "device_link", "recovery")


def _purpose(*values: str) -> sa.Enum:
    return sa.Enum(
        *values, name="ceremony_purpose", native_enum=False, create_constraint=True, length=16
    )


def upgrade() -> None:
    op.create_table(
        "access_requests",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("secret_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "draft",
                "submitted",
                "in_review",
                "more_info",
                "approved",
                "refused",
                "completed",
                name="access_request_status",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column(
            "reason",
            sa.Enum(
                "lost_digid",
                "never_had_digid",
                name="access_request_reason",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("customer_number", sa.String(length=16), nullable=True),
        sa.Column("full_name", sa.String(length=200), nullable=False),
        sa.Column("date_of_birth", sa.Date(), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("contact_email", sa.String(length=254), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("liveness_digits", sa.String(length=4), nullable=False),
        sa.Column("person_message", sa.Text(), nullable=True),
        sa.Column("staff_message", sa.Text(), nullable=True),
        sa.Column("person_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("submitted_at", UTCDateTime(), nullable=True),
        sa.Column("queued_at", UTCDateTime(), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("approval_expires_at", UTCDateTime(), nullable=True),
        sa.Column("completed_at", UTCDateTime(), nullable=True),
        sa.Column("claimed_by", sa.Uuid(), nullable=True),
        sa.Column("claimed_until", UTCDateTime(), nullable=True),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        sa.Column("push_endpoint", sa.String(length=2048), nullable=True),
        sa.Column("push_p256dh", sa.String(length=100), nullable=True),
        sa.Column("push_auth", sa.String(length=32), nullable=True),
        sa.Column("ip_address", sa.String(length=45), nullable=True),
        sa.Column("user_agent", sa.String(length=300), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["persons.id"],
            name=op.f("fk_access_requests_person_id_persons"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_requests")),
        sa.UniqueConstraint("secret_hash", name=op.f("uq_access_requests_secret_hash")),
    )
    with op.batch_alter_table("access_requests", schema=None) as batch_op:
        batch_op.create_index(
            "ix_access_requests_country_status", ["country", "status"], unique=False
        )
        batch_op.create_index(
            "ix_access_requests_status_queued", ["status", "queued_at"], unique=False
        )

    op.create_table(
        "access_request_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "submitted",
                "claimed",
                "released",
                "more_info",
                "responded",
                "approved",
                "refused",
                "completed",
                name="access_request_event_kind",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("staff_id", sa.Uuid(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("waited_seconds", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["access_requests.id"],
            name=op.f("fk_access_request_events_request_id_access_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_request_events")),
    )
    with op.batch_alter_table("access_request_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_access_request_events_kind_time", ["kind", "occurred_at"], unique=False
        )
        batch_op.create_index(
            "ix_access_request_events_request", ["request_id", "occurred_at"], unique=False
        )

    # An upload belongs to a person (forms) or to an access request: exactly one of them.
    with op.batch_alter_table("form_attachments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("access_request_id", sa.Uuid(), nullable=True))
        batch_op.alter_column("person_id", existing_type=sa.Uuid(), nullable=True)
        batch_op.create_index(
            "ix_form_attachments_access_request",
            ["access_request_id", "created_at"],
            unique=False,
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_form_attachments_access_request_id_access_requests"),
            "access_requests",
            ["access_request_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.create_check_constraint(
            "one_owner", "(person_id IS NULL) <> (access_request_id IS NULL)"
        )

    with op.batch_alter_table("persons", schema=None) as batch_op:
        batch_op.create_index("ix_persons_date_of_birth", ["date_of_birth"], unique=False)

    # A new ceremony purpose: the CHECK constraint of the non-native enum lists the values.
    with op.batch_alter_table("webauthn_challenges", schema=None) as batch_op:
        batch_op.alter_column(
            "purpose",
            existing_type=_purpose(*PURPOSES),
            type_=_purpose(*PURPOSES, "access_request"),
            existing_nullable=False,
        )


def downgrade() -> None:
    op.execute("DELETE FROM webauthn_challenges WHERE purpose = 'access_request'")
    with op.batch_alter_table("webauthn_challenges", schema=None) as batch_op:
        batch_op.alter_column(
            "purpose",
            existing_type=_purpose(*PURPOSES, "access_request"),
            type_=_purpose(*PURPOSES),
            existing_nullable=False,
        )

    with op.batch_alter_table("persons", schema=None) as batch_op:
        batch_op.drop_index("ix_persons_date_of_birth")

    op.execute("DELETE FROM form_attachments WHERE access_request_id IS NOT NULL")
    with op.batch_alter_table("form_attachments", schema=None) as batch_op:
        batch_op.drop_constraint("one_owner", type_="check")
        batch_op.drop_constraint(
            batch_op.f("fk_form_attachments_access_request_id_access_requests"),
            type_="foreignkey",
        )
        batch_op.drop_index("ix_form_attachments_access_request")
        batch_op.alter_column("person_id", existing_type=sa.Uuid(), nullable=False)
        batch_op.drop_column("access_request_id")

    with op.batch_alter_table("access_request_events", schema=None) as batch_op:
        batch_op.drop_index("ix_access_request_events_request")
        batch_op.drop_index("ix_access_request_events_kind_time")
    op.drop_table("access_request_events")

    with op.batch_alter_table("access_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_access_requests_status_queued")
        batch_op.drop_index("ix_access_requests_country_status")
    op.drop_table("access_requests")
