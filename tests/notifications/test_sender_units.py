"""The pieces of the sender without a network: encryption, VAPID header reuse, status codes,
endpoint checks (SSRF), retry policy. The transport's own checks: test_transport.py."""

from __future__ import annotations

import json
import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import http_ece
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid

from api.errors import InvalidInput
from api.settings import Settings, SettingsError, load_settings
from notifications import vapid
from notifications.deliveries import RetryPolicy
from notifications.sender import Outcome, classify
from notifications.subscriptions import check_endpoint, check_keys, describe_user_agent
from notifications.texts import MAX_PAYLOAD_BYTES, reminder_payload
from notifications.webpush import (
    InvalidSubscriptionKeys,
    PushResponse,
    encrypt,
    retry_after_seconds,
)
from tests.notifications.support import fake_keys

PRODUCTION = Settings(environment="production", secret_key="s" * 40)
DEVELOPMENT = Settings(environment="development")


def test_encryption_is_rfc8291_as_http_ece_decrypts_it() -> None:
    receiver = ec.generate_private_key(ec.SECP256R1())
    point = receiver.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    auth = os.urandom(16)
    message = b'{"title":"Betaling: morgen","body":"Uiterlijk 31 december."}'
    body = encrypt(message, p256dh=point, auth=auth)
    assert http_ece.decrypt(body, private_key=receiver, auth_secret=auth) == message
    assert encrypt(message, p256dh=point, auth=auth) != body  # a new key pair every message


def test_unusable_subscription_keys_are_refused() -> None:
    with pytest.raises(InvalidSubscriptionKeys):
        encrypt(b"x", p256dh=b"\x04" + b"\x01" * 64, auth=os.urandom(16))
    with pytest.raises(InvalidInput):
        check_keys("not base64!", "AAAA")
    good = fake_keys()
    with pytest.raises(InvalidInput, match="16 bytes"):
        check_keys(good["p256dh"], vapid.b64url(b"short"))
    check_keys(good["p256dh"], good["auth"])


def test_vapid_header_is_signed_once_per_push_service_and_renewed_before_expiry() -> None:
    keys = vapid.generate_keys()
    signer = vapid.VapidSigner(keys, subject="mailto:ops@duo.example")
    now = time.time()
    fcm = signer.authorization("https://fcm.googleapis.com", now=now)
    assert signer.authorization("https://fcm.googleapis.com", now=now + 3600) == fcm
    mozilla = signer.authorization("https://updates.push.services.mozilla.com", now=now)
    assert mozilla != fcm
    assert signer.signatures == 2
    # 12 hours of validity, renewed 30 minutes before the end.
    later = now + vapid.TOKEN_LIFETIME_SECONDS - vapid.RENEW_BEFORE_SECONDS + 1
    assert signer.authorization("https://fcm.googleapis.com", now=later) != fcm
    assert signer.signatures == 3
    assert Vapid.verify(fcm)  # a valid RFC 8292 "vapid t=…,k=…" header
    assert fcm.endswith(f"k={keys.public_key}")


def test_a_bad_vapid_subject_fails_at_startup() -> None:
    with pytest.raises(SettingsError, match="VAPID_SUBJECT"):
        vapid.VapidSigner(vapid.generate_keys(), subject="not-a-contact")


def test_configured_keys_in_every_format_give_the_same_public_key() -> None:
    keys = vapid.generate_keys()
    scalar = keys.private_key.private_numbers().private_value.to_bytes(32, "big")
    der = keys.private_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    for text in (keys.private_pem(), vapid.b64url(scalar), vapid.b64url(der)):
        assert vapid.parse_private_key(text).public_key == keys.public_key
    with pytest.raises(SettingsError):
        vapid.parse_private_key("garbage")


def test_production_refuses_to_start_without_a_vapid_key_pair() -> None:
    with pytest.raises(SettingsError, match="VAPID_PRIVATE_KEY"):
        vapid.check_configuration(PRODUCTION)
    configured = PRODUCTION.with_overrides(
        vapid_private_key=vapid.generate_keys().private_pem(), vapid_subject="mailto:a@duo.example"
    )
    vapid.check_configuration(configured)
    vapid.check_configuration(DEVELOPMENT)  # generated and kept in the database instead


@pytest.mark.parametrize(
    ("env", "complaint"),
    [
        ({"VAPID_SUBJECT": "ops@duo.example"}, "VAPID_SUBJECT"),
        ({"PUSH_CONCURRENCY": "0"}, "PUSH_CONCURRENCY"),
        ({"PUSH_TIMEOUT_SECONDS": "soon"}, "PUSH_TIMEOUT_SECONDS"),
        ({"PUSH_RETRY_CAP_SECONDS": "1", "PUSH_RETRY_BASE_SECONDS": "5"}, "CAP"),
    ],
)
def test_push_settings_are_validated(env: dict[str, str], complaint: str) -> None:
    with pytest.raises(SettingsError, match=complaint):
        load_settings(env)


def test_push_settings_are_read_from_the_environment() -> None:
    settings = load_settings(
        {
            "PUSH_ALLOWED_HOSTS": "fcm.googleapis.com, *.push.apple.com",
            "PUSH_CONCURRENCY": "200",
            "VAPID_SUBJECT": "mailto:ops@duo.example",
        }
    )
    assert settings.push_allowed_hosts == ("fcm.googleapis.com", "*.push.apple.com")
    assert settings.push_concurrency == 200
    key = vapid.generate_keys().private_pem()
    assert key not in repr(load_settings({"VAPID_PRIVATE_KEY": key}))


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://fcm.googleapis.com/fcm/send/abc:def",
        "https://updates.push.services.mozilla.com/wpush/v2/gAAAA",
        "https://web.push.apple.com/QGx1",
        "https://wns2-db5p.notify.windows.com/w/?token=BQYAAA",
    ],
)
def test_production_accepts_the_browsers_push_services(endpoint: str) -> None:
    assert check_endpoint(endpoint, PRODUCTION) == endpoint


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://fcm.googleapis.com/fcm/send/abc",  # not https
        "https://127.0.0.1/push",  # loopback
        "https://10.0.0.8/push",  # private network
        "https://169.254.169.254/latest/meta-data",  # cloud metadata service
        "https://[::1]/push",
        "https://localhost/push",
        "https://fcm.googleapis.com:8443/fcm/send/abc",  # odd port
        "https://user:pw@fcm.googleapis.com/fcm/send/abc",
        "https://fcm.googleapis.com.evil.example/send",
        "https://evilfcm.googleapis.com/send",
        "file:///etc/passwd",
        "https://fcm.googleapis.com/a b",
        "https://fcm.googleapis.com/" + "a" * 2100,
    ],
)
def test_production_refuses_endpoints_that_are_not_push_services(endpoint: str) -> None:
    with pytest.raises(InvalidInput):
        check_endpoint(endpoint, PRODUCTION)


def test_outside_production_local_receivers_are_allowed_unless_configured_otherwise() -> None:
    assert check_endpoint("http://localhost:9000/notify/x", DEVELOPMENT)
    strict = DEVELOPMENT.with_overrides(push_allowed_hosts=("fcm.googleapis.com",))
    with pytest.raises(InvalidInput):
        check_endpoint("http://localhost:9000/notify/x", strict)
    with pytest.raises(InvalidInput):
        check_endpoint("ftp://localhost/x", DEVELOPMENT)


@pytest.mark.parametrize(
    ("response", "outcome", "reason"),
    [
        (PushResponse(201), Outcome.DELIVERED, "delivered"),
        (PushResponse(404), Outcome.GONE, "gone"),
        (PushResponse(410), Outcome.GONE, "gone"),
        (PushResponse(429, retry_after=30), Outcome.RETRY, "rate_limited"),
        (PushResponse(500), Outcome.RETRY, "server_error"),
        (PushResponse(503, retry_after=5), Outcome.RETRY, "server_error"),
        (PushResponse(None, error="timeout"), Outcome.RETRY, "timeout"),
        (PushResponse(None, error="connection"), Outcome.RETRY, "connection_error"),
        (PushResponse(413), Outcome.REJECTED, "payload_too_large"),
        (PushResponse(400), Outcome.REJECTED, "rejected"),
        (PushResponse(403), Outcome.REJECTED, "rejected"),
        (PushResponse(None, error="invalid-keys"), Outcome.REJECTED, "invalid_subscription"),
    ],
)
def test_status_codes_map_to_outcomes(
    response: PushResponse, outcome: Outcome, reason: str
) -> None:
    result = classify(response)
    assert (result.outcome, result.reason) == (outcome, reason)
    assert result.retry_after == response.retry_after


def test_retry_after_is_seconds_or_an_http_date() -> None:
    assert retry_after_seconds("120") == 120
    soon = datetime.now(UTC) + timedelta(seconds=90)
    assert 80 < (retry_after_seconds(format_datetime(soon, usegmt=True)) or 0) <= 90
    assert retry_after_seconds("whenever") is None
    assert retry_after_seconds(None) is None


def test_backoff_doubles_up_to_the_cap_and_honours_retry_after() -> None:
    policy = RetryPolicy(max_attempts=6, base_seconds=30, cap_seconds=300)
    for attempts, expected in ((1, 30), (2, 60), (3, 120), (4, 240), (5, 300), (6, 300)):
        assert 0.8 * expected <= policy.delay(attempts, None) <= 1.2 * expected
    assert policy.delay(3, retry_after=7) == 7


def test_devices_get_readable_names() -> None:
    android = (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0 Mobile Safari/537.36"
    )
    iphone = (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
    )
    assert describe_user_agent(android) == "Chrome on Android"
    assert describe_user_agent(iphone) == "Safari on iPhone"
    assert describe_user_agent(None) is None


def test_a_long_description_is_shortened_to_fit_a_push_message() -> None:
    payload = reminder_payload(
        title="Payment due tomorrow",
        body="ß" * 5000,  # two bytes each in UTF-8
        language="en",
        deadline_id=uuid.uuid4(),
        message_id=None,
        due_at=datetime.now(UTC),
    )
    assert len(payload) <= MAX_PAYLOAD_BYTES
    assert json.loads(payload)["body"].endswith("ß…")
