"""Web Push fan-out: this project's sender against a plain `pywebpush.webpush()` loop, in one run,
with the floor measured beside them.

- The receiver is bench/push_sink.py, a fast HTTPS "push service front door" on 127.0.0.1 in its
  own process (self-signed certificate made here with `cryptography`); it answers 201 without
  decrypting, like a real push service's edge.
- The messages are reminders as the worker builds them: one device (own P-256 key and auth
  secret) per message, ~400-byte JSON payload, TTL, Topic and Urgency headers.
- "this sender": notifications.sender.PushSender, as `duo-abroad worker` runs it (pywebpush's
  WebPusher composes each request; one shared pool of keep-alive connections, see
  notifications/transport.py; bounded concurrency; VAPID header signed once per push-service
  origin; uvloop when installed).
- "plain loop": `pywebpush.webpush()` per message: a new connection and TLS handshake and a new
  VAPID signature each time (what a first implementation does).
- "floor": RFC 8291 encryption alone per message (new key pair, ECDH, HKDF, AES-GCM), one core.

Targets (issue 6): this sender >= 10x the plain loop, and per core >= 40% of the floor.

    .venv/bin/python bench/push.py                       # 10,000 messages each, ~1 minute
    .venv/bin/python bench/push.py --messages 2000 --plain-messages 500
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import ssl
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import http_ece
import pywebpush
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid

from notifications.sender import Outcome, PushSender
from notifications.texts import reminder_payload, topic_for
from notifications.vapid import VapidSigner, b64url, generate_keys
from notifications.webpush import PushRequest, WebPushClient, create_transport, encrypt
from tests.certificates import self_signed

SINK = Path(__file__).resolve().parent / "push_sink.py"
SUBJECT = "mailto:bench@localhost"
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Message:
    request: PushRequest
    p256dh_raw: bytes
    auth_raw: bytes


@dataclass(frozen=True, slots=True)
class Run:
    messages: int
    wall: float
    cpu: float

    @property
    def per_second(self) -> float:
        return self.messages / self.wall

    @property
    def per_cpu_second(self) -> float:
        return self.messages / self.cpu


def cpu_time() -> float:
    times = os.times()
    return times.user + times.system


@contextmanager
def sink(cert: Path, key: Path) -> Iterator[int]:
    process = subprocess.Popen(  # noqa: S603 - our own script, fixed arguments
        [sys.executable, str(SINK), "--cert", str(cert), "--key", str(key)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("ready "):
            raise RuntimeError(f"push sink did not start: {line!r}")
        yield int(line.split()[1])
    finally:
        process.terminate()
        process.wait(timeout=10)


def accepted_count(port: int, context: ssl.SSLContext) -> int:
    import http.client

    connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
    connection.request("GET", "/count")
    count = int(connection.getresponse().read())
    connection.close()
    return count


def make_messages(count: int, port: int) -> list[Message]:
    """One device per message, as in a real fan-out."""
    deadline = dt.datetime.now(dt.UTC) + dt.timedelta(days=3)
    messages = []
    for i in range(count):
        device = ec.generate_private_key(ec.SECP256R1())
        point = device.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        auth = os.urandom(16)
        deadline_id = uuid.uuid4()
        payload = reminder_payload(
            title="Income statement due in 3 days",
            body="Send proof of your income of last year to set your monthly amount. "
            "Deadline: Thursday 31 December 2026, 23:59 (Asia/Jakarta).",
            language="en",
            deadline_id=deadline_id,
            message_id=uuid.uuid4(),
            due_at=deadline,
        )
        request = PushRequest(
            endpoint=f"https://127.0.0.1:{port}/push/{i}",
            p256dh=b64url(point),
            auth=b64url(auth),
            payload=payload,
            ttl=3 * 86400,
            topic=topic_for(deadline_id),
            urgency="normal",
        )
        messages.append(Message(request, point, auth))
    return messages


def measure(count: int, work: Callable[[], T]) -> tuple[Run, T]:
    wall, cpu = time.perf_counter(), cpu_time()
    result = work()
    return Run(count, time.perf_counter() - wall, cpu_time() - cpu), result


def run_floor(messages: Sequence[Message]) -> Run:
    def work() -> None:
        for m in messages:
            encrypt(m.request.payload, p256dh=m.p256dh_raw, auth=m.auth_raw)

    return measure(len(messages), work)[0]


def run_http_ece(messages: Sequence[Message]) -> Run:
    """pywebpush's own encryption path (http_ece), for reference."""

    def work() -> None:
        for m in messages:
            http_ece.encrypt(
                m.request.payload,
                private_key=ec.generate_private_key(ec.SECP256R1()),
                dh=m.p256dh_raw,
                auth_secret=m.auth_raw,
                version="aes128gcm",
            )

    return measure(len(messages), work)[0]


def run_sender(messages: Sequence[Message], concurrency: int, context: ssl.SSLContext) -> Run:
    async def main() -> Run:
        session = create_transport(timeout_seconds=10, public_only=False, ssl_context=context)
        sender = PushSender(
            WebPushClient(session),
            VapidSigner(generate_keys(), subject=SUBJECT),
            concurrency=concurrency,
        )
        try:
            # Warm-up (not counted): opens the pooled connections, as a running worker has them.
            warm = await sender.send_many([m.request for m in messages[:concurrency]])
            assert all(r.outcome is Outcome.DELIVERED for r in warm), warm[:3]
            wall, cpu = time.perf_counter(), cpu_time()
            results = await sender.send_many([m.request for m in messages])
            run = Run(len(messages), time.perf_counter() - wall, cpu_time() - cpu)
        finally:
            await session.close()
        failed = [r for r in results if r.outcome is not Outcome.DELIVERED]
        if failed:
            raise RuntimeError(f"{len(failed)} not delivered, e.g. {failed[0]}")
        return run

    return _loop_run(main)


def _loop_run(main: Callable[[], Awaitable[Run]]) -> Run:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main())  # type: ignore[arg-type]
    return uvloop.run(main())  # type: ignore[arg-type]


def run_plain(messages: Sequence[Message], cert: Path) -> Run:
    os.environ["REQUESTS_CA_BUNDLE"] = str(cert)
    vapid = Vapid(private_key=generate_keys().private_key)

    def work() -> None:
        for m in messages:
            request = m.request
            subscription: dict[str, Any] = {
                "endpoint": request.endpoint,
                "keys": {"p256dh": request.p256dh, "auth": request.auth},
            }
            pywebpush.webpush(
                subscription,
                data=request.payload.decode(),
                vapid_private_key=vapid,
                vapid_claims={"sub": SUBJECT},
                ttl=request.ttl,
                timeout=10,
                headers={
                    "Content-Type": "application/octet-stream",
                    "Topic": request.topic or "",
                    "Urgency": request.urgency,
                },
            )

    return measure(len(messages), work)[0]


# The sender's Prometheus counting (api/metrics.py, notifications/sender.py PushMetrics) per
# message, timed in a fresh interpreter: prometheus-client picks its storage at import, so the
# multiprocess mode (a memory-mapped file per process) needs its own process.
_COUNT_COST = """
import time
from notifications.sender import Outcome, PushMetrics, SendResult
metrics, result = PushMetrics(), SendResult(Outcome.DELIVERED, "delivered", 201)
hosts = ["fcm.googleapis.com", "updates.push.services.mozilla.com", "web.push.apple.com"]
n = 300_000
start = time.process_time()
for i in range(n):
    metrics.count(result, hosts[i % 3])
print((time.process_time() - start) / n * 1e6)
"""


def metrics_cost_us(*, multiprocess: bool) -> float:
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    with tempfile.TemporaryDirectory(prefix="duo-metrics-") as directory:
        if multiprocess:
            env["PROMETHEUS_MULTIPROC_DIR"] = directory
        out = subprocess.run(  # noqa: S603 - this interpreter, a fixed snippet
            [sys.executable, "-c", _COUNT_COST],
            env=env,
            cwd=Path(__file__).resolve().parent.parent,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    return float(out.strip())


def duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument(
        "--plain-messages", type=int, help="how many of them the plain loop sends (default all)"
    )
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight")
    parser.add_argument("--rounds", type=int, default=3, help="sender and floor measured N times")
    args = parser.parse_args()
    cores = os.cpu_count() or 1

    with tempfile.TemporaryDirectory(prefix="duo-push-bench-") as tmp:
        cert, key = self_signed(Path(tmp))
        context = ssl.create_default_context(cafile=str(cert))
        with sink(cert, key) as port:
            print(f"making {args.messages:,} messages (one device each) ...", flush=True)
            messages = make_messages(args.messages, port)
            # Alternate the measurements and keep each one's best round: on a shared machine
            # the load changes from second to second, and this compares like with like.
            floors, senders = [], []
            for _ in range(args.rounds):
                floors.append(run_floor(messages))
                senders.append(run_sender(messages, args.concurrency, context))
            floor = min(floors, key=lambda r: r.cpu)
            sender = min(senders, key=lambda r: r.cpu)
            fastest = max(senders, key=lambda r: r.per_second)
            ece = run_http_ece(messages[: min(len(messages), 5000)])
            plain_messages = messages[: args.plain_messages or len(messages)]
            print(f"plain loop over {len(plain_messages):,} messages ...", flush=True)
            plain = run_plain(plain_messages, cert)
            expected = args.rounds * (args.messages + min(args.concurrency, args.messages))
            expected += len(plain_messages)
            accepted = accepted_count(port, context)

    speedup = fastest.per_second / plain.per_second
    of_floor = sender.per_cpu_second / floor.per_cpu_second
    print()
    print(f"Web Push fan-out, {args.messages:,} reminders to a local HTTPS push service ")
    print(f"(receiver in its own process; {cores} cores; concurrency {args.concurrency})")
    print()
    print(f"{'':34}{'msg/s':>10}{'msg per CPU-s':>16}{'CPU us/msg':>12}")
    rows = [
        ("this sender (PushSender)", fastest),
        ("plain pywebpush.webpush() loop", plain),
        ("floor: RFC 8291 encryption alone", floor),
        ("  (http_ece, pywebpush's encryption)", ece),
    ]
    for label, run in rows:
        print(
            f"{label:34}{run.per_second:>10,.0f}{run.per_cpu_second:>16,.0f}"
            f"{run.cpu / run.messages * 1e6:>12.0f}"
        )
    print()
    print(
        f"(best of {args.rounds} alternating rounds each; the sender's CPU per message from its "
        f"leanest round: {sender.cpu / sender.messages * 1e6:.0f} us)"
    )
    print()
    print(f"sender / plain loop:            {speedup:5.1f}x   (target >= 10x)  ", end="")
    print("PASS" if speedup >= 10 else "FAIL")
    print(f"sender per core / floor:        {of_floor:5.0%}    (target >= 40%)  ", end="")
    print("PASS" if of_floor >= 0.40 else "FAIL")
    print(f"push service accepted {accepted:,} of {expected:,} requests sent")
    print()
    one = 1_000_000 / fastest.per_second
    many = 1_000_000 / (sender.per_cpu_second * cores)
    print(
        f"1,000,000 reminders: {duration(one)} with one worker process; about {duration(many)} "
        f"with {cores} (one per core, if the push services keep up); the plain loop would take "
        f"{duration(1_000_000 / plain.per_second)}."
    )
    per_message = sender.cpu / sender.messages * 1e6
    for label, multiprocess in (("one process", False), ("multiprocess files", True)):
        cost = metrics_cost_us(multiprocess=multiprocess)
        print(
            f"Prometheus counting per message ({label}): {cost:.2f} us = "
            f"{cost / per_message:.1%} of the sender's {per_message:.0f} us"
        )
    ok = speedup >= 10 and of_floor >= 0.40 and accepted == expected
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
