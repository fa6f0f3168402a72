"""The HTTP/1.1 client the push sender posts through: keep-alive connections pooled per push
service, answers parsed by httptools (llhttp, the C parser uvicorn uses), nothing else.

Why not aiohttp's ClientSession, which pywebpush's `send_async` uses: its general request path
(URL objects, header multidicts, tracing hooks, cookie, redirect and decompression machinery)
costs about 190 µs of CPU per request on this kind of machine, more than the RFC 8291
encryption of the message itself. A push POST needs none of it: one known method, a handful of
headers we write ourselves, an answer of which only the status and Retry-After matter. This path
costs about 50 µs per request (bench/push.py), which is what lets one worker core send within
reach of the encryption floor.

What it does guard, because endpoints come from browsers (or from someone posing as one):
- the host is resolved by a resolver the caller chooses (production: public addresses only, so
  an endpoint can never make this server talk to its own network, DNS rebinding included), and
  TLS is verified against the host name, never the address;
- header values and the request target cannot smuggle CR/LF or spaces;
- an answer larger than MAX_ANSWER_BYTES closes the connection instead of filling memory.
"""

from __future__ import annotations

import asyncio
import collections
import ipaddress
import re
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import quote, urlsplit

import httptools

MAX_ANSWER_BYTES = 64 * 1024  # push services answer with a status and at most a short text
IDLE_SECONDS = 30.0  # push services keep idle connections for a minute or more; stay below
DETAIL_BYTES = 200  # how much of an answer's body is kept to explain a refusal

Resolver = Callable[[str, int], Awaitable[list[str]]]
Origin = tuple[str, str, int]  # scheme, host, port: what connections are pooled by


class Outgoing(NamedTuple):
    origin: Origin
    request: bytes  # the whole HTTP/1.1 request


class TransportError(Exception):
    """No answer: the connection failed, was closed early, or the answer was not HTTP."""


class UnsafeRequest(ValueError):
    """The endpoint or a header value cannot be sent as it is (it would change the request)."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    retry_after: str | None = None
    body: bytes = b""  # the first DETAIL_BYTES of it


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses the operating system's resolver gives (in a thread, like aiohttp's)."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052: IPv4 reached through a translator


def is_public_address(text: str) -> bool:
    """Globally routable, and so is any IPv4 address an IPv6 one carries (IPv4-mapped, 6to4,
    Teredo, NAT64): `64:ff9b::a00:1` is 10.0.0.1 on a network with a NAT64 gateway."""
    address = ipaddress.ip_address(text)
    if not address.is_global:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        teredo = address.teredo
        embedded = [address.ipv4_mapped, address.sixtofour, teredo[1] if teredo else None]
        if address in _NAT64:
            embedded.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        return all(inner is None or inner.is_global for inner in embedded)
    return True


class PublicOnlyResolver:
    """Resolves push-service host names and drops non-public addresses (SSRF, DNS rebinding)."""

    def __init__(self, inner: Resolver = system_resolver) -> None:
        self._inner = inner

    async def __call__(self, host: str, port: int) -> list[str]:
        addresses = await self._inner(host, port)
        public = [a for a in addresses if is_public_address(a)]
        if not public:
            raise TransportError(f"{host} resolves to no public address")
        return public


# RFC 3986 characters a request target may carry as they are; anything else is percent-encoded.
_TARGET_SAFE = "/?[]@!$&'()*+,;=:-._~%"
_PLAIN_TARGET = re.compile(r"/[A-Za-z0-9\-._~!$&'()*+,;=:@/?%]*")
_ORIGIN_CACHE_SIZE = 1024  # distinct push services a process talks to: a handful in practice


def _parse_origin(origin: str) -> tuple[Origin, str]:
    parts = urlsplit(origin)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise UnsafeRequest("the endpoint is not an http(s) URL with a host")
    if parts.username is not None or parts.password is not None:
        raise UnsafeRequest("the endpoint carries credentials")
    if parts.path or parts.query or parts.fragment:
        raise UnsafeRequest("the endpoint's authority is malformed")
    default = 443 if parts.scheme == "https" else 80
    try:
        port = parts.port or default
    except ValueError as exc:
        raise UnsafeRequest("the endpoint's port is not a number") from exc
    host = parts.hostname
    authority = f"[{host}]" if ":" in host else host
    if port != default:
        authority = f"{authority}:{port}"
    return (parts.scheme, host, port), authority


class _Connection(asyncio.Protocol):
    """One keep-alive connection; one request at a time (no pipelining)."""

    def __init__(self) -> None:
        self.transport: Any = None  # uvloop's SSL transport is not an asyncio.Transport
        self.loop = asyncio.get_running_loop()
        self.idle_since = time.monotonic()
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[Answer] | None = None
        self._status: int | None = None
        self._retry_after: str | None = None
        self._header: bytes = b""
        self._framed = False  # the body's end is known (Content-Length, chunked, no body)
        self._keep = False
        self._body = bytearray()
        self._received = 0
        self.answered_any = False  # a response byte arrived on this connection for this request

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self._waiter is None:  # nothing asked: a broken or hostile peer
            self.transport.close()
            return
        self.answered_any = True
        self._received += len(data)
        if self._received > MAX_ANSWER_BYTES:
            self._fail(TransportError("the answer is too large"))
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(TransportError(f"not an HTTP answer: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if self._status is not None and not self._framed:
            self._keep = False
            self._complete()  # an answer whose body ends with the connection
        else:
            waiter.set_exception(TransportError("the push service closed the connection"))

    # httptools callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name == b"retry-after":
            self._header = value
        elif name in (b"content-length", b"transfer-encoding"):
            self._framed = True

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        self._status = status
        self._framed = self._framed or status in (204, 304) or status < 200
        self._keep = bool(self._parser.should_keep_alive())
        if self._header:
            self._retry_after = self._header.decode("latin-1").strip()

    def on_body(self, body: bytes) -> None:
        if len(self._body) < DETAIL_BYTES:
            self._body += body[: DETAIL_BYTES - len(self._body)]

    def on_message_complete(self) -> None:
        if self._status is not None and self._status < 200:
            # 1xx: an interim answer; the real one follows with headers of its own.
            self._status = self._retry_after = None
            self._header = b""
            self._framed = self._keep = False
            return
        self._complete()

    # the client side

    @property
    def reusable(self) -> bool:
        return (
            self.transport is not None
            and not self.transport.is_closing()
            and time.monotonic() - self.idle_since < IDLE_SECONDS
        )

    async def exchange(self, request: bytes, deadline: float) -> tuple[Answer, bool]:
        """Send one request, wait for its answer until `deadline` (loop time); also says whether
        to keep the connection. A plain timer instead of asyncio.timeout: a third of the cost."""
        waiter: asyncio.Future[Answer] = self.loop.create_future()
        self._waiter = waiter
        self._status = self._retry_after = None
        self._header = b""
        self._framed = self._keep = False
        self._body.clear()
        self._received = 0
        self.answered_any = False
        self.transport.write(request)
        timer = self.loop.call_at(deadline, self._time_out)
        try:
            answer = await waiter
        finally:
            timer.cancel()
            self._waiter = None
        keep = self._keep and not self.transport.is_closing()
        self.idle_since = time.monotonic()
        return answer, keep

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def _complete(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done() and self._status is not None:
            waiter.set_result(Answer(self._status, self._retry_after, bytes(self._body)))

    def _time_out(self) -> None:
        self._fail(TimeoutError())

    def _fail(self, exc: Exception) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        self.transport.close()


class PushTransport:
    """Keep-alive connections per push service, shared by every send of a process."""

    def __init__(
        self,
        *,
        timeout_seconds: float,
        resolver: Resolver = system_resolver,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._timeout = timeout_seconds
        self._resolver = resolver
        self._ssl = ssl_context or ssl.create_default_context()
        self._origins: dict[str, tuple[Origin, str]] = {}
        self._idle: dict[Origin, collections.deque[_Connection]] = {}
        self._open: set[_Connection] = set()
        self._closed = False

    async def post(self, url: str, headers: Mapping[str, str], body: bytes) -> Answer:
        """POST `body` and wait at most `timeout_seconds` (connecting included) for the answer.

        Raises TimeoutError, TransportError or UnsafeRequest when there is no answer; a
        connection left mid-answer is closed, never reused.
        """
        return await self.send(self.compose(url, headers, body))

    def compose(self, url: str, headers: Mapping[str, str], body: bytes) -> Outgoing:
        """The request's bytes, and the origin its connection is pooled by (UnsafeRequest if it
        cannot be sent as it is). Endpoints were checked when stored, so the common case is
        string cuts; each push service's origin is parsed once."""
        authority = url.find("://") + 3
        slash = url.find("/", authority) if authority > 2 else -1
        origin_text, target = (url, "/") if slash < 0 else (url[:slash], url[slash:])
        origin = self._origins.get(origin_text)
        if origin is None:
            origin = _parse_origin(origin_text)
            if len(self._origins) >= _ORIGIN_CACHE_SIZE:
                self._origins.clear()
            self._origins[origin_text] = origin
        if "#" in target:
            target = target.split("#", 1)[0]
        if not _PLAIN_TARGET.fullmatch(target):
            target = quote(target, safe=_TARGET_SAFE)
        return Outgoing(origin[0], _request_bytes(target, origin[1], headers, body))

    async def send(self, outgoing: Outgoing) -> Answer:
        """Send a composed request; as `post`."""
        origin, request = outgoing
        deadline = asyncio.get_running_loop().time() + self._timeout
        connection = self._take(origin)
        if connection is not None:
            try:
                return await self._exchange(origin, connection, request, deadline)
            except TransportError:
                # A kept connection the service closed while idle fails before any answer
                # arrives: nothing was processed, so one fresh connection may try again.
                if connection.answered_any:
                    raise
        async with asyncio.timeout_at(deadline):
            connection = await self._connect(origin)
        return await self._exchange(origin, connection, request, deadline)

    async def close(self) -> None:
        self._closed = True
        for connection in list(self._open):
            connection.close()
        self._open.clear()
        self._idle.clear()

    @property
    def open_connections(self) -> int:
        return len(self._open)

    def _take(self, origin: Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        while idle and not idle[0].reusable:  # the longest idle first: drop what has expired
            self._forget(idle.popleft())
        while idle:
            connection = idle.pop()  # the most recently used: least likely closed by the peer
            if connection.reusable:
                return connection
            self._forget(connection)
        return None

    async def _exchange(
        self, origin: Origin, connection: _Connection, request: bytes, deadline: float
    ) -> Answer:
        try:
            answer, keep = await connection.exchange(request, deadline)
        except BaseException:  # a timeout or cancellation leaves the connection mid-answer
            self._forget(connection)
            raise
        if keep and not self._closed:
            self._idle.setdefault(origin, collections.deque()).append(connection)
        else:
            self._forget(connection)
        return answer

    async def _connect(self, origin: Origin) -> _Connection:
        scheme, host, port = origin
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            addresses = await self._resolver(host, port)
        else:
            # A literal address is checked like a resolved one (the resolver decides).
            addresses = await self._resolver(str(literal), port)
        loop = asyncio.get_running_loop()
        last: Exception | None = None
        for address in addresses:
            try:
                _, connection = await loop.create_connection(
                    _Connection,
                    address,
                    port,
                    ssl=self._ssl if scheme == "https" else None,
                    server_hostname=host if scheme == "https" else None,
                )
            except (OSError, ssl.SSLError) as exc:
                last = exc
                continue
            self._open.add(connection)
            return connection
        raise TransportError(f"cannot connect to {host}:{port}: {last}")

    def _forget(self, connection: _Connection) -> None:
        connection.close()
        self._open.discard(connection)


def _request_bytes(target: str, host: str, headers: Mapping[str, str], body: bytes) -> bytes:
    lines = [f"POST {target} HTTP/1.1", f"Host: {host}"]
    for name, value in headers.items():
        text = str(value)
        if "\r" in text or "\n" in text or "\r" in name or "\n" in name or ":" in name:
            raise UnsafeRequest(f"header {name!r} cannot be sent as it is")
        lines.append(f"{name}: {text}")
    lines.append(f"Content-Length: {len(body)}")
    head = "\r\n".join(lines) + "\r\n\r\n"
    try:
        return head.encode("ascii") + body
    except UnicodeEncodeError as exc:
        raise UnsafeRequest("a header is not ASCII") from exc
