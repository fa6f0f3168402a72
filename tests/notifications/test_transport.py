"""The push sender's HTTP/1.1 transport against a scripted server on a real socket: connections
are kept and reused, dead ones replaced, slow or oversized answers cut off, and nothing a
browser put in an endpoint can change the request or reach a private address."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from notifications.sender import Outcome, PushSender
from notifications.transport import (
    MAX_ANSWER_BYTES,
    PublicOnlyResolver,
    PushTransport,
    TransportError,
    UnsafeRequest,
    is_public_address,
)
from notifications.vapid import VapidSigner, generate_keys
from notifications.webpush import PushRequest, WebPushClient
from tests.certificates import self_signed
from tests.notifications.support import fake_keys

CREATED = b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"
HANG = b"hang"  # a script step: read the request, never answer
DROP = b"drop"  # a script step: close the connection without answering
CUT = b"<cut>"  # a script step's suffix: write what comes before it, then close


@dataclass
class Received:
    connection: int
    head: bytes
    body: bytes


@dataclass
class Server:
    """Answers request n of connection c with script(c, n): raw bytes, HANG or DROP."""

    script: Callable[[int, int], bytes] = lambda c, n: CREATED
    requests: list[Received] = field(default_factory=list)
    connections: int = 0
    port: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        connection, n = self.connections, 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length)
                n += 1
                self.requests.append(Received(connection, head, body))
                step = self.script(connection, n)
                if step == HANG:
                    await reader.read()  # until the client gives up and closes
                if step in (HANG, DROP):
                    break
                writer.write(step.removesuffix(CUT))
                await writer.drain()
                if (
                    step.endswith(CUT)
                    or b"HTTP/1.0 " in step
                    or b"\r\nConnection: close\r\n" in step
                ):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    state = Server()
    listening = await asyncio.start_server(state.handle, "127.0.0.1", 0)
    state.port = listening.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        listening.close()


async def test_one_connection_carries_many_pushes(server: Server) -> None:
    transport = PushTransport(timeout_seconds=5)
    try:
        for i in range(20):
            answer = await transport.post(
                f"http://127.0.0.1:{server.port}/push/{i}",
                {"TTL": "60", "Urgency": "normal"},
                b"encrypted-%d" % i,
            )
            assert answer.status == 201
    finally:
        await transport.close()
    assert server.connections == 1
    first = server.requests[0]
    assert first.head.startswith(b"POST /push/0 HTTP/1.1\r\n")
    assert f"\r\nHost: 127.0.0.1:{server.port}\r\n".encode() in first.head
    assert b"\r\nTTL: 60\r\n" in first.head
    assert b"\r\nContent-Length: 11\r\n" in first.head
    assert [r.body for r in server.requests[:2]] == [b"encrypted-0", b"encrypted-1"]


async def test_a_connection_the_service_closes_is_replaced(server: Server) -> None:
    answers = {
        (1, 1): b"HTTP/1.1 201 Created\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        (2, 1): CREATED,
        (2, 2): DROP,  # kept open, then dropped with the next request unanswered
    }
    server.script = lambda c, n: answers.get((c, n), CREATED)
    transport = PushTransport(timeout_seconds=5)
    url = f"http://127.0.0.1:{server.port}/push/x"
    try:
        statuses = [(await transport.post(url, {}, b"m")).status for _ in range(3)]
    finally:
        await transport.close()
    assert statuses == [201, 201, 201]
    # The dropped request was tried once more on a new connection, as nothing had answered.
    assert [r.connection for r in server.requests] == [1, 2, 2, 3]


async def test_no_second_try_once_the_service_has_started_answering(server: Server) -> None:
    # The service dies mid-answer: it may have taken the message, and trying again could
    # deliver it twice; the caller hears "no answer" and its retry policy decides.
    half = b"HTTP/1.1 201 Created\r\nContent-Length: 10\r\n\r\nabc" + CUT
    server.script = lambda c, n: CREATED if n == 1 else half
    transport = PushTransport(timeout_seconds=5)
    url = f"http://127.0.0.1:{server.port}/push/x"
    try:
        await transport.post(url, {}, b"m")
        with pytest.raises(TransportError, match="closed the connection"):
            await transport.post(url, {}, b"m")
    finally:
        await transport.close()
    assert [r.connection for r in server.requests] == [1, 1]


async def test_a_service_that_does_not_answer_in_time_is_cut_off(server: Server) -> None:
    server.script = lambda c, n: HANG
    transport = PushTransport(timeout_seconds=0.3)
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        with pytest.raises(TimeoutError):
            await transport.post(f"http://127.0.0.1:{server.port}/push/x", {}, b"m")
        assert loop.time() - started < 2
        assert transport.open_connections == 0  # never reused mid-answer
    finally:
        await transport.close()


async def test_status_retry_after_and_the_start_of_the_body_are_read(server: Server) -> None:
    server.script = lambda c, n: (
        b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 17\r\nContent-Length: 300\r\n\r\n"
        + b"q" * 300
    )
    transport = PushTransport(timeout_seconds=5)
    try:
        answer = await transport.post(f"http://127.0.0.1:{server.port}/p", {}, b"m")
        again = await transport.post(f"http://127.0.0.1:{server.port}/p", {}, b"m")
    finally:
        await transport.close()
    assert (answer.status, answer.retry_after, answer.body) == (429, "17", b"q" * 200)
    assert again.status == 429
    assert server.connections == 1


async def test_interim_answers_and_answers_ending_with_the_connection(server: Server) -> None:
    server.script = lambda c, n: (
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"
        if c == 1
        # An interim answer, then one whose body ends with the connection.
        else b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.0 400 Bad Request\r\n\r\nUnauthorizedRegistration"
    )
    transport = PushTransport(timeout_seconds=5)
    url = f"http://127.0.0.1:{server.port}/p"
    try:
        assert (await transport.post(url, {}, b"m")).status == 201
        transport_two = PushTransport(timeout_seconds=5)
        server.connections = 1  # the next connection gets the HTTP/1.0 script
        try:
            answer = await transport_two.post(url, {}, b"m")
        finally:
            await transport_two.close()
    finally:
        await transport.close()
    assert (answer.status, answer.body) == (400, b"UnauthorizedRegistration")


async def test_an_oversized_answer_is_refused_not_buffered(server: Server) -> None:
    size = MAX_ANSWER_BYTES * 4
    server.script = lambda c, n: (
        b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size + (b"x" * size)
    )
    transport = PushTransport(timeout_seconds=5)
    try:
        with pytest.raises(TransportError, match="too large"):
            await transport.post(f"http://127.0.0.1:{server.port}/p", {}, b"m")
        assert transport.open_connections == 0
    finally:
        await transport.close()


async def test_garbage_is_not_an_answer(server: Server) -> None:
    server.script = lambda c, n: b"SSH-2.0-OpenSSH_9.2\r\n\r\n"
    transport = PushTransport(timeout_seconds=5)
    try:
        with pytest.raises(TransportError, match="not an HTTP answer"):
            await transport.post(f"http://127.0.0.1:{server.port}/p", {}, b"m")
    finally:
        await transport.close()


@pytest.mark.parametrize(
    ("headers", "url_tail"),
    [
        ({"Topic": "a\r\nX-Injected: 1"}, "/push/x"),
        ({"Bad\r\nName": "x"}, "/push/x"),
        ({"Topic": "naïve"}, "/push/x"),
    ],
)
async def test_header_values_cannot_smuggle_lines(
    server: Server, headers: dict[str, str], url_tail: str
) -> None:
    transport = PushTransport(timeout_seconds=5)
    try:
        with pytest.raises(UnsafeRequest):
            await transport.post(f"http://127.0.0.1:{server.port}{url_tail}", headers, b"m")
    finally:
        await transport.close()
    assert server.connections == 0


async def test_an_odd_endpoint_path_is_encoded_not_sent_raw(server: Server) -> None:
    transport = PushTransport(timeout_seconds=5)
    try:
        await transport.post(
            f"http://127.0.0.1:{server.port}/push/a b\r\nX: y/é?k=v w#fragment", {}, b"m"
        )
    finally:
        await transport.close()
    request_line = server.requests[0].head.split(b"\r\n")[0]
    assert request_line == b"POST /push/a%20b%0D%0AX:%20y/%C3%A9?k=v%20w HTTP/1.1"


@pytest.mark.parametrize(
    "url",
    [
        "ftp://127.0.0.1/push",
        "http://user:secret@127.0.0.1/push",
        "http://127.0.0.1:notaport/push",
        "http:///push",
    ],
)
async def test_endpoints_that_are_not_plain_http_urls_are_refused(url: str) -> None:
    transport = PushTransport(timeout_seconds=5)
    try:
        with pytest.raises(UnsafeRequest):
            await transport.post(url, {}, b"m")
    finally:
        await transport.close()


async def test_production_never_connects_to_a_private_address(server: Server) -> None:
    transport = PushTransport(timeout_seconds=5, resolver=PublicOnlyResolver())
    try:
        for url in (
            f"http://127.0.0.1:{server.port}/push/x",
            f"http://localhost:{server.port}/push/x",
            f"http://[::1]:{server.port}/push/x",
        ):
            with pytest.raises(TransportError, match="no public address"):
                await transport.post(url, {}, b"m")
    finally:
        await transport.close()
    assert server.connections == 0


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("142.250.74.42", True),
        ("2a00:1450:4001:82b::200a", True),
        ("10.1.2.3", False),
        ("100.64.0.1", False),  # carrier-grade NAT
        ("169.254.169.254", False),  # cloud metadata
        ("::ffff:127.0.0.1", False),  # IPv4-mapped
        ("64:ff9b::a00:1", False),  # NAT64 to 10.0.0.1
        ("64:ff9b::808:808", True),  # NAT64 to 8.8.8.8
        ("2002:7f00:1::", False),  # 6to4 around 127.0.0.1
        ("fd00::1", False),
    ],
)
def test_addresses_that_smuggle_a_private_one_are_not_public(address: str, public: bool) -> None:
    assert is_public_address(address) is public


async def test_dns_answers_are_filtered_not_trusted() -> None:
    async def rebinding(host: str, port: int) -> list[str]:
        return ["127.0.0.1", "10.1.2.3", "169.254.169.254", "::1"]

    async def mixed(host: str, port: int) -> list[str]:
        return ["10.0.0.1", "142.250.74.42"]

    with pytest.raises(TransportError, match="no public address"):
        await PublicOnlyResolver(rebinding)("fcm.googleapis.com", 443)
    assert await PublicOnlyResolver(mixed)("fcm.googleapis.com", 443) == ["142.250.74.42"]


async def test_tls_is_verified_against_the_host_name(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path, "localhost")
    served = Server()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listening = await asyncio.start_server(served.handle, "127.0.0.1", 0, ssl=context)
    port = listening.sockets[0].getsockname()[1]
    trusting = PushTransport(
        timeout_seconds=5, ssl_context=ssl.create_default_context(cafile=str(cert))
    )
    default = PushTransport(timeout_seconds=5)  # the system's trust store: not our certificate
    try:
        assert (await trusting.post(f"https://localhost:{port}/p", {}, b"m")).status == 201
        with pytest.raises(TransportError, match="certificate verify failed"):
            await default.post(f"https://localhost:{port}/p", {}, b"m")
    finally:
        await trusting.close()
        await default.close()
        listening.close()
    assert len(served.requests) == 1


async def test_a_refusal_keeps_the_services_reason_for_operators(server: Server) -> None:
    reason = b"invalid JWT\r\n\x1b[31mprovided\x00 ok"
    server.script = lambda c, n: (
        b"HTTP/1.1 403 Forbidden\r\nContent-Length: %d\r\n\r\n%s" % (len(reason), reason)
    )
    transport = PushTransport(timeout_seconds=5)
    sender = PushSender(
        WebPushClient(transport),
        VapidSigner(generate_keys(), subject="mailto:ops@duo.example"),
        concurrency=1,
    )
    keys = fake_keys()
    request = PushRequest(
        endpoint=f"http://127.0.0.1:{server.port}/push/x",
        p256dh=keys["p256dh"],
        auth=keys["auth"],
        payload=b"{}",
        ttl=60,
    )
    try:
        result = await sender.send(request)
    finally:
        await transport.close()
    assert result.outcome is Outcome.REJECTED
    assert result.detail == "HTTP 403: invalid JWT [31mprovided ok"
