"""#13: a decision on a form reaches the person's devices by push too, in their language, and
the lock screen shows no reason; the `forms set-status` command does the same."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
from litestar import Litestar
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.database import create_engine, create_session_factory
from api.migrate import upgrade_connection
from api.settings import Settings
from forms import service
from notifications import vapid
from notifications.models import DeliveryStatus, PushDelivery
from staff.models import Role
from tests.forms.support import QUESTION, entry
from tests.forms.test_status import as_input, policy
from tests.notifications.conftest import Receiver, push_receiver
from tests.notifications.support import add_device
from tests.staff.support import signed_in_member
from tests.staff.test_forms_queue import VIEW, open_it, submitted
from tests.support import add_person

__all__ = ["push_receiver"]  # the real Web Push receiver of tests/notifications

CLI = Path(sys.executable).parent / "duo-abroad"
REASON = "The payslip does not show the year 2025."


async def test_a_rejection_in_the_staff_ui_is_pushed_in_the_persons_language(
    app: Litestar, client: httpx.AsyncClient, db: AsyncSession, push_receiver: Receiver
) -> None:
    keys = await app.state["push"].keys()  # made as at server start (see tests/notifications)
    person, client_id = await submitted(app, db, preferred_language="nl")
    phone = await push_receiver.subscribe(keys.public_key)
    laptop = await push_receiver.subscribe(keys.public_key)
    await add_device(db, person["id"], phone["endpoint"], phone["keys"])
    await add_device(db, person["id"], laptop["endpoint"], laptop["keys"])
    await push_receiver.expire(laptop["clientHash"])  # a device the push service forgot
    await db.commit()
    member = await signed_in_member(db, client, frozenset({Role.FORMS}))
    detail = await client.get(await open_it(client, member, client_id))
    view = VIEW.search(detail.text)
    assert view is not None

    try:
        decided = await client.post(
            f"/staff/forms/{client_id}/decide",
            data={
                "decision": "rejected",
                "reason": REASON,
                "view": view.group(2),
                "_csrf": member.csrf,
            },
        )
        assert decided.status_code == 303, decided.text
    finally:
        await app.state["push"].close()

    [message] = await push_receiver.messages(phone["clientHash"])
    payload: dict[str, Any] = json.loads(message)
    assert payload["type"] == "message"
    assert payload["lang"] == "nl"
    assert payload["title"] == "Uw formulier kon niet worden verwerkt"
    assert payload["url"] == "/#inbox"
    assert payload["messageId"]
    # A lock screen shows it: not the reason, not the name.
    assert "payslip" not in message
    assert person["family_name"] not in message
    db.expire_all()
    outcomes = sorted(
        d.status
        for d in await db.scalars(
            select(PushDelivery).where(PushDelivery.person_id == person["id"])
        )
    )
    assert outcomes == sorted([DeliveryStatus.DELIVERED, DeliveryStatus.GONE])


async def test_set_status_on_the_command_line_pushes_too(
    tmp_path: Path, push_receiver: Receiver
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.sqlite3'}"
    engine = create_engine(url)
    async with engine.begin() as conn:
        await upgrade_connection(conn)
    factory = create_session_factory(engine)
    async with factory() as db:
        keys = await vapid.load_keys(db, Settings(environment="test", database_url=url))
        bundle = await add_person(db, preferred_language="en")
        item = as_input(entry("general-question", 1, QUESTION))
        await service.submit(db, bundle.person["id"], [item], policy=policy())
        device = await push_receiver.subscribe(keys.public_key)
        await add_device(db, bundle.person["id"], device["endpoint"], device["keys"])
        await db.commit()
    await engine.dispose()

    process = await asyncio.create_subprocess_exec(
        str(CLI),
        "forms",
        "set-status",
        str(item.client_id),
        "processed",
        env={**os.environ, "DUO_ENV": "test", "DATABASE_URL": url, "LOG_LEVEL": "WARNING"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, out.decode()
    assert re.search(r"pushed to 1 of 1 devices", out.decode()), out.decode()
    [message] = await push_receiver.messages(device["clientHash"])
    payload = json.loads(message)
    assert payload["lang"] == "en"
    assert payload["title"] == "Your form has been processed"
    assert uuid.UUID(payload["messageId"])
