"""received → processed | rejected: set by staff (service, CLI), shown and sent to the inbox."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.database import create_engine, create_session_factory, utcnow
from api.errors import InvalidInput
from api.migrate import upgrade_connection
from forms import service, status
from forms.catalogue import load_catalogue
from forms.models import FormSubmission, SubmissionStatus
from forms.receipts import JoseReceiptSigner
from notifications.models import InboxMessage, MessageKind
from tests.forms.support import ADDRESS_V1, QUESTION, SUBMISSION, entry, submit
from tests.support import add_person, gql, sign_in

CLI = Path(sys.executable).parent / "duo-abroad"


def policy(grace_days: int = 90) -> service.Policy:
    catalogue = load_catalogue()
    return service.Policy(
        catalogue=catalogue,
        signer=JoseReceiptSigner.generate(),
        grace=timedelta(days=grace_days),
        issuer="http://localhost:8000",
    )


def as_input(item: dict[str, Any]) -> service.SubmissionInput:
    return service.SubmissionInput(
        client_id=item["clientId"],
        form_id=item["formId"],
        form_version=item["formVersion"],
        content=item["content"],
    )


async def inbox(db: AsyncSession, person_id: uuid.UUID) -> list[InboxMessage]:
    stmt = select(InboxMessage).where(
        InboxMessage.person_id == person_id, InboxMessage.kind == MessageKind.FORM_STATUS
    )
    return list((await db.scalars(stmt)).all())


async def test_processing_and_rejection_are_shown_and_announced_in_the_inbox(
    client: httpx.AsyncClient, db: AsyncSession, person_factory: Any
) -> None:
    me = await person_factory(preferred_language="nl")
    await sign_in(client, db, me.person["id"])
    done, refused = (
        entry("general-question", 1, QUESTION),
        entry(
            "change-of-address",
            2,
            {
                "addressLine1": "Av. Paulista 1000",
                "city": "São Paulo",
                "country": "BR",
                "movedOn": "2026-09-01",
            },
        ),
    )
    for item in (done, refused):
        assert (await submit(client, item))["status"] == "ACCEPTED"
    catalogue = load_catalogue()
    await status.decide(
        db,
        uuid.UUID(done["clientId"]),
        status=SubmissionStatus.PROCESSED,
        reason=None,
        catalogue=catalogue,
    )
    with pytest.raises(InvalidInput, match="why"):
        await status.decide(
            db,
            uuid.UUID(refused["clientId"]),
            status=SubmissionStatus.REJECTED,
            reason=" ",
            catalogue=catalogue,
        )
    await status.decide(
        db,
        uuid.UUID(refused["clientId"]),
        status=SubmissionStatus.REJECTED,
        reason="Het adres is onvolledig: het huisnummer ontbreekt.",
        catalogue=catalogue,
    )
    with pytest.raises(InvalidInput, match="already"):
        await status.decide(
            db,
            uuid.UUID(done["clientId"]),
            status=SubmissionStatus.REJECTED,
            reason="late",
            catalogue=catalogue,
        )
    await db.commit()

    shown = await gql(client, SUBMISSION, {"id": refused["clientId"]})
    submission = shown["data"]["viewer"]["submission"]
    assert submission["status"] == "REJECTED"
    assert submission["statusReason"].startswith("Het adres is onvolledig")
    processed = await gql(client, SUBMISSION, {"id": done["clientId"]})
    assert processed["data"]["viewer"]["submission"]["status"] == "PROCESSED"

    messages = sorted(await inbox(db, me.person["id"]), key=lambda m: m.subject)
    assert [m.subject for m in messages] == [
        "Uw formulier is verwerkt",
        "Uw formulier kon niet worden verwerkt",
    ]
    assert "Adreswijziging buitenland" in messages[1].body
    assert "huisnummer ontbreekt" in messages[1].body


async def test_an_accepted_submission_replays_after_its_version_is_retired(
    db: AsyncSession, person_factory: Any
) -> None:
    me = await person_factory()
    rules = policy()
    item = as_input(entry("change-of-address", 1, ADDRESS_V1))
    v2_published = load_catalogue().get("change-of-address", 2)
    assert v2_published is not None
    within = v2_published.published_at + timedelta(days=89)
    [first] = await service.submit(db, me.person["id"], [item], policy=rules, now=within)
    assert first.status == "accepted"
    assert first.receipt
    later = within + timedelta(days=365)
    [replay] = await service.submit(db, me.person["id"], [item], policy=rules, now=later)
    assert replay.replayed
    assert replay.receipt == first.receipt
    fresh = as_input(entry("change-of-address", 1, ADDRESS_V1))
    [refused] = await service.submit(db, me.person["id"], [fresh], policy=rules, now=later)
    assert [e.code for e in refused.errors] == ["FORM_VERSION_RETIRED"]


async def test_staff_set_the_status_from_the_command_line(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.sqlite3'}"
    engine = create_engine(url)
    async with engine.begin() as conn:
        await upgrade_connection(conn)
    factory = create_session_factory(engine)
    async with factory() as db:
        person = await add_person(db, preferred_language="en")
        item = as_input(entry("general-question", 1, QUESTION))
        [outcome] = await service.submit(db, person.person["id"], [item], policy=policy())
        await db.commit()

    async def run(*args: str) -> tuple[int, str]:
        process = await asyncio.create_subprocess_exec(
            str(CLI),
            "forms",
            "set-status",
            *args,
            env={**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "WARNING"},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(process.communicate(), timeout=60)
        return process.returncode or 0, out.decode()

    code, out = await run(item.client_id, "rejected")
    assert code == 1
    assert "Say why" in out
    code, out = await run(item.client_id, "rejected", "--reason", "The evidence is unreadable.")
    assert code == 0, out
    async with factory() as db:
        assert outcome.submission is not None
        row = await db.scalar(
            select(FormSubmission).where(FormSubmission.id == outcome.submission.id)
        )
        assert row is not None
        assert row.status == SubmissionStatus.REJECTED
        assert row.status_changed_at <= utcnow()
        [message] = await inbox(db, person.person["id"])
        assert "The evidence is unreadable." in message.body
    await engine.dispose()
