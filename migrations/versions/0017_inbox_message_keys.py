"""inbox message keys: messages stored as a key and parameters, rendered in the reader's language;
when a person chose their language in the app

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 21:30:00.000000

#16 item 1. Messages sent before keys existed keep their subject and body; those whose text is
one of the catalogue's (welcome, security notices, form decisions) or a deadline reminder get
their key and parameters here, so they follow a later change of language too. The rest (free
texts, or texts of an older wording) stay as they were written.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from api.database import PortableJSON, UTCDateTime

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 1000


def upgrade() -> None:
    # When the person chose the language in the app (a device's own language does not count).
    with op.batch_alter_table("persons", schema=None) as batch_op:
        batch_op.add_column(sa.Column("language_chosen_at", UTCDateTime(), nullable=True))
    with op.batch_alter_table("inbox_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("text_key", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("params", PortableJSON, nullable=True))
    _backfill(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table("inbox_messages", schema=None) as batch_op:
        batch_op.drop_column("params")
        batch_op.drop_column("text_key")
    with op.batch_alter_table("persons", schema=None) as batch_op:
        batch_op.drop_column("language_chosen_at")


def _titles() -> dict[str, dict[str, str]]:
    """Every form title, in either language, to both (a decision names its form)."""
    from forms.catalogue import load_catalogue

    titles: dict[str, dict[str, str]] = {}
    for form in load_catalogue():
        for text in form.title.values():
            titles[text] = dict(form.title)
    return titles


def _backfill(conn: sa.Connection) -> None:
    from notifications.messages import REMINDER, recognise, reminder_params
    from records.models import DeadlineKind

    messages = sa.table(
        "inbox_messages",
        sa.column("id", sa.Uuid()),
        sa.column("subject", sa.String()),
        sa.column("body", sa.Text()),
        sa.column("text_key", sa.String()),
        sa.column("params", PortableJSON),
    )
    reminders = sa.table(
        "push_reminders",
        sa.column("inbox_message_id", sa.Uuid()),
        sa.column("deadline_id", sa.Uuid()),
        sa.column("deadline_at", UTCDateTime()),
        sa.column("offset_days", sa.SmallInteger()),
        sa.column("person_id", sa.Uuid()),
    )
    deadlines = sa.table(
        "deadlines",
        sa.column("id", sa.Uuid()),
        sa.column("kind", sa.String()),
        sa.column("description", sa.Text()),
    )
    persons = sa.table("persons", sa.column("id", sa.Uuid()), sa.column("time_zone", sa.String()))
    reminder_rows = conn.execute(
        sa.select(
            reminders.c.inbox_message_id,
            reminders.c.deadline_at,
            reminders.c.offset_days,
            deadlines.c.kind,
            deadlines.c.description,
            persons.c.time_zone,
        )
        .join(deadlines, deadlines.c.id == reminders.c.deadline_id)
        .join(persons, persons.c.id == reminders.c.person_id)
        .where(reminders.c.inbox_message_id.is_not(None))
    ).all()
    by_message = {row.inbox_message_id: row for row in reminder_rows}
    titles: dict[str, dict[str, str]] | None = None
    after: Any = None
    while True:
        stmt = (
            sa.select(messages.c.id, messages.c.subject, messages.c.body)
            .where(messages.c.text_key.is_(None))
            .order_by(messages.c.id)
            .limit(BATCH)
        )
        if after is not None:
            stmt = stmt.where(messages.c.id > after)
        rows = conn.execute(stmt).all()
        if not rows:
            return
        after = rows[-1].id
        updates: list[dict[str, Any]] = []
        for row in rows:
            reminder = by_message.get(row.id)
            if reminder is not None:
                params = reminder_params(
                    kind=DeadlineKind(reminder.kind),
                    description=reminder.description,
                    deadline=reminder.deadline_at,
                    days_left=reminder.offset_days,
                    zone=reminder.time_zone,
                )
                updates.append({"b_id": row.id, "b_key": REMINDER, "b_params": params})
                continue
            found = recognise(row.subject, row.body)
            if found is None:
                continue
            key, values = found
            params = dict[str, Any](values)
            if "title" in values:
                titles = titles if titles is not None else _titles()
                params["title"] = titles.get(values["title"], values["title"])
            updates.append({"b_id": row.id, "b_key": key, "b_params": params})
        if updates:
            conn.execute(
                messages.update()
                .where(messages.c.id == sa.bindparam("b_id"))
                .values(text_key=sa.bindparam("b_key"), params=sa.bindparam("b_params")),
                updates,
            )
