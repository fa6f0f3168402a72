"""The requester allowed notifications before having an account: a decision reaches them."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from access import review
from access.notify import notify_status
from tests.access.support import error, requester
from tests.notifications.conftest import Receiver
from tests.notifications.support import fake_keys

STAFF = uuid.uuid4()


async def test_a_decision_is_pushed_to_the_requesting_browser_without_personal_data(
    app: Litestar,
    client: httpx.AsyncClient,
    db: AsyncSession,
    session_factory: async_sessionmaker[AsyncSession],
    push_receiver: Receiver,
) -> None:
    me = requester(client)
    state = await me.submit_complete(fullName="Mei Zhang", language="nl")
    made = await push_receiver.subscribe(state["pushPublicKey"])
    allowed = await client.put(
        f"/access/requests/{me.request_id}/push",
        json={"endpoint": made["endpoint"], "keys": made["keys"], "expirationTime": None},
        headers=me.auth,
    )
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["push"] is True

    request_id = uuid.UUID(str(me.request_id))
    await review.ask_more_info(db, request_id, staff_id=STAFF, message="Your passport number?")
    await db.commit()
    sender = await app.state["push"].sender()
    result = await notify_status(session_factory, sender, request_id)
    assert result is not None
    assert result.status_code == 201
    [message] = await push_receiver.messages(made["clientHash"])
    payload: dict[str, Any] = json.loads(message)
    assert payload["type"] == "access"
    assert payload["url"] == "/#/access"
    assert payload["lang"] == "nl"
    assert "nieuws" in payload["body"]
    # A lock screen shows it: no name, no decision, no question.
    for secret in ("Mei", "Zhang", "passport", "more_info"):
        assert secret not in message

    # The push service forgot the subscription: so does the request.
    await push_receiver.expire(made["clientHash"])
    gone = await notify_status(session_factory, sender, request_id)
    assert gone is not None
    assert gone.reason == "gone"
    assert (await me.state()).json()["push"] is False
    assert await notify_status(session_factory, sender, request_id) is None


async def test_push_subscriptions_are_checked_like_an_accounts(client: httpx.AsyncClient) -> None:
    me = requester(client)
    await me.create()
    bad = await client.put(
        f"/access/requests/{me.request_id}/push",
        json={"endpoint": "file:///etc/passwd", "keys": fake_keys()},
        headers=me.auth,
    )
    assert error(bad) == (400, "BAD_USER_INPUT", "endpoint")
    keys = {**fake_keys(), "auth": "short"}
    worse = await client.put(
        f"/access/requests/{me.request_id}/push",
        json={"endpoint": "https://push.example/x", "keys": keys},
        headers=me.auth,
    )
    assert error(worse) == (400, "BAD_USER_INPUT", "keys")
    removed = await client.delete(f"/access/requests/{me.request_id}/push", headers=me.auth)
    assert removed.status_code == 204
