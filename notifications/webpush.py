"""The pywebpush adapter: one POST to a push service. Library exceptions never leave this module.

What goes over the wire follows RFC 8030 (TTL, Topic, Urgency headers), RFC 8291 (message
encryption, `aes128gcm` from RFC 8188) and RFC 8292 (VAPID Authorization header, signed elsewhere
and passed in). The result is a plain `PushResponse`; deciding what it means is the sender's job.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import socket
import ssl
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pywebpush import CaseInsensitiveDict, WebPusher, WebPushException

from api.database import utcnow

_RECORD_SIZE = (4096).to_bytes(4, "big")
_P256 = ec.SECP256R1()
_SHA256 = hashes.SHA256()


class InvalidSubscriptionKeys(ValueError):
    """The subscription's p256dh/auth cannot be used for encryption."""


def _hkdf(salt: bytes, ikm: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=_SHA256, length=length, salt=salt, info=info).derive(ikm)


def encrypt(payload: bytes, *, p256dh: bytes, auth: bytes) -> bytes:
    """RFC 8291 §3.4: a new ECDH key pair per message, HKDF, one AES-128-GCM record (RFC 8188).

    The same construction as pywebpush's http_ece, without its repeated key serialisations;
    the tests check the result with http_ece's decryption and a real receiver.
    """
    try:
        receiver = ec.EllipticCurvePublicKey.from_encoded_point(_P256, p256dh)
    except ValueError as exc:
        raise InvalidSubscriptionKeys("p256dh is not a P-256 point") from exc
    if len(auth) != 16:
        raise InvalidSubscriptionKeys("auth must be 16 bytes")
    sender = ec.generate_private_key(_P256)
    sender_public = sender.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    shared = sender.exchange(ec.ECDH(), receiver)
    ikm = _hkdf(auth, shared, b"WebPush: info\x00" + p256dh + sender_public, 32)
    salt = os.urandom(16)
    key = _hkdf(salt, ikm, b"Content-Encoding: aes128gcm\x00", 16)
    nonce = _hkdf(salt, ikm, b"Content-Encoding: nonce\x00", 12)
    # Header: salt, record size, key id length (65) and key id (the sender's public key).
    header = salt + _RECORD_SIZE + b"\x41" + sender_public
    return header + AESGCM(key).encrypt(nonce, payload + b"\x02", None)


class _Pusher(WebPusher):  # type: ignore[misc]  # pywebpush ships no type information
    """pywebpush's WebPusher (its send_async: headers, TTL, the POST on the shared session) with
    the keys decoded once by us instead of deep-copied and re-decoded, and the leaner encryption
    above (the same bytes on the wire). pywebpush is pinned to 2.5.x for these two seams."""

    def __init__(
        self, endpoint: str, p256dh: bytes, auth: bytes, session: aiohttp.ClientSession
    ) -> None:
        self.verbose = False
        self.aiohttp_session = session
        self.subscription_info = {"endpoint": endpoint}
        self.receiver_key = p256dh
        self.auth_key = auth

    def encode(self, data: bytes, content_encoding: str = "aes128gcm") -> CaseInsensitiveDict:
        reply = CaseInsensitiveDict()
        reply["body"] = encrypt(data, p256dh=self.receiver_key, auth=self.auth_key)
        return reply


@dataclass(frozen=True, slots=True)
class PushRequest:
    endpoint: str
    p256dh: str  # base64url, from PushSubscription.toJSON()
    auth: str
    payload: bytes
    ttl: int  # seconds the push service may keep it for an offline device
    topic: str | None = None  # RFC 8030 §5.4: a newer message with the same topic replaces it
    urgency: str = "normal"  # RFC 8030 §5.3: very-low, low, normal, high


@dataclass(frozen=True, slots=True)
class PushResponse:
    """What came back: an HTTP status, or why there was none."""

    status: int | None
    retry_after: float | None = None  # seconds, from Retry-After
    error: str | None = None  # "timeout", "connection", "invalid-keys", ... when status is None
    detail: str | None = None


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After is delay-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, (moment - utcnow()).total_seconds())


class PublicOnlyResolver(AbstractResolver):
    """Resolves push-service host names and drops non-public addresses (SSRF, DNS rebinding).

    An endpoint is a URL that a browser, or an attacker posing as one, handed us; in production
    it must never make this server talk to its own network.
    """

    def __init__(self, inner: AbstractResolver | None = None) -> None:
        self._inner = inner or aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        public = [r for r in results if ipaddress.ip_address(r["host"]).is_global]
        if not public:
            raise OSError(f"{host} resolves to no public address")
        return public

    async def close(self) -> None:
        await self._inner.close()


def create_http_session(
    *,
    concurrency: int,
    public_only: bool,
    ssl_context: ssl.SSLContext | None = None,
) -> aiohttp.ClientSession:
    """The one HTTP session every push goes through: pooled keep-alive connections."""
    connector = aiohttp.TCPConnector(
        limit=concurrency,
        ssl=ssl_context if ssl_context is not None else True,
        ttl_dns_cache=300,
        resolver=PublicOnlyResolver() if public_only else None,
    )
    return aiohttp.ClientSession(
        connector=connector,
        # Push services ignore these; not sending them saves bytes on every request.
        skip_auto_headers=("User-Agent", "Accept-Encoding"),
        auto_decompress=False,
        # No cookie state: push services need none, and one must never leak to another.
        cookie_jar=aiohttp.DummyCookieJar(),
        raise_for_status=False,
    )


class WebPushClient:
    """Encrypts and POSTs one message with pywebpush over the shared aiohttp session."""

    def __init__(self, session: aiohttp.ClientSession, *, timeout_seconds: float) -> None:
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)

    async def post(self, request: PushRequest, *, authorization: str) -> PushResponse:
        headers: dict[str, Any] = {
            "Authorization": authorization,
            # pywebpush sends none; receivers that parse bodies strictly refuse that.
            "Content-Type": "application/octet-stream",
            "Urgency": request.urgency,
        }
        if request.topic:
            headers["Topic"] = request.topic
        try:
            pusher = _Pusher(
                request.endpoint,
                _b64url_decode(request.p256dh),
                _b64url_decode(request.auth),
                self._session,
            )
            response = await pusher.send_async(
                request.payload,
                headers,
                ttl=request.ttl,
                content_encoding="aes128gcm",
                timeout=self._timeout,
            )
        except UnicodeDecodeError as exc:  # pywebpush reads the body as text
            return PushResponse(status=None, error="bad-response", detail=_short(exc))
        except (InvalidSubscriptionKeys, WebPushException, ValueError, TypeError) as exc:
            return PushResponse(status=None, error="invalid-keys", detail=_short(exc))
        except TimeoutError:
            return PushResponse(status=None, error="timeout")
        except aiohttp.ClientError as exc:
            return PushResponse(status=None, error="connection", detail=_short(exc))
        except OSError as exc:
            return PushResponse(status=None, error="connection", detail=_short(exc))
        status = int(response.status)
        retry_after = None
        if status == 429 or status >= 500:
            retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        return PushResponse(status=status, retry_after=retry_after)


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:200]
