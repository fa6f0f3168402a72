"""staff passkeys keep their backup eligibility (WebAuthn §7.2 step 19)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 10:00:00.000000

BE is fixed when a credential is created and compared at every sign-in. Staff passkeys enrolled
before this column existed have it NULL: their next sign-in records it (staff.ceremonies).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("staff_passkeys") as batch_op:
        batch_op.add_column(sa.Column("backup_eligible", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("staff_passkeys") as batch_op:
        batch_op.drop_column("backup_eligible")
