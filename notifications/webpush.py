"""The pywebpush adapter: one POST to a push service. Library exceptions never leave this module.

pywebpush composes the request (headers, TTL, the encrypted body); notifications/transport.py
carries it.

What goes over the wire follows RFC 8030 (TTL, Topic, Urgency headers), RFC 8291 (message
encryption, `aes128gcm` from RFC 8188) and RFC 8292 (VAPID Authorization header, signed elsewhere
and passed in). The result is a plain `PushResponse`; deciding what it means is the sender's job.
"""

from __future__ import annotations

import base64
import os
import ssl
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pywebpush import CaseInsensitiveDict, WebPusher, WebPushException

from api.database import utcnow
from notifications.transport import (
    Outgoing,
    PublicOnlyResolver,
    PushTransport,
    TransportError,
    UnsafeRequest,
    system_resolver,
)

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
    """pywebpush's WebPusher composes the request (its headers, TTL, Content-Encoding, the
    encrypted body), with the keys decoded once by us instead of deep-copied and re-decoded, and
    the leaner encryption above (the same bytes on the wire). pywebpush is pinned to 2.5.x for
    these seams (`encode`, `_prepare_send_data`); the POST itself goes through PushTransport."""

    def __init__(self, endpoint: str, p256dh: bytes, auth: bytes) -> None:
        self.verbose = False
        self.subscription_info = {"endpoint": endpoint}
        self.receiver_key = p256dh
        self.auth_key = auth

    def encode(self, data: bytes, content_encoding: str = "aes128gcm") -> CaseInsensitiveDict:
        reply = CaseInsensitiveDict()
        reply["body"] = encrypt(data, p256dh=self.receiver_key, auth=self.auth_key)
        return reply

    def prepare(
        self, payload: bytes, headers: dict[str, str], ttl: int
    ) -> tuple[dict[str, str], bytes]:
        prepared = self._prepare_send_data(payload, headers, ttl=ttl, content_encoding="aes128gcm")
        return prepared["headers"], prepared["data"]


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


@dataclass(frozen=True, slots=True)
class PreparedPush:
    """A message encrypted and composed, ready to go out."""

    outgoing: Outgoing


class WebPushClient:
    """Encrypts one message (pywebpush composes it) and POSTs it over the shared transport.

    Two steps, so that a sender can encrypt a batch in one tight loop and then send it: the
    encryption then runs as fast as alone, not slowed by the network code between its runs
    (bench/push.py)."""

    def __init__(self, transport: PushTransport) -> None:
        self._transport = transport

    def prepare(self, request: PushRequest, *, authorization: str) -> PreparedPush | PushResponse:
        """The message ready to send, or why it cannot be sent (a PushResponse without status)."""
        headers = {
            "Authorization": authorization,
            # pywebpush sends none; receivers that parse bodies strictly refuse that.
            "Content-Type": "application/octet-stream",
            "Urgency": request.urgency,
        }
        if request.topic:
            headers["Topic"] = request.topic
        try:
            pusher = _Pusher(
                request.endpoint, _b64url_decode(request.p256dh), _b64url_decode(request.auth)
            )
            wire_headers, body = pusher.prepare(request.payload, headers, request.ttl)
            return PreparedPush(self._transport.compose(request.endpoint, wire_headers, body))
        except (InvalidSubscriptionKeys, WebPushException, UnsafeRequest) as exc:
            return PushResponse(status=None, error="invalid-keys", detail=_short(exc))
        except (ValueError, TypeError) as exc:  # undecodable keys
            return PushResponse(status=None, error="invalid-keys", detail=_short(exc))

    async def send(self, prepared: PreparedPush) -> PushResponse:
        try:
            answer = await self._transport.send(prepared.outgoing)
        except TimeoutError:
            return PushResponse(status=None, error="timeout")
        except (TransportError, OSError) as exc:
            return PushResponse(status=None, error="connection", detail=_short(exc))
        retry_after = None
        if answer.status == 429 or answer.status >= 500:
            retry_after = retry_after_seconds(answer.retry_after)
        detail = _explanation(answer.body) if answer.status >= 400 else None
        return PushResponse(status=answer.status, retry_after=retry_after, detail=detail)


def create_transport(
    *, timeout_seconds: float, public_only: bool, ssl_context: ssl.SSLContext | None = None
) -> PushTransport:
    """The one transport every push of a process goes through: pooled keep-alive connections;
    in production only to public addresses (an endpoint is a URL a browser handed us)."""
    return PushTransport(
        timeout_seconds=timeout_seconds,
        resolver=PublicOnlyResolver() if public_only else system_resolver,
        ssl_context=ssl_context,
    )


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _explanation(body: bytes) -> str | None:
    """The start of a refusal's body (FCM and Mozilla say why there), printable, for operators."""
    text = "".join(c if c.isprintable() else " " for c in body.decode("utf-8", "replace"))
    return " ".join(text.split())[:120] or None


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:200]
