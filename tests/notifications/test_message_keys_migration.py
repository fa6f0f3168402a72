"""Migration 0017: messages sent before keys existed follow a later change of language too."""

from __future__ import annotations

import json
import re
import tempfile
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from api.database import UTCDateTime, create_engine
from api.migrate import upgrade_connection
from notifications.messages import render
from notifications.models import Reminder
from records.demo import make_bundle
from records.models import Deadline, Person

SENT = datetime(2026, 11, 1, 8, tzinfo=UTC)


# inbox_messages as it was at 0016 (the model has the columns 0017 adds).
OLD_INBOX = sa.table(
    "inbox_messages",
    sa.column("id", sa.Uuid()),
    sa.column("person_id", sa.Uuid()),
    sa.column("kind", sa.String()),
    sa.column("subject", sa.String()),
    sa.column("body", sa.Text()),
    sa.column("created_at", UTCDateTime()),
)
TABLES: dict[str, Any] = {
    "persons": Person.__table__,
    "deadlines": Deadline.__table__,
    "push_reminders": Reminder.__table__,
    "inbox_messages": OLD_INBOX,
}


async def _insert(conn: AsyncConnection, table: str, rows: list[dict[str, object]]) -> None:
    await conn.execute(TABLES[table].insert(), rows)


@pytest.fixture
async def scratch_url(database_url: str) -> AsyncIterator[str]:
    """A database of its own, migrated step by step: beside the suite's on PostgreSQL."""
    if make_url(database_url).get_backend_name() != "postgresql":
        yield f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp(prefix='duo-0017-')) / 'db.sqlite3'}"
        return
    name = f"{make_url(database_url).database}_0017"
    assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name), name  # interpolated below
    admin = create_async_engine(database_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        yield make_url(database_url).set(database=name).render_as_string(hide_password=False)
        async with admin.connect() as conn:
            await conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


async def test_old_messages_get_keys_and_render_in_the_language_chosen_later(
    scratch_url: str,
) -> None:
    engine = create_engine(scratch_url)
    bundle = make_bundle(1, today=date(2026, 11, 1))
    person_id = bundle.person["id"]
    deadline = bundle.deadlines[0]
    ids = {name: uuid.uuid4() for name in ("welcome", "passkey", "form", "reminder", "free")}
    try:
        async with engine.begin() as conn:
            await upgrade_connection(conn, "0016")
            await _insert(conn, "persons", [{**bundle.person, "preferred_language": "en"}])
            await _insert(conn, "deadlines", [deadline])
            letters = {
                "welcome": (
                    "info",
                    "Welcome to DUO Abroad",
                    "Here you can see your records, diplomas and forms, also offline.",
                ),
                "passkey": (
                    "security",
                    "A passkey was added to your account",
                    "A new passkey named “Pixel 8” can now sign in to your DUO Abroad account. "
                    "If this was not you, remove it under Security and contact DUO.",
                ),
                "form": (
                    "form_status",
                    "Your form has been processed",
                    "DUO has processed your form “Ask DUO a question”, received on 2026-10-30 "
                    "(reference 1234abcd).",
                ),
                "reminder": ("reminder", "Payment due in 3 days", "Old wording."),
                "free": ("info", "A letter", "Written by hand."),
            }
            await _insert(
                conn,
                "inbox_messages",
                [
                    {
                        "id": ids[name],
                        "person_id": person_id,
                        "kind": kind,
                        "subject": subject,
                        "body": body,
                        "created_at": SENT,
                    }
                    for name, (kind, subject, body) in letters.items()
                ],
            )
            await _insert(
                conn,
                "push_reminders",
                [
                    {
                        "id": uuid.uuid4(),
                        "person_id": person_id,
                        "deadline_id": deadline["id"],
                        "offset_days": 3,
                        "status": "posted",
                        "due_at": deadline["due_at"] - timedelta(days=3),
                        "deadline_at": deadline["due_at"],
                        "language": "en",
                        "inbox_message_id": ids["reminder"],
                        "created_at": SENT,
                    }
                ],
            )
            await upgrade_connection(conn, "head")
            rows = {
                row.id: row
                for row in (
                    await conn.execute(sa.text("SELECT id, text_key, params FROM inbox_messages"))
                ).all()
            }
    finally:
        await engine.dispose()

    def key_of(name: str) -> tuple[str | None, object]:
        row = next(r for i, r in rows.items() if str(i).replace("-", "") == ids[name].hex)
        params = json.loads(row.params) if isinstance(row.params, str) else row.params
        return row.text_key, params

    assert key_of("welcome") == ("welcome", {})
    assert key_of("passkey") == ("passkey.added", {"name": "Pixel 8"})
    key, params = key_of("form")
    assert key == "form.processed"
    assert isinstance(params, dict)
    assert params["title"] == {"en": "Ask DUO a question", "nl": "Een vraag stellen aan DUO"}
    dutch = render(key, params, "nl")
    assert dutch is not None
    assert dutch.title == "Uw formulier is verwerkt"
    assert "“Een vraag stellen aan DUO”" in dutch.body
    key, params = key_of("reminder")
    assert key == "reminder"
    assert isinstance(params, dict)
    reminder = render(key, params, "nl")
    assert reminder is not None
    assert reminder.title == "Betaling: nog 3 dagen"
    assert key_of("free") == (None, None)
