"""Exactly once under races and failures: real committed transactions on PostgreSQL.

Like tests/auth/test_races.py, these use the engine directly (not the rolled-back test
transaction), so that concurrent connections really see each other's commits.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import suppress
from datetime import timedelta
from typing import Any

import pytest
from litestar import Litestar
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from api.app import create_app
from api.database import utcnow
from api.settings import Settings
from forms import service
from forms.catalogue import load_catalogue
from forms.models import FormAttachment, FormSubmission
from forms.receipts import JoseReceiptSigner
from records.models import Person
from tests.forms.support import (
    ADDRESS_V2,
    BANK_IBAN,
    QUESTION,
    SUBMIT_FORM,
    entry,
    income,
    submit,
)
from tests.support import add_person, asgi_client, sign_in

Committed = tuple[async_sessionmaker[AsyncSession], uuid.UUID]


class GatedSigner:
    """Signs like JoseReceiptSigner, but the first `parties` calls wait for each other.

    Signing happens after the replay lookup and before the INSERT, so when every party has
    reached it, none of them has seen the others' row: they all race for the constraint.
    """

    def __init__(self, parties: int) -> None:
        self.inner = JoseReceiptSigner.generate()
        self.barrier = asyncio.Barrier(parties)
        self.calls = 0

    async def sign(self, payload: bytes, *, typ: str) -> str:
        self.calls += 1
        if self.calls <= self.barrier.parties:
            await self.barrier.wait()
        return await self.inner.sign(payload, typ=typ)


class StallingSigner:
    """The first call never returns (a slow server the client gives up on)."""

    def __init__(self) -> None:
        self.inner = JoseReceiptSigner.generate()
        self.calls = 0
        self.stalled = asyncio.Event()

    async def sign(self, payload: bytes, *, typ: str) -> str:
        self.calls += 1
        if self.calls == 1:
            self.stalled.set()
            await asyncio.Event().wait()
        return await self.inner.sign(payload, typ=typ)


@pytest.fixture
async def committed(engine: AsyncEngine, is_postgres: bool) -> AsyncIterator[Committed]:
    if not is_postgres:
        pytest.skip("needs PostgreSQL's concurrent transactions (SQLite serialises writers)")
    factory = async_sessionmaker(engine, expire_on_commit=False)
    async with factory() as db:
        bundle = await add_person(db)
        await db.commit()
    person_id: uuid.UUID = bundle.person["id"]
    try:
        yield factory, person_id
    finally:
        async with factory() as db:  # cascades to submissions, sessions and inbox
            await db.execute(delete(Person).where(Person.id == person_id))
            await db.commit()


def policy(signer: Any) -> service.Policy:
    return service.Policy(
        catalogue=load_catalogue(),
        signer=signer,
        grace=timedelta(days=90),
        issuer="http://localhost:8000",
    )


def as_input(item: dict[str, Any]) -> service.SubmissionInput:
    return service.SubmissionInput(
        client_id=item["clientId"],
        form_id=item["formId"],
        form_version=item["formVersion"],
        content=item["content"],
    )


async def count(factory: async_sessionmaker[AsyncSession], person_id: uuid.UUID) -> int:
    async with factory() as db:
        stmt = select(func.count()).where(FormSubmission.person_id == person_id)
        return int(await db.scalar(stmt) or 0)


def app_for(factory: async_sessionmaker[AsyncSession], signer: Any) -> Litestar:
    return create_app(Settings(environment="test"), session_factory=factory, receipt_signer=signer)


async def test_concurrent_replays_in_separate_transactions_store_one_row(
    committed: Committed,
) -> None:
    factory, person_id = committed
    signer = GatedSigner(parties=4)
    item = as_input(entry("general-question", 1, QUESTION))

    async def attempt() -> service.Outcome:
        async with factory() as db:
            [outcome] = await service.submit(db, person_id, [item], policy=policy(signer))
            await db.commit()
            return outcome

    outcomes = await asyncio.wait_for(asyncio.gather(*(attempt() for _ in range(4))), 30)
    assert {o.status for o in outcomes} == {"accepted"}
    assert len({o.receipt for o in outcomes}) == 1, "every replay answers with the winner's"
    # Three of them inserted, hit the unique constraint, and answered as a replay.
    assert sum(o.replayed for o in outcomes) == 3
    assert await count(factory, person_id) == 1


async def test_concurrent_replays_over_http_store_one_row(committed: Committed) -> None:
    factory, person_id = committed
    app = app_for(factory, GatedSigner(parties=5))
    item = entry("change-of-address", 2, ADDRESS_V2)
    async with asgi_client(app) as client, factory() as db:
        await sign_in(client, db, person_id)
        results = await asyncio.wait_for(
            asyncio.gather(*(submit(client, item) for _ in range(5))), 30
        )
    assert len({json.dumps(r, sort_keys=True) for r in results}) == 1
    assert results[0]["status"] == "ACCEPTED"
    assert await count(factory, person_id) == 1


async def test_racing_batches_with_the_same_entries_in_opposite_order_do_not_deadlock(
    committed: Committed,
) -> None:
    """Entries are inserted in client-id order, so both take the index locks in one order."""
    factory, person_id = committed
    signer = GatedSigner(parties=2)
    items = [
        as_input(entry("general-question", 1, QUESTION)),
        as_input(entry("foreign-bank-account", 1, BANK_IBAN)),
    ]

    async def flush(order: list[service.SubmissionInput]) -> list[str]:
        async with factory() as db:
            outcomes = await service.submit(db, person_id, order, policy=policy(signer))
            await db.commit()
            return sorted(o.receipt or "" for o in outcomes)

    first, second = await asyncio.wait_for(asyncio.gather(flush(items), flush(items[::-1])), 30)
    assert first == second
    assert await count(factory, person_id) == 2


async def test_two_submissions_racing_for_one_attachment_link_it_once(
    committed: Committed,
) -> None:
    """The loser's row is withdrawn and it answers ATTACHMENT_IN_USE; nothing half-linked."""
    factory, person_id = committed
    async with factory() as db:
        evidence = FormAttachment(
            person_id=person_id,
            filename="aanslag.pdf",
            media_type="application/pdf",
            size=100,
            received_bytes=100,
            sha256="0" * 64,
            storage_key=uuid.uuid4().hex,
            expires_at=utcnow() + timedelta(days=1),
            completed_at=utcnow(),
        )
        db.add(evidence)
        await db.commit()
    signer = GatedSigner(parties=2)
    items = [as_input(entry("income-statement", 1, income([str(evidence.id)]))) for _ in range(2)]

    async def attempt(item: service.SubmissionInput) -> service.Outcome:
        async with factory() as db:
            [outcome] = await service.submit(db, person_id, [item], policy=policy(signer))
            await db.commit()
            return outcome

    outcomes = await asyncio.wait_for(asyncio.gather(*(attempt(i) for i in items)), 30)
    assert sorted(o.status for o in outcomes) == ["accepted", "invalid"]
    [loser] = [o for o in outcomes if o.status == "invalid"]
    assert [e.code for e in loser.errors] == ["ATTACHMENT_IN_USE"]
    assert await count(factory, person_id) == 1
    async with factory() as db:
        linked = await db.scalar(
            select(FormAttachment.submission_id).where(FormAttachment.id == evidence.id)
        )
        winner = await db.scalar(
            select(FormSubmission.id).where(FormSubmission.person_id == person_id)
        )
    assert linked == winner


def _graphql_scope(body: bytes, token: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver.local"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"cookie", f"duo_session={token}".encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver.local", 80),
        "state": {},
    }


async def _send_and_lose_the_answer(
    app: Litestar, body: bytes, token: str, *, give_up: asyncio.Event | None = None
) -> None:
    """POST through the raw ASGI interface; the response never reaches the client.

    Without `give_up`, the connection drops when the server starts answering, that is after
    its transaction committed. With it, the client times out once `give_up` is set.
    """
    answering = asyncio.Event()
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the client says nothing more
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answering.set()
            await asyncio.Event().wait()  # the network is gone: nothing gets through

    request = asyncio.create_task(app(_graphql_scope(body, token), receive, send))  # type: ignore[arg-type]
    await asyncio.wait_for((give_up or answering).wait(), 30)
    request.cancel()  # the client's timeout
    with suppress(asyncio.CancelledError):
        await request


async def test_a_connection_lost_after_commit_is_retried_into_the_original_receipt(
    committed: Committed,
) -> None:
    factory, person_id = committed
    app = app_for(factory, JoseReceiptSigner.generate())
    item = entry("general-question", 1, QUESTION)
    body = json.dumps({"query": SUBMIT_FORM, "variables": {"input": item}}).encode()
    async with asgi_client(app) as client, factory() as db:
        token = await sign_in(client, db, person_id)
        await _send_and_lose_the_answer(app, body, token)
        async with factory() as check:
            stored = await check.scalar(
                select(FormSubmission).where(
                    FormSubmission.client_id == uuid.UUID(item["clientId"])
                )
            )
        assert stored is not None, "the server committed before the answer was lost"
        retried = await submit(client, item)  # the outbox retries on reconnect
    assert retried["status"] == "ACCEPTED"
    assert retried["receipt"] == stored.receipt
    assert retried["submission"]["receivedAt"].startswith(stored.received_at.isoformat()[:19])
    assert await count(factory, person_id) == 1


async def test_a_request_abandoned_before_commit_leaves_nothing_and_the_retry_stores_once(
    committed: Committed,
) -> None:
    factory, person_id = committed
    signer = StallingSigner()
    app = app_for(factory, signer)
    item = entry("general-question", 1, QUESTION)
    body = json.dumps({"query": SUBMIT_FORM, "variables": {"input": item}}).encode()
    async with asgi_client(app) as client, factory() as db:
        token = await sign_in(client, db, person_id)
        await _send_and_lose_the_answer(app, body, token, give_up=signer.stalled)
        assert await count(factory, person_id) == 0, "rolled back, nothing half-stored"
        retried = await submit(client, item)
        assert (await submit(client, item)) == retried
    assert retried["status"] == "ACCEPTED"
    assert await count(factory, person_id) == 1
