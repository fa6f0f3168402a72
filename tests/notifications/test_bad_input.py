"""Push subscription input that cannot be stored or used is refused by field, never a crash."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.notifications.support import fake_keys
from tests.support import gql, sign_in

DEVICES = "{ viewer { pushDevices { id name } } }"
SUBSCRIBE = """
mutation($input: PushSubscriptionInput!) { subscribePush(input: $input) { id name } }
"""
UNSUBSCRIBE = "mutation($e: String) { unsubscribePush(endpoint: $e) }"
TEST_PUSH = "mutation($e: String) { sendTestPush(endpoint: $e) { outcome } }"


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://fcm.googleapis.com/fcm/send/a\u0000b",
        "https://fcm.googleapis.com\u0000.evil.example/x",
        "https://fcm.googleapis.com/fcm/send/a\tb",
    ],
)
async def test_control_characters_in_an_endpoint_are_refused(
    client: httpx.AsyncClient, db: AsyncSession, person_factory: Any, endpoint: str
) -> None:
    me = await person_factory()
    await sign_in(client, db, me.person["id"])
    body = await gql(client, SUBSCRIBE, {"input": {"endpoint": endpoint, "keys": fake_keys()}})
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "endpoint"}
    assert (await gql(client, DEVICES))["data"]["viewer"]["pushDevices"] == []


@pytest.mark.parametrize("document", [UNSUBSCRIBE, TEST_PUSH])
async def test_an_endpoint_that_cannot_exist_is_not_found(
    client: httpx.AsyncClient, db: AsyncSession, person_factory: Any, document: str
) -> None:
    me = await person_factory()
    await sign_in(client, db, me.person["id"])
    body = await gql(client, document, {"e": "https://fcm.googleapis.com/x\u0000"})
    assert body["errors"][0]["extensions"] == {"code": "NOT_FOUND", "field": "id"}


@pytest.mark.parametrize("key", ["p256dh", "auth"])
async def test_keys_with_stray_characters_are_not_stored(
    client: httpx.AsyncClient, db: AsyncSession, person_factory: Any, key: str
) -> None:
    me = await person_factory()
    await sign_in(client, db, me.person["id"])
    keys = fake_keys()
    keys[key] = keys[key][:4] + "!\u0000" + keys[key][4:]  # the lax decoder would skip these
    device = {"endpoint": "https://fcm.googleapis.com/fcm/send/k", "keys": keys}
    body = await gql(client, SUBSCRIBE, {"input": device})
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "keys"}
    assert (await gql(client, DEVICES))["data"]["viewer"]["pushDevices"] == []


async def test_control_characters_leave_a_device_name(
    client: httpx.AsyncClient, db: AsyncSession, person_factory: Any
) -> None:
    me = await person_factory()
    await sign_in(client, db, me.person["id"])
    device = {
        "endpoint": "https://fcm.googleapis.com/fcm/send/n",
        "keys": fake_keys(),
        "deviceName": " My\u0000 phone\n",
    }
    body = await gql(client, SUBSCRIBE, {"input": device})
    assert "errors" not in body, body
    assert body["data"]["subscribePush"]["name"] == "My phone"
    only_controls = {**device, "deviceName": "\u0000\u0001"}
    again = await gql(client, SUBSCRIBE, {"input": only_controls})
    assert again["data"]["subscribePush"]["name"] == "My phone"  # kept, not blanked


@pytest.mark.parametrize(
    "variables",
    [{}, {"id": None, "e": None}, {"e": ""}, {"id": ""}, {"id": " ", "e": "  "}],
)
@pytest.mark.parametrize("field", ["unsubscribePush", "sendTestPush"])
async def test_neither_id_nor_endpoint_is_bad_user_input(
    client: httpx.AsyncClient,
    db: AsyncSession,
    person_factory: Any,
    variables: dict[str, Any],
    field: str,
) -> None:
    """An empty id or endpoint names no device: the same answer as none at all."""
    me = await person_factory()
    await sign_in(client, db, me.person["id"])
    selection = " { outcome }" if field == "sendTestPush" else ""
    document = f"mutation($id: ID, $e: String) {{ {field}(id: $id, endpoint: $e){selection} }}"
    body = await gql(client, document, variables)
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "id"}
    assert body["errors"][0]["message"] == "Give either id or endpoint."
