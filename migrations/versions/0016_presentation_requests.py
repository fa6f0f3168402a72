"""presentation requests: the OpenID4VP verifier's open checks and their short-lived results

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05 18:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from api.database import PortableJSON, UTCDateTime

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "presentation_requests",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("state", sa.String(length=64), nullable=False),
        sa.Column("reader_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("optional_claims", PortableJSON, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("answered_at", UTCDateTime(), nullable=True),
        sa.Column("result", PortableJSON, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_presentation_requests")),
        sa.UniqueConstraint("state", name=op.f("uq_presentation_requests_state")),
    )
    op.create_index("ix_presentation_requests_expires_at", "presentation_requests", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_presentation_requests_expires_at", table_name="presentation_requests")
    op.drop_table("presentation_requests")
