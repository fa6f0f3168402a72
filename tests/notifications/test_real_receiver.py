"""Against a real Web Push receiver (npm web-push-testing): it checks the VAPID token, decrypts
the message like a browser and answers 410 for an expired subscription."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from litestar import Litestar
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.settings import Settings
from notifications.models import (
    DeliveryStatus,
    InboxMessage,
    MessageKind,
    PushDelivery,
    PushSubscription,
)
from tests.notifications.conftest import Receiver
from tests.notifications.support import add_deadline, make_worker, person_without_reminders
from tests.support import gql, sign_in

SUBSCRIBE = "mutation($input: PushSubscriptionInput!) { subscribePush(input: $input) { id } }"
TEST_PUSH = """mutation($e: String) { sendTestPush(endpoint: $e) {
  delivered outcome statusCode tag deviceName } }"""
REMINDERS = """{ viewer { reminders { offsetDays messageId deliveries { status attempts } }
  inbox { nodes { id kind subject body } } pushDevices { id } } }"""


async def browser_subscription(
    client: httpx.AsyncClient, receiver: Receiver
) -> tuple[dict[str, Any], str]:
    """What the PWA does: read the key, subscribe at the push service, hand the result over."""
    key = (await gql(client, "{ viewer { pushPublicKey } }"))["data"]["viewer"]["pushPublicKey"]
    made = await receiver.subscribe(key)
    device = {"endpoint": made["endpoint"], "keys": made["keys"], "deviceName": "Test browser"}
    body = await gql(client, SUBSCRIBE, {"input": device})
    assert "errors" not in body, body
    return device, made["clientHash"]


async def test_test_push_arrives_decrypted(
    client: httpx.AsyncClient, db: AsyncSession, push_receiver: Receiver, person_factory: Any
) -> None:
    me = await person_factory(preferred_language="nl")
    await sign_in(client, db, me.person["id"])
    device, client_hash = await browser_subscription(client, push_receiver)

    body = await gql(client, TEST_PUSH, {"e": device["endpoint"]})
    result = body["data"]["sendTestPush"]
    assert result["delivered"] is True, body
    assert (result["outcome"], result["statusCode"]) == ("DELIVERED", 201)
    assert result["deviceName"] == "Test browser"
    [message] = await push_receiver.messages(client_hash)
    payload = json.loads(message)
    assert payload["type"] == "test"
    assert payload["tag"] == result["tag"]
    assert payload["title"] == "Testmelding van DUO Abroad"
    assert payload["lang"] == "nl"


async def test_a_due_reminder_reaches_every_device_and_the_inbox_once(
    app: Litestar,
    client: httpx.AsyncClient,
    db: AsyncSession,
    push_receiver: Receiver,
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    # The clock and the zone are the test's: at 07:30 UTC a person in a zone behind UTC is
    # still on the day before, and "due in 2 days" would be "3 days" (a test that failed
    # every morning between 07:00 and 08:00 UTC). Amsterdam: 08:30 on the 28th, due the 30th.
    now = datetime(2026, 11, 28, 7, 30, tzinfo=UTC)
    person_id = await person_without_reminders(
        db, preferred_language="en", time_zone="Europe/Amsterdam"
    )
    deadline_id = await add_deadline(db, person_id, due_in=timedelta(days=2, hours=1), now=now)
    await db.commit()
    await sign_in(client, db, person_id)
    _phone, phone_hash = await browser_subscription(client, push_receiver)
    _laptop, laptop_hash = await browser_subscription(client, push_receiver)

    worker, runtime = await make_worker(settings, session_factory, clock=lambda: now)
    try:
        scanned = await worker.scan()
        assert (scanned.posted, scanned.deliveries) == (1, 2)  # the 3-day reminder
        again = await worker.scan()
        assert (again.posted, again.deliveries) == (0, 0)  # exactly once
        ids = list(await db.scalars(select(PushDelivery.id)))
        await worker.deliver(ids)
    finally:
        await runtime.close()

    for client_hash in (phone_hash, laptop_hash):
        [message] = await push_receiver.messages(client_hash)
        payload = json.loads(message)
        assert payload["type"] == "reminder"
        assert payload["title"] == "Income statement due in 2 days"
        assert payload["body"].startswith("Send proof of your income of last year. Deadline: ")
        assert payload["deadlineId"] == str(deadline_id)
        assert payload["tag"] == f"deadline-{deadline_id}"
        assert payload["url"] == "/#deadlines"
        assert payload["lang"] == "en"

    viewer = (await gql(client, REMINDERS))["data"]["viewer"]
    [reminder] = viewer["reminders"]
    assert reminder["offsetDays"] == 3
    assert [d["status"] for d in reminder["deliveries"]] == ["DELIVERED", "DELIVERED"]
    reminders_in_inbox = [m for m in viewer["inbox"]["nodes"] if m["kind"] == "REMINDER"]
    assert [m["id"] for m in reminders_in_inbox] == [reminder["messageId"]]
    assert reminders_in_inbox[0]["subject"] == payload["title"]
    assert reminders_in_inbox[0]["body"] == payload["body"]
    assert payload["messageId"] == reminder["messageId"]
    count = select(func.count()).where(
        InboxMessage.person_id == person_id, InboxMessage.kind == MessageKind.REMINDER
    )
    assert await db.scalar(count) == 1


async def test_an_expired_subscription_is_removed_after_its_410(
    client: httpx.AsyncClient,
    db: AsyncSession,
    push_receiver: Receiver,
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    person_id = await person_without_reminders(db)
    await add_deadline(db, person_id, due_in=timedelta(days=1, hours=3))
    await db.commit()
    await sign_in(client, db, person_id)
    _, client_hash = await browser_subscription(client, push_receiver)
    await push_receiver.expire(client_hash)

    worker, runtime = await make_worker(settings, session_factory)
    try:
        await worker.scan()
        [delivery_id] = list(await db.scalars(select(PushDelivery.id)))
        await worker.deliver([delivery_id])
        assert runtime.metrics.snapshot() == {"gone": 1}
    finally:
        await runtime.close()

    delivery = await db.get(PushDelivery, delivery_id, populate_existing=True)
    assert delivery is not None
    assert (delivery.status, delivery.last_status_code) == (DeliveryStatus.GONE, 410)
    assert delivery.subscription_id is None  # the record stays; the subscription went
    left = select(func.count()).where(PushSubscription.person_id == person_id)
    assert await db.scalar(left) == 0
    assert (await gql(client, REMINDERS))["data"]["viewer"]["pushDevices"] == []


async def test_test_push_to_an_expired_subscription_says_so_and_removes_it(
    client: httpx.AsyncClient, db: AsyncSession, push_receiver: Receiver, person_factory: Any
) -> None:
    me = await person_factory()
    await sign_in(client, db, me.person["id"])
    device, client_hash = await browser_subscription(client, push_receiver)
    await push_receiver.expire(client_hash)
    result = (await gql(client, TEST_PUSH, {"e": device["endpoint"]}))["data"]["sendTestPush"]
    assert (result["delivered"], result["outcome"], result["statusCode"]) == (
        False,
        "DEVICE_GONE",
        410,
    )
    left = select(func.count()).where(PushSubscription.person_id == me.person["id"])
    assert await db.scalar(left) == 0
    assert uuid.UUID(result["tag"].removeprefix("test-"))
