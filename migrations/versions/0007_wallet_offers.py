"""wallet offers: OpenID4VCI pre-authorized codes, transaction codes, access tokens, issuance

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from api.database import UTCDateTime

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "wallet_offers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("diploma_id", sa.Uuid(), nullable=False),
        sa.Column("code_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("tx_code_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("tx_code_failures", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("withdrawn_at", UTCDateTime(), nullable=True),
        sa.Column("redeemed_at", UTCDateTime(), nullable=True),
        sa.Column("access_token_hash", sa.LargeBinary(length=32), nullable=True),
        sa.Column("token_expires_at", UTCDateTime(), nullable=True),
        sa.Column("issued_at", UTCDateTime(), nullable=True),
        sa.Column("extract_id", sa.Uuid(), nullable=True),
        sa.Column("holder_key_thumbprint", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["diploma_id"],
            ["diplomas.id"],
            name=op.f("fk_wallet_offers_diploma_id_diplomas"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["extract_id"],
            ["extracts.id"],
            name=op.f("fk_wallet_offers_extract_id_extracts"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["persons.id"],
            name=op.f("fk_wallet_offers_person_id_persons"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallet_offers")),
        sa.UniqueConstraint("access_token_hash", name=op.f("uq_wallet_offers_access_token_hash")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_wallet_offers_code_hash")),
    )
    op.create_index("ix_wallet_offers_person_created", "wallet_offers", ["person_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_wallet_offers_person_created", table_name="wallet_offers")
    op.drop_table("wallet_offers")
