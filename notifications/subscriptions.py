"""Push subscriptions per device: validated, upserted on every app start, removable.

Every function is scoped by person_id; another person's subscription is "not found".
"""

from __future__ import annotations

import binascii
import ipaddress
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from api.database import utcnow
from api.errors import InvalidInput, NotFound
from api.settings import Settings
from notifications.models import DeliveryStatus, PushDelivery, PushSubscription
from notifications.vapid import UnsignableEndpoint, b64url_decode, push_service_origin

# The push services of the browsers people use. An endpoint is a URL the client hands us, so in
# production only these hosts are ever contacted (PUSH_ALLOWED_HOSTS replaces the list).
DEFAULT_PUSH_HOSTS = (
    "fcm.googleapis.com",  # Chrome, Chromium-based browsers, Android
    "*.push.services.mozilla.com",  # Firefox
    "*.push.apple.com",  # Safari and iOS/iPadOS home-screen apps
    "*.notify.windows.com",  # Edge on Windows (WNS)
)
MAX_ENDPOINT_LENGTH = 2048
MAX_DEVICE_NAME_LENGTH = 100
# Whitespace and control characters (NUL among them: PostgreSQL cannot store it) in a URL.
_UNSAFE = re.compile(r"[\s\x00-\x1f\x7f]")
# RFC 1123 §2.1 host names, lower-cased (urllib lower-cases them): labels of letters, digits
# and inner hyphens, at most 63 characters each; a final dot allowed.
_HOST_NAME = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*\.?$")
# RFC 4648 §5 base64url, padding optional (browsers send none).
_B64URL = re.compile(r"^[A-Za-z0-9_-]+={0,2}$")
MAX_SUBSCRIPTIONS_PER_PERSON = 20


@dataclass(frozen=True, slots=True)
class SubscriptionKeys:
    endpoint: str
    p256dh: str
    auth: str


def allowed_hosts(settings: Settings) -> tuple[str, ...]:
    if settings.push_allowed_hosts:
        return settings.push_allowed_hosts
    return DEFAULT_PUSH_HOSTS if settings.is_production else ("*",)


def host_matches(host: str, pattern: str) -> bool:
    pattern = pattern.lower()
    if pattern == "*":
        return True
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return host == pattern


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def check_endpoint(endpoint: str, settings: Settings) -> str:
    """Refuse endpoints this server must not call (SSRF) or could never send to.

    Parsed as an RFC 3986 URI (urllib.parse): https (http outside production), a host that is a
    DNS name (or, outside production, an IPv4 address), a port that is empty or a number (443
    in production), no userinfo, no fragment, a path; then the push service's origin must be
    one a VAPID token can name (RFC 8292 §2), or every message to it would fail to sign.
    """
    if len(endpoint) > MAX_ENDPOINT_LENGTH or not endpoint.isascii() or _UNSAFE.search(endpoint):
        raise _refused("it is too long or holds characters a URL cannot")
    parts = urlsplit(endpoint)
    try:
        port = parts.port
    except ValueError as exc:
        raise _refused("its port is not a number") from exc
    host = (parts.hostname or "").lower()
    production = settings.is_production
    if parts.scheme != "https" and (production or parts.scheme != "http"):
        raise _refused("it is not an https URL")
    if "@" in parts.netloc:
        raise _refused("it carries a user name or password")
    if not host:
        raise _refused("it has no host")
    if _is_ip_literal(host):
        if ":" in host:  # py_vapid refuses such an "aud": every message would fail to sign
            raise _refused("its host is an IPv6 address, which a VAPID token cannot name")
        if production:  # push services have names; and no requests to addresses (SSRF)
            raise _refused("its host is an IP address")
    elif not _HOST_NAME.match(host):
        raise _refused("its host is not a DNS name")
    if port == 0 or (production and port not in (None, 443)):
        raise _refused("its port is not allowed")
    if not parts.path.startswith("/") or parts.fragment:
        raise _refused("it has no path, or a fragment")
    if not any(host_matches(host, pattern) for pattern in allowed_hosts(settings)):
        raise _refused("its host is not an allowed push service")
    try:
        push_service_origin(endpoint)
    except UnsignableEndpoint as exc:
        raise _refused("a VAPID token cannot name its push service") from exc
    return endpoint


def _refused(why: str) -> InvalidInput:
    return InvalidInput(f"This push endpoint is not accepted: {why}.", field="endpoint")


def check_keys(p256dh: str, auth: str) -> None:
    """p256dh: an uncompressed P-256 point (65 bytes); auth: 16 bytes (RFC 8291 §3.2)."""
    # Strictly: the decoder would skip stray characters and keep them in the stored key.
    if not (_B64URL.match(p256dh) and _B64URL.match(auth)):
        raise InvalidInput("The subscription keys are not base64url.", field="keys")
    try:
        point = b64url_decode(p256dh)
        secret = b64url_decode(auth)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput("The subscription keys are not base64url.", field="keys") from exc
    if len(point) != 65 or point[0] != 4:
        raise InvalidInput("keys.p256dh must be an uncompressed P-256 point.", field="keys")
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError as exc:
        raise InvalidInput("keys.p256dh is not a point on P-256.", field="keys") from exc
    if len(secret) != 16:
        raise InvalidInput("keys.auth must be 16 bytes.", field="keys")


def clean_device_name(name: str | None) -> str | None:
    """A name given at subscription: no control characters, single-spaced, bounded; or None."""
    cleaned = re.sub(r"\s+", " ", _UNSAFE.sub(" ", name or "")).strip()
    return cleaned[:MAX_DEVICE_NAME_LENGTH] or None


def describe_user_agent(user_agent: str | None) -> str | None:
    """A readable device name ("Firefox on Android"): enough to tell one's devices apart."""
    if not user_agent:
        return None
    browsers = (
        ("Edg/", "Edge"),
        ("SamsungBrowser/", "Samsung Internet"),
        ("Firefox/", "Firefox"),
        ("FxiOS/", "Firefox"),
        ("CriOS/", "Chrome"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
    )
    systems = (
        ("Android", "Android"),
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    )
    browser = next((name for token, name in browsers if token in user_agent), None)
    system = next((name for token, name in systems if token in user_agent), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or system


async def subscribe(
    db: AsyncSession,
    person_id: uuid.UUID,
    *,
    settings: Settings,
    endpoint: str,
    p256dh: str,
    auth: str,
    device_name: str | None = None,
    user_agent: str | None = None,
    expires_at: datetime | None = None,
) -> PushSubscription:
    """Insert or refresh this device's subscription (the PWA calls this on every start).

    An endpoint belongs to one browser profile; when someone else signs in there it moves to
    them, and what was still queued for the previous owner is not sent to it.
    """
    check_endpoint(endpoint, settings)
    check_keys(p256dh, auth)
    name = clean_device_name(device_name) or describe_user_agent(user_agent)
    now = utcnow()
    values = {
        "id": uuid.uuid4(),
        "person_id": person_id,
        "endpoint": endpoint,
        "p256dh": p256dh,
        "auth": auth,
        "device_name": name,
        "user_agent": (user_agent or None) and user_agent[:300],
        "created_at": now,
        "last_seen_at": now,
        "expires_at": expires_at,
    }
    insert = pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(PushSubscription).values(**values)
    refreshed = {
        key: stmt.excluded[key]
        for key in ("person_id", "p256dh", "auth", "user_agent", "last_seen_at", "expires_at")
    }
    if clean_device_name(device_name):
        refreshed["device_name"] = stmt.excluded.device_name
    await db.execute(stmt.on_conflict_do_update(index_elements=["endpoint"], set_=refreshed))
    row = await db.scalar(
        select(PushSubscription)
        .where(PushSubscription.endpoint == endpoint)
        .execution_options(populate_existing=True)
    )
    if row is None:
        raise RuntimeError("the subscription row vanished right after the upsert")
    await db.execute(
        update(PushDelivery)
        .where(
            PushDelivery.subscription_id == row.id,
            PushDelivery.person_id != person_id,
            PushDelivery.status.in_([DeliveryStatus.PENDING, DeliveryStatus.SENDING]),
        )
        .values(status=DeliveryStatus.CANCELLED, last_error="device changed hands", updated_at=now)
    )
    await _keep_newest(db, person_id)
    return row


async def _keep_newest(db: AsyncSession, person_id: uuid.UUID) -> None:
    """Bound one person's fan-out: beyond the limit, the longest-unseen devices go."""
    count = await db.scalar(select(func.count()).where(PushSubscription.person_id == person_id))
    excess = int(count or 0) - MAX_SUBSCRIPTIONS_PER_PERSON
    if excess > 0:
        stale = (
            select(PushSubscription.id)
            .where(PushSubscription.person_id == person_id)
            .order_by(PushSubscription.last_seen_at, PushSubscription.id)
            .limit(excess)
        )
        await db.execute(delete(PushSubscription).where(PushSubscription.id.in_(stale)))


async def list_subscriptions(db: AsyncSession, person_id: uuid.UUID) -> Sequence[PushSubscription]:
    stmt = (
        select(PushSubscription)
        .where(PushSubscription.person_id == person_id)
        .order_by(PushSubscription.last_seen_at.desc(), PushSubscription.id)
    )
    return (await db.scalars(stmt)).all()


async def get_subscription(
    db: AsyncSession,
    person_id: uuid.UUID,
    *,
    subscription_id: uuid.UUID | None = None,
    endpoint: str | None = None,
) -> PushSubscription:
    """One of the person's own subscriptions, by id or by endpoint (this device's)."""
    if (subscription_id is None) == (endpoint is None):
        raise InvalidInput("Give either id or endpoint.", field="id")
    stmt = select(PushSubscription).where(PushSubscription.person_id == person_id)
    if subscription_id is not None:
        stmt = stmt.where(PushSubscription.id == subscription_id)
    elif endpoint is not None and (len(endpoint) > MAX_ENDPOINT_LENGTH or "\x00" in endpoint):
        # Never stored (check_endpoint), and PostgreSQL refuses NUL even in a comparison.
        raise NotFound("No such push subscription.", field="id")
    else:
        stmt = stmt.where(PushSubscription.endpoint == endpoint)
    row = await db.scalar(stmt)
    if row is None:
        raise NotFound("No such push subscription.", field="id")
    return row


async def unsubscribe(
    db: AsyncSession,
    person_id: uuid.UUID,
    *,
    subscription_id: uuid.UUID | None = None,
    endpoint: str | None = None,
) -> None:
    row = await get_subscription(db, person_id, subscription_id=subscription_id, endpoint=endpoint)
    await db.delete(row)
    await db.flush()


async def remove_gone(db: AsyncSession, subscription_ids: Sequence[uuid.UUID]) -> int:
    """The push service answered 404/410: the subscription will never work again (RFC 8030 §7.3)."""
    if not subscription_ids:
        return 0
    result = await db.execute(
        delete(PushSubscription).where(PushSubscription.id.in_(list(subscription_ids)))
    )
    return int(getattr(result, "rowcount", 0) or 0)
