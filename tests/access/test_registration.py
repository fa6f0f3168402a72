"""After DUO's approval, the requesting browser registers its passkey; nobody else can."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from access import review
from access.models import AccessRequest, RequestStatus
from api.settings import Settings
from auth.models import AuditEvent
from tests.access.support import Requester, requester
from tests.auth.flows import ORIGIN, error_code, passkey_count, viewer_name
from tests.support import asgi_client
from tests.webauthn_soft import SoftAuthenticator

STAFF = uuid.uuid4()


async def approve(db: AsyncSession, me: Requester, person_id: uuid.UUID) -> None:
    assert me.request_id is not None
    await review.approve(
        db,
        uuid.UUID(me.request_id),
        staff_id=STAFF,
        person_id=person_id,
        settings=Settings(environment="test"),
    )
    await db.commit()


async def register(
    client: httpx.AsyncClient, request_id: str | None, secret: str, phone: SoftAuthenticator
) -> httpx.Response:
    started = await client.post(
        "/auth/access-request", json={"requestId": request_id, "secret": secret}
    )
    if started.status_code != 200:
        return started
    credential = phone.create(started.json()["publicKey"], origin=ORIGIN)
    return await client.post("/auth/passkeys", json=credential)


async def test_the_approved_browser_registers_a_passkey_and_is_signed_in(
    client: httpx.AsyncClient, db: AsyncSession, person_factory: Any
) -> None:
    person = await person_factory(given_names="Mei")
    me = requester(client)
    await me.submit_complete()
    phone = SoftAuthenticator()
    early = await register(client, me.request_id, me.secret, phone)
    assert (early.status_code, error_code(early)) == (400, "ACCESS_REQUEST_INVALID")

    await approve(db, me, person.person["id"])
    state = (await me.state()).json()
    assert (state["status"], state["canRegister"]) == ("approved", True)
    finished = await register(client, me.request_id, me.secret, phone)
    assert finished.status_code == 200, finished.text
    assert finished.json()["signedIn"] is True
    assert len(finished.json()["recoveryKey"].replace("-", "")) == 25
    assert await viewer_name(client) == "Mei"
    assert await passkey_count(db, person.person["id"]) == 1
    done = (await me.state()).json()
    assert (done["status"], done["canRegister"]) == ("completed", False)

    # The approval is spent: the same browser cannot register a second passkey with it.
    again = await register(client, me.request_id, me.secret, SoftAuthenticator())
    assert (again.status_code, error_code(again)) == (400, "ACCESS_REQUEST_INVALID")
    assert await passkey_count(db, person.person["id"]) == 1
    reasons = (
        await db.scalars(
            select(AuditEvent.reason).where(
                AuditEvent.action == "access_request.redeem", AuditEvent.outcome == "failure"
            )
        )
    ).all()
    assert list(reasons) == ["not_approved", "used"]


async def test_a_secret_from_another_browser_gets_nothing(
    app: Litestar, client: httpx.AsyncClient, db: AsyncSession, person_factory: Any
) -> None:
    person = await person_factory()
    me = requester(client)
    await me.submit_complete()
    await approve(db, me, person.person["id"])
    async with asgi_client(app) as other_browser:
        stranger = requester(other_browser)
        assert (await stranger.create()).status_code == 201
        # Its own secret against my request id; my id in a guessed body; no secret at all.
        for secret in (stranger.secret, "A" * 43, ""):
            refused = await register(other_browser, me.request_id, secret, SoftAuthenticator())
            assert refused.status_code == 400, refused.text
            assert error_code(refused) in ("ACCESS_REQUEST_INVALID",)
            assert "set-cookie" not in refused.headers or "duo_session" not in refused.headers.get(
                "set-cookie", ""
            )
        assert await viewer_name(other_browser) is None
    assert await passkey_count(db, person.person["id"]) == 0
    # My browser still can.
    assert (
        await register(client, me.request_id, me.secret, SoftAuthenticator())
    ).status_code == 200


async def test_an_expired_approval_no_longer_registers(
    client: httpx.AsyncClient, db: AsyncSession, person_factory: Any
) -> None:
    person = await person_factory()
    me = requester(client)
    await me.submit_complete()
    await approve(db, me, person.person["id"])
    assert me.request_id is not None
    row = await db.get(AccessRequest, uuid.UUID(me.request_id))
    assert row is not None
    await db.execute(
        update(AccessRequest)
        .where(AccessRequest.id == row.id)
        .values(approval_expires_at=row.approval_expires_at - timedelta(days=31))  # type: ignore[operator]
    )
    await db.commit()
    assert (await me.state()).json()["canRegister"] is False
    refused = await register(client, me.request_id, me.secret, SoftAuthenticator())
    assert error_code(refused) == "ACCESS_REQUEST_INVALID"
    assert await passkey_count(db, person.person["id"]) == 0
    status = await db.scalar(select(AccessRequest.status).where(AccessRequest.id == row.id))
    assert status is RequestStatus.APPROVED


async def test_the_request_secret_never_reaches_the_audit_log_or_logs(
    client: httpx.AsyncClient,
    db: AsyncSession,
    person_factory: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    person = await person_factory()
    me = requester(client)
    await me.submit_complete()
    wrong = Requester(client=client, secret=requester(client).secret, request_id=me.request_id)
    assert (await wrong.state()).status_code == 404
    await approve(db, me, person.person["id"])
    assert (
        await register(client, me.request_id, me.secret, SoftAuthenticator())
    ).status_code == 200
    rows = (await db.scalars(select(AuditEvent))).all()
    dump = json.dumps([[r.action, r.reason, r.details, r.user_agent] for r in rows])
    for secret in (me.secret, wrong.secret):
        assert secret not in dump
        assert secret not in caplog.text
