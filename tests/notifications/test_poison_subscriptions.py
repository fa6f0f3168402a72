"""One bad subscription spoils only its own delivery: endpoints are parsed strictly when they are
stored, and whatever still cannot be signed or sent (a row stored before the stricter check) is
recorded as rejected with its reason while the rest of its job goes out."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.errors import InvalidInput
from api.settings import Settings
from notifications.models import DeliveryStatus, PushDelivery, PushSubscription
from notifications.sender import Outcome, PushSender
from notifications.subscriptions import check_endpoint
from notifications.transport import Outgoing, PushTransport
from notifications.vapid import (
    UnsignableEndpoint,
    VapidSigner,
    generate_keys,
    push_service_origin,
)
from notifications.webpush import PreparedPush, PushRequest, PushResponse, WebPushClient
from tests.notifications.support import (
    Sink,
    add_deadline,
    add_device,
    fake_keys,
    make_worker,
    person_without_reminders,
)
from tests.support import gql, sign_in

PRODUCTION = Settings(environment="production", secret_key="s" * 40)
DEVELOPMENT = Settings(environment="development")
SUBSCRIBE = "mutation($input: PushSubscriptionInput!) { subscribePush(input: $input) { id } }"
TEST_PUSH = "mutation($id: ID) { sendTestPush(id: $id) { delivered outcome statusCode } }"
# Stored before endpoints were checked this strictly: py_vapid cannot name their push service.
UNSIGNABLE = ["http://[::1]:9/push/ipv6", "https://fcm.googleapis.com:99999/fcm/send/port"]


@pytest.mark.parametrize(
    ("endpoint", "origin"),
    [
        # RFC 3986 §3.2.3: an empty port is the default port; RFC 6454 §6.2 omits it.
        ("https://fcm.googleapis.com:/fcm/send/a", "https://fcm.googleapis.com"),
        ("https://fcm.googleapis.com:443/fcm/send/a", "https://fcm.googleapis.com"),
        ("https://FCM.googleapis.com/fcm/send/a", "https://fcm.googleapis.com"),
        ("http://127.0.0.1:8080/push/a", "http://127.0.0.1:8080"),
    ],
)
def test_the_vapid_audience_is_the_endpoints_serialised_origin(endpoint: str, origin: str) -> None:
    assert push_service_origin(endpoint) == origin


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://@fcm.googleapis.com/fcm/send/a",  # empty userinfo
        "https://fcm.googleapis.com:80/fcm/send/a",
        "https://fcm.googleapis.com:44x/fcm/send/a",
        "https://fcm.googleapis.com:+443/fcm/send/a",
        "https://fcm.googleapis.com",  # no path
        "https://fcm.googleapis.com?to=x",
        "https://fcm.googleapis.com/fcm/send/a#x",
        "https://[2001:4860:4860::8888]/fcm/send/a",
    ],
)
def test_production_refuses_endpoints_a_strict_parser_refuses(endpoint: str) -> None:
    with pytest.raises(InvalidInput):
        check_endpoint(endpoint, PRODUCTION)


def test_production_accepts_an_empty_port_as_the_default_one() -> None:
    endpoint = "https://fcm.googleapis.com:/fcm/send/a"
    assert check_endpoint(endpoint, PRODUCTION) == endpoint


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://[::1]:9000/push/a",  # outside production too: no VAPID token can name it
        "https://host_name.example/push/a",
        "https://-bad.example/push/a",
        "http://127.0.0.1:0/push/a",
        *UNSIGNABLE,
    ],
)
def test_outside_production_what_cannot_be_signed_or_reached_is_refused(endpoint: str) -> None:
    with pytest.raises(InvalidInput):
        check_endpoint(endpoint, DEVELOPMENT)


def test_unsignable_origins_are_named_as_such() -> None:
    for endpoint in UNSIGNABLE:
        with pytest.raises(UnsignableEndpoint):
            push_service_origin(endpoint)


async def test_subscribing_with_an_ipv6_literal_is_a_field_error(
    client: httpx.AsyncClient, db: AsyncSession, person_factory: Any
) -> None:
    me = await person_factory()
    await sign_in(client, db, me.person["id"])
    device = {"endpoint": "http://[::1]:9/push/a", "keys": fake_keys()}
    body = await gql(client, SUBSCRIBE, {"input": device})
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "endpoint"}
    assert "VAPID" in body["errors"][0]["message"]


async def test_a_job_with_unsignable_devices_delivers_the_rest_and_records_them_rejected(
    db: AsyncSession,
    sink: Sink,
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    good = []
    for i in range(3):
        person_id = await person_without_reminders(db)
        await add_deadline(db, person_id, due_in=timedelta(days=2, hours=2))
        good.append(await add_device(db, person_id, sink.endpoint(f"good-{i}")))
        if i < len(UNSIGNABLE):
            await add_device(db, person_id, UNSIGNABLE[i])
    await db.commit()
    worker, runtime = await make_worker(settings, session_factory)
    try:
        scanned = await worker.scan()
        assert scanned.deliveries == 5
        ids = list(await db.scalars(select(PushDelivery.id)))
        await worker.deliver(ids)  # one job: the poisoned deliveries among the good ones
    finally:
        await runtime.close()

    assert sink.accepted == {f"/push/good-{i}": 1 for i in range(3)}
    rows = (
        await db.execute(
            select(PushSubscription.endpoint, PushDelivery)
            .join(PushSubscription, PushSubscription.id == PushDelivery.subscription_id)
            .execution_options(populate_existing=True)
        )
    ).all()
    outcome = {endpoint: (d.status, d.attempts) for endpoint, d in rows}
    assert outcome == {
        **{sink.endpoint(f"good-{i}"): (DeliveryStatus.DELIVERED, 1) for i in range(3)},
        **{endpoint: (DeliveryStatus.REJECTED, 1) for endpoint in UNSIGNABLE},
    }
    errors = {endpoint: d.last_error for endpoint, d in rows if endpoint in UNSIGNABLE}
    assert all(error and "VAPID cannot sign" in error for error in errors.values()), errors
    assert all(d.lease_until is None for _, d in rows)  # nothing left held
    assert runtime.metrics.snapshot() == {"delivered": 3, "unsignable": 2}


@pytest.mark.parametrize("endpoint", UNSIGNABLE)
async def test_a_test_push_to_an_unsignable_device_answers_rejected(
    client: httpx.AsyncClient, db: AsyncSession, person_factory: Any, endpoint: str
) -> None:
    me = await person_factory()
    device_id = await add_device(db, me.person["id"], endpoint)
    await sign_in(client, db, me.person["id"])
    body = await gql(client, TEST_PUSH, {"id": str(device_id)})
    assert "errors" not in body, body
    assert body["data"]["sendTestPush"] == {
        "delivered": False,
        "outcome": "REJECTED",
        "statusCode": None,
    }


class _BrokenForOne(WebPushClient):
    """A client with a bug that shows for one endpoint only."""

    def prepare(self, request: PushRequest, *, authorization: str) -> PreparedPush | PushResponse:
        if request.endpoint.endswith("/bug-in-prepare"):
            raise RuntimeError("a bug while composing")
        return PreparedPush(Outgoing(("http", "x", 80), request.endpoint.encode()))

    async def send(self, prepared: PreparedPush) -> PushResponse:
        if prepared.outgoing.request.endswith(b"/bug-in-send"):
            raise KeyError("a bug while sending")
        return PushResponse(201)


async def test_a_bug_for_one_message_leaves_the_batch_alone() -> None:
    sender = PushSender(
        _BrokenForOne(PushTransport(timeout_seconds=1)),
        VapidSigner(generate_keys(), subject="mailto:ops@duo.example"),
        concurrency=2,
    )
    endpoints = ["ok-1", "bug-in-prepare", "ok-2", "bug-in-send", "ok-3"]
    keys = fake_keys()
    requests = [
        PushRequest(f"http://127.0.0.1:9/push/{e}", keys["p256dh"], keys["auth"], b"{}", ttl=60)
        for e in endpoints
    ]
    results = await sender.send_many(requests)
    assert [(r.outcome, r.reason) for r in results] == [
        (Outcome.DELIVERED, "delivered"),
        (Outcome.REJECTED, "unsendable"),
        (Outcome.DELIVERED, "delivered"),
        (Outcome.REJECTED, "unsendable"),
        (Outcome.DELIVERED, "delivered"),
    ]
    assert results[1].detail == "RuntimeError: a bug while composing"
