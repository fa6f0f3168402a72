"""stored signatures in their one form: the low-S twin of every ES256 signature

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 09:00:00.000000

Verifiers now accept only the low-S form of an ES256 signature (api/es256.py: the twin
(r, n - s) of an ECDSA signature verifies as well, and would give one signed content a second
text). About half of the extracts and form receipts signed before were in the high-S form; the
twin needs no private key, so the stored tokens are rewritten to it and keep verifying (same
header, same payload, an equivalent signature). Copies already handed out keep their old text.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from api.es256 import low_s

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 1000
# (table, key column, token column): everything DUO stored as a signed compact JWS.
TOKENS = (("extracts", "id", "jws"), ("form_submissions", "id", "receipt"))


def upgrade() -> None:
    connection = op.get_bind()
    for table, key, column in TOKENS:
        rows = sa.table(table, sa.column(key), sa.column(column))
        last = None
        while True:
            query = sa.select(rows.c[key], rows.c[column]).order_by(rows.c[key]).limit(BATCH)
            if last is not None:
                query = query.where(rows.c[key] > last)
            batch = connection.execute(query).all()
            if not batch:
                break
            for identifier, token in batch:
                try:
                    canonical = low_s(token)
                except ValueError:  # not a compact ES256 JWS: not ours to rewrite
                    continue
                if canonical != token:
                    connection.execute(
                        rows.update().where(rows.c[key] == identifier).values({column: canonical})
                    )
            last = batch[-1][0]


def downgrade() -> None:
    # Low-S signatures verify under the previous rules too: nothing to undo.
    pass
