"""The push API a PWA uses: public key, devices, preferences. Only one's own devices exist."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.settings import Settings, SettingsError
from notifications.models import PushSubscription, VapidKey
from notifications.runtime import PushRuntime
from tests.notifications.support import fake_keys
from tests.support import error_codes, gql, sign_in

DEVICES = "{ viewer { pushDevices { id name pushService lastSeenAt endpointHash } } }"
SUBSCRIBE = """
mutation($input: PushSubscriptionInput!) { subscribePush(input: $input) { id name lastSeenAt } }
"""
UNSUBSCRIBE = "mutation($id: ID, $e: String) { unsubscribePush(id: $id, endpoint: $e) }"
TEST_PUSH = "mutation($id: ID) { sendTestPush(id: $id) { delivered outcome } }"
PREFERENCES = """{ viewer { reminderPreferences {
  kinds offsetsDays quietHours { start end } timeZone timeZoneFollowsProfile
  language languageFollowsProfile } } }"""
UPDATE = """mutation($input: ReminderPreferencesInput!) { updateReminderPreferences(input: $input) {
  kinds offsetsDays quietHours { start end } timeZone timeZoneFollowsProfile
  language languageFollowsProfile } }"""


def subscription(endpoint: str, **extra: Any) -> dict[str, Any]:
    return {"endpoint": endpoint, "keys": fake_keys(), **extra}


async def test_public_key_is_made_once_and_kept(
    app: Litestar,
    client: httpx.AsyncClient,
    db: AsyncSession,
    person_factory: Any,
    session_factory: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    made = (await app.state["push"].keys()).public_key
    assert await db.scalar(select(VapidKey.public_key)) == made
    me = await person_factory()
    await sign_in(client, db, me.person["id"])
    served = (await gql(client, "{ viewer { pushPublicKey } }"))["data"]["viewer"]
    assert served["pushPublicKey"] == made
    assert len(made) == 87  # base64url of a 65-byte uncompressed P-256 point
    # Another process (a worker, a restart) reads the same key pair.
    other = PushRuntime(settings, session_factory)
    assert (await other.keys()).public_key == made


async def test_signed_out_gets_no_key(client: httpx.AsyncClient) -> None:
    body = await gql(client, "{ viewer { pushPublicKey } }")
    assert error_codes(body) == ["UNAUTHENTICATED"]


async def test_subscribing_again_refreshes_the_same_device(
    client: httpx.AsyncClient, db: AsyncSession, person_factory: Any
) -> None:
    me = await person_factory()
    await sign_in(client, db, me.person["id"])
    device = subscription("https://fcm.googleapis.com/fcm/send/phone-1")
    first = await gql(client, SUBSCRIBE, {"input": {**device, "deviceName": "My phone"}})
    assert "errors" not in first, first
    second = await gql(client, SUBSCRIBE, {"input": device})  # the next app start
    assert second["data"]["subscribePush"]["id"] == first["data"]["subscribePush"]["id"]
    assert second["data"]["subscribePush"]["name"] == "My phone"
    devices = (await gql(client, DEVICES))["data"]["viewer"]["pushDevices"]
    assert [d["pushService"] for d in devices] == ["fcm.googleapis.com"]
    assert devices[0]["lastSeenAt"] >= first["data"]["subscribePush"]["lastSeenAt"]
    # The app recognises its own device by hashing its endpoint; the endpoint is not echoed.
    endpoint = "https://fcm.googleapis.com/fcm/send/phone-1"
    assert devices[0]["endpointHash"] == hashlib.sha256(endpoint.encode()).hexdigest()


async def test_bad_subscriptions_are_field_errors(
    client: httpx.AsyncClient, db: AsyncSession, person_factory: Any
) -> None:
    me = await person_factory()
    await sign_in(client, db, me.person["id"])
    bad_keys = {"endpoint": "https://fcm.googleapis.com/x", "keys": {"p256dh": "AAAA", "auth": "x"}}
    body = await gql(client, SUBSCRIBE, {"input": bad_keys})
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "keys"}
    body = await gql(client, SUBSCRIBE, {"input": subscription("javascript:alert(1)")})
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "endpoint"}


async def test_nobody_reads_or_removes_another_persons_devices(
    client: httpx.AsyncClient, db: AsyncSession, person_factory: Any
) -> None:
    other = await person_factory()
    me = await person_factory()
    await sign_in(client, db, other.person["id"])
    theirs = (
        await gql(client, SUBSCRIBE, {"input": subscription("https://fcm.googleapis.com/x/B")})
    )["data"]["subscribePush"]["id"]

    await sign_in(client, db, me.person["id"])
    assert (await gql(client, DEVICES))["data"]["viewer"]["pushDevices"] == []
    by_id = await gql(client, UNSUBSCRIBE, {"id": theirs})
    assert error_codes(by_id) == ["NOT_FOUND"]
    by_endpoint = await gql(client, UNSUBSCRIBE, {"e": "https://fcm.googleapis.com/x/B"})
    assert error_codes(by_endpoint) == ["NOT_FOUND"]
    test_push = await gql(client, TEST_PUSH, {"id": theirs})
    assert error_codes(test_push) == ["NOT_FOUND"]
    still = select(func.count()).where(PushSubscription.id == uuid.UUID(theirs))
    assert await db.scalar(still) == 1


async def test_own_devices_can_be_removed_by_id_or_endpoint(
    client: httpx.AsyncClient, db: AsyncSession, person_factory: Any
) -> None:
    me = await person_factory()
    await sign_in(client, db, me.person["id"])
    one = await gql(client, SUBSCRIBE, {"input": subscription("https://fcm.googleapis.com/1")})
    await gql(client, SUBSCRIBE, {"input": subscription("https://fcm.googleapis.com/2")})
    assert (await gql(client, UNSUBSCRIBE, {"id": one["data"]["subscribePush"]["id"]}))["data"]
    assert (await gql(client, UNSUBSCRIBE, {"e": "https://fcm.googleapis.com/2"}))["data"]
    assert (await gql(client, DEVICES))["data"]["viewer"]["pushDevices"] == []
    neither = await gql(client, UNSUBSCRIBE, {})
    assert error_codes(neither) == ["BAD_USER_INPUT"]


async def test_a_browser_that_changes_hands_moves_to_the_new_person(
    client: httpx.AsyncClient, db: AsyncSession, person_factory: Any
) -> None:
    """One browser profile has one endpoint: whoever signs in there last receives its pushes."""
    first = await person_factory()
    second = await person_factory()
    device = subscription("https://fcm.googleapis.com/shared-laptop")
    await sign_in(client, db, first.person["id"])
    await gql(client, SUBSCRIBE, {"input": device})
    await sign_in(client, db, second.person["id"])
    await gql(client, SUBSCRIBE, {"input": device})
    assert len((await gql(client, DEVICES))["data"]["viewer"]["pushDevices"]) == 1
    await sign_in(client, db, first.person["id"])
    assert (await gql(client, DEVICES))["data"]["viewer"]["pushDevices"] == []


async def test_preferences_default_then_change_and_follow_the_profile_again(
    client: httpx.AsyncClient, db: AsyncSession, person_factory: Any
) -> None:
    me = await person_factory(time_zone="Asia/Jakarta", preferred_language="en")
    await sign_in(client, db, me.person["id"])
    defaults = (await gql(client, PREFERENCES))["data"]["viewer"]["reminderPreferences"]
    assert defaults["offsetsDays"] == [14, 3, 1]
    assert defaults["quietHours"] == {"start": "22:00:00", "end": "08:00:00"}
    assert defaults["timeZone"] == "Asia/Jakarta"
    assert defaults["timeZoneFollowsProfile"]
    assert set(defaults["kinds"]) == {"PAYMENT", "INCOME_STATEMENT", "APPLICATION", "DOCUMENT"}

    changed = await gql(
        client,
        UPDATE,
        {
            "input": {
                "kinds": ["PAYMENT"],
                "offsetsDays": [1, 7, 7, 30],
                "quietHours": {"start": "23:30", "end": "06:30"},
                "timeZone": "America/Sao_Paulo",
                "language": "nl",
            }
        },
    )
    prefs = changed["data"]["updateReminderPreferences"]
    assert prefs["kinds"] == ["PAYMENT"]
    assert prefs["offsetsDays"] == [30, 7, 1]
    assert prefs["quietHours"] == {"start": "23:30:00", "end": "06:30:00"}
    assert (prefs["timeZone"], prefs["timeZoneFollowsProfile"]) == ("America/Sao_Paulo", False)
    assert (prefs["language"], prefs["languageFollowsProfile"]) == ("nl", False)

    cleared = await gql(
        client, UPDATE, {"input": {"quietHours": None, "timeZone": None, "language": None}}
    )
    prefs = cleared["data"]["updateReminderPreferences"]
    assert prefs["quietHours"] is None
    assert prefs["timeZone"] == "Asia/Jakarta"
    assert prefs["timeZoneFollowsProfile"]
    assert prefs["offsetsDays"] == [30, 7, 1]  # untouched


async def test_bad_preferences_are_field_errors(
    client: httpx.AsyncClient, db: AsyncSession, person_factory: Any
) -> None:
    me = await person_factory()
    await sign_in(client, db, me.person["id"])
    for change, field in (
        ({"timeZone": "../../etc/passwd"}, "timeZone"),
        ({"timeZone": "Mars/Olympus_Mons"}, "timeZone"),
        ({"offsetsDays": []}, "offsetsDays"),
        ({"offsetsDays": [0]}, "offsetsDays"),
        ({"offsetsDays": [1, 2, 3, 4, 5, 6]}, "offsetsDays"),
        ({"offsetsDays": [61]}, "offsetsDays"),
        ({"quietHours": {"start": "08:00", "end": "08:00"}}, "quietHours"),
        ({"language": "de"}, "language"),
    ):
        body = await gql(client, UPDATE, {"input": change})
        assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": field}, change


async def test_server_start_in_production_without_vapid_key_is_refused(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    production = Settings(
        environment="production", secret_key="s" * 40, public_origin="https://abroad.duo.example"
    )
    runtime = PushRuntime(production, session_factory)
    with pytest.raises(SettingsError, match="VAPID_PRIVATE_KEY"):
        await runtime.start()
    await runtime.close()


async def test_test_push_is_rate_limited(
    client: httpx.AsyncClient, db: AsyncSession, person_factory: Any, settings: Settings
) -> None:
    me = await person_factory()
    await sign_in(client, db, me.person["id"])
    device = await gql(client, SUBSCRIBE, {"input": subscription("http://127.0.0.1:9/nobody")})
    device_id = device["data"]["subscribePush"]["id"]
    outcomes = [await gql(client, TEST_PUSH, {"id": device_id}) for _ in range(11)]
    assert all(o["data"]["sendTestPush"]["outcome"] == "CONNECTION_ERROR" for o in outcomes[:10])
    assert error_codes(outcomes[10]) == ["RATE_LIMITED"]
