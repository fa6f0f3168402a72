"""VAPID (RFC 8292): the application server's key pair and the signed Authorization header.

Browsers bind a push subscription to the public key given to `PushManager.subscribe`, so the key
pair must never change silently: production reads it from configuration and refuses to start
without it; elsewhere it is generated once and kept in the database.
"""

from __future__ import annotations

import base64
import functools
import re
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid, VapidException
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from api.settings import Settings, SettingsError
from notifications.models import VapidKey

# RFC 8292 §2: "exp" at most 24 hours ahead. Sign for 12 hours and sign again 30 minutes
# before that runs out, so a header is never sent close to its expiry (clock skew at the service).
TOKEN_LIFETIME_SECONDS = 12 * 3600
RENEW_BEFORE_SECONDS = 30 * 60
DEV_SUBJECT = "mailto:webpush@localhost"
_KEY_ROW = 1


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class VapidKeys:
    """The key pair as the sender needs it."""

    private_key: ec.EllipticCurvePrivateKey
    public_key: str  # base64url uncompressed point: the PWA's applicationServerKey

    @classmethod
    def from_private_key(cls, key: ec.EllipticCurvePrivateKey) -> VapidKeys:
        point = key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return cls(private_key=key, public_key=b64url(point))

    def private_pem(self) -> str:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode("ascii")


def generate_keys() -> VapidKeys:
    return VapidKeys.from_private_key(ec.generate_private_key(ec.SECP256R1()))


def parse_private_key(text: str) -> VapidKeys:
    """A configured key: PEM, or base64url of the raw 32-byte scalar or of DER."""
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_private_key(text.encode("ascii"), password=None)
        else:
            raw = b64url_decode(text.replace("\n", ""))
            if len(raw) == 32:
                key = ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
            else:
                key = serialization.load_der_private_key(raw, password=None)
    except (ValueError, TypeError) as exc:
        raise SettingsError("VAPID_PRIVATE_KEY is not a readable private key") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise SettingsError("VAPID_PRIVATE_KEY must be a P-256 (prime256v1) EC key")
    return VapidKeys.from_private_key(key)


def subject(settings: Settings) -> str:
    return settings.vapid_subject or DEV_SUBJECT


def check_configuration(settings: Settings) -> None:
    """Refuse to start in production without a configured key pair and contact (RFC 8292 §2.1)."""
    if settings.vapid_private_key:
        parse_private_key(settings.vapid_private_key)
    if not settings.is_production:
        return
    problems = []
    if not settings.vapid_private_key:
        problems.append(
            "VAPID_PRIVATE_KEY must be set (make one with `duo-abroad push vapid-keys`); "
            "changing it later invalidates every browser's subscription"
        )
    if not settings.vapid_subject:
        problems.append("VAPID_SUBJECT must be set to a mailto: or https: contact")
    if problems:
        raise SettingsError("refusing to start in production: " + "; ".join(problems))


async def load_keys(db: AsyncSession, settings: Settings) -> VapidKeys:
    """The configured key pair, else the one kept in the database (made on first use)."""
    if settings.vapid_private_key:
        return parse_private_key(settings.vapid_private_key)
    check_configuration(settings)  # production never gets here without a key
    row = await db.scalar(select(VapidKey).where(VapidKey.id == _KEY_ROW))
    if row is None:
        made = generate_keys()
        values = {
            "id": _KEY_ROW,
            "private_key_pem": made.private_pem(),
            "public_key": made.public_key,
        }
        # Two processes starting together: the first insert wins, both read the winner.
        insert = pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
        await db.execute(insert(VapidKey).values(**values).on_conflict_do_nothing())
        await db.flush()
        row = await db.scalar(select(VapidKey).where(VapidKey.id == _KEY_ROW))
        if row is None:
            raise RuntimeError("the VAPID key row vanished right after it was written")
    try:
        return parse_private_key(row.private_key_pem)
    except SettingsError as exc:
        raise SettingsError(f"the VAPID key kept in the database ({exc})") from exc


class UnsignableEndpoint(ValueError):
    """No VAPID token can name this endpoint's push service (its "aud")."""


# py_vapid refuses any other "aud" (Vapid01._base_sign): scheme, a host without colons, and an
# optional numeric port. An IPv6 literal ([::1]) cannot be named in a token it signs.
_SIGNABLE_AUD = re.compile(r"^https?://[^/:]+(:\d+)?$", re.IGNORECASE)


def push_service_origin(endpoint: str) -> str:
    """The "aud" of a VAPID token: the push service's origin (RFC 8292 §2), serialised as
    RFC 6454 §6.2 says (lower-case host, no default port, no empty port); UnsignableEndpoint
    if it cannot be one.

    It runs once per message: the part before the path is cut out, and each distinct one is
    parsed once.
    """
    authority = endpoint.find("//") + 2
    path = endpoint.find("/", authority) if authority > 1 else -1
    return _origin(endpoint if path < 0 else endpoint[:path])


@functools.lru_cache(maxsize=1024)
def _origin(prefix: str) -> str:
    parts = urlsplit(prefix)
    try:
        port = parts.port
    except ValueError as exc:  # not a number, or out of range
        raise UnsignableEndpoint("the endpoint's port is not a port number") from exc
    host = parts.hostname
    if parts.scheme not in ("https", "http") or not host or "@" in parts.netloc:
        raise UnsignableEndpoint("the endpoint has no usable scheme and host")
    if parts.path or parts.query or parts.fragment:
        raise UnsignableEndpoint("the endpoint's authority is not followed by a path")
    default = 443 if parts.scheme == "https" else 80
    origin = f"{parts.scheme}://{host}"
    if port is not None and port != default:
        origin = f"{origin}:{port}"
    if not _SIGNABLE_AUD.match(origin):
        raise UnsignableEndpoint(f"a VAPID token cannot name {origin} (RFC 8292 aud)")
    return origin


class VapidSigner:
    """Signs one Authorization header per push-service origin and reuses it until near expiry.

    Signing costs about as much as encrypting a message; every message to FCM or Mozilla would
    otherwise pay it again for an identical token.
    """

    def __init__(self, keys: VapidKeys, *, subject: str) -> None:
        self._vapid = Vapid(private_key=keys.private_key)
        self._claims: dict[str, str | int] = {"sub": subject}
        self._cache: dict[str, tuple[int, str]] = {}
        self.public_key = keys.public_key
        self.signatures = 0
        try:  # a bad subject fails at startup, not at the first push
            self._sign("https://push.example", int(time.time()))
        except VapidException as exc:
            raise SettingsError(f"VAPID_SUBJECT is not usable: {exc}") from exc

    def authorization(self, origin: str, *, now: float | None = None) -> str:
        """The header for one push service (UnsignableEndpoint if py_vapid refuses `origin`;
        the subject was proven at startup, so the origin is what it refused)."""
        moment = int(time.time() if now is None else now)
        cached = self._cache.get(origin)
        if cached is not None and cached[0] - RENEW_BEFORE_SECONDS > moment:
            return cached[1]
        try:
            header = self._sign(origin, moment)
        except VapidException as exc:
            raise UnsignableEndpoint(f"VAPID cannot sign for {origin!r}: {exc}") from exc
        self._cache[origin] = (moment + TOKEN_LIFETIME_SECONDS, header)
        self.signatures += 1
        return header

    def _sign(self, origin: str, moment: int) -> str:
        # py_vapid mutates nothing here, but pywebpush mutates the dict it is given: a fresh
        # copy per signature keeps one origin's "aud" out of another's token.
        claims = dict(self._claims)
        claims["aud"] = origin
        claims["exp"] = moment + TOKEN_LIFETIME_SECONDS
        header: str = self._vapid.sign(claims)["Authorization"]
        return header
