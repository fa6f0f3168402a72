"""The push sender: one shared HTTP session, bounded concurrency, VAPID headers reused per origin.

It sends and classifies; it never touches the database. What a classified result means for a
delivery record (retry when, give up when) is decided in notifications/deliveries.py.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import itertools
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import structlog

from api import metrics
from notifications.vapid import UnsignableEndpoint, VapidSigner, push_service_origin
from notifications.webpush import PreparedPush, PushRequest, PushResponse, WebPushClient

log = structlog.get_logger("notifications.sender")


class Outcome(enum.StrEnum):
    DELIVERED = "delivered"  # 2xx: the push service has it
    GONE = "gone"  # 404/410: the subscription no longer exists; remove it
    RETRY = "retry"  # 429, 5xx, timeouts, connection errors: try again later
    REJECTED = "rejected"  # 400, 413 and other 4xx, unusable keys: trying again cannot help


@dataclass(frozen=True, slots=True)
class SendResult:
    outcome: Outcome
    reason: str  # the metrics label: delivered, gone, rate_limited, server_error, timeout, ...
    status_code: int | None = None
    retry_after: float | None = None  # seconds the push service asked us to wait
    detail: str | None = None


def classify(response: PushResponse) -> SendResult:
    """RFC 8030 §5 and §8.4 status codes, as the push services document them."""
    status = response.status
    if status is None:
        if response.error == "timeout":
            return SendResult(Outcome.RETRY, "timeout", detail="no answer in time")
        if response.error in ("connection", "bad-response"):
            return SendResult(Outcome.RETRY, "connection_error", detail=response.detail)
        return SendResult(Outcome.REJECTED, "invalid_subscription", detail=response.detail)
    if 200 <= status <= 202:
        return SendResult(Outcome.DELIVERED, "delivered", status)
    if status in (404, 410):
        return SendResult(Outcome.GONE, "gone", status)
    if status == 429:
        return SendResult(Outcome.RETRY, "rate_limited", status, response.retry_after)
    if status >= 500:
        return SendResult(Outcome.RETRY, "server_error", status, response.retry_after)
    if status == 413:
        return SendResult(Outcome.REJECTED, "payload_too_large", status)
    explained = f"HTTP {status}: {response.detail}" if response.detail else f"HTTP {status}"
    return SendResult(Outcome.REJECTED, "rejected", status, detail=explained)


# Push services that spread their endpoints over many hosts count as one (a label per host
# would make a series per data centre).
_SERVICE_SUFFIXES = (".notify.windows.com", ".push.apple.com")


def service_label(host: str) -> str:
    for suffix in _SERVICE_SUFFIXES:
        if host.endswith(suffix):
            return suffix[1:]
    return host


class PushMetrics:
    """Outcome counters of this process (also logged by the worker every minute), and the
    Prometheus counter by outcome and push service (duo_push_sends_total)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        # The labelled child per (outcome, host), looked up once: the sender counts thousands
        # of messages a second, and prometheus-client's labels() takes a lock each time.
        self._children: dict[tuple[str, str], Any] = {}

    def count(self, result: SendResult, host: str) -> None:
        self.counts[result.reason] += 1
        key = (result.reason, host)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metrics.PUSH_SENDS.labels(
                result.reason, service_label(host)
            )
        child.inc()

    def snapshot(self) -> dict[str, int]:
        return dict(sorted(self.counts.items()))


class PushSender:
    """Sends push messages; holds the shared HTTP client and the per-origin VAPID headers."""

    def __init__(
        self,
        client: WebPushClient,
        signer: VapidSigner,
        *,
        concurrency: int,
        metrics: PushMetrics | None = None,
    ) -> None:
        self._client = client
        self._signer = signer
        self._slots = asyncio.Semaphore(concurrency)
        self._concurrency = concurrency
        self.metrics = metrics or PushMetrics()

    @property
    def public_key(self) -> str:
        return self._signer.public_key

    async def send(self, request: PushRequest) -> SendResult:
        prepared = self._prepare(request)
        if isinstance(prepared, SendResult):
            return prepared
        async with self._slots:
            return await self._send(prepared)

    async def send_many(self, requests: Sequence[PushRequest]) -> list[SendResult]:
        """Send all, at most `concurrency` at a time; results in the order of the requests."""
        results: list[SendResult | None] = [None] * len(requests)

        def keep(index: int, result: SendResult) -> None:
            results[index] = result

        await self.send_each(requests, keep)
        return [r for r in results if r is not None]

    async def send_each(
        self,
        requests: Sequence[PushRequest],
        on_result: Callable[[int, SendResult], None],
        *,
        proceed: Callable[[int], bool] | None = None,
    ) -> None:
        """Send all, at most `concurrency` at a time, handing each result (with the index of
        its request) to `on_result` as soon as it is known; a request for which `proceed` says
        no just before it would go out is not sent and gets no result.

        A fixed set of worker coroutines pulls from a queue of messages encrypted ahead, a batch
        of `concurrency` at a time: encryption in one tight loop runs at the speed of the
        encryption alone, and fixed workers are cheaper than a task per message (bench/push.py).
        """
        upcoming = iter(range(len(requests)))
        ready: collections.deque[tuple[int, PreparedPush]] = collections.deque()
        exhausted = False

        def encrypt_ahead() -> bool:
            nonlocal exhausted
            # Until something is ready or nothing is left: a batch may be wholly refused.
            while not ready and not exhausted:
                batch = list(itertools.islice(upcoming, self._concurrency))
                exhausted = len(batch) < self._concurrency
                for index in batch:
                    if proceed is not None and not proceed(index):
                        continue
                    prepared = self._prepare(requests[index])
                    if isinstance(prepared, SendResult):
                        on_result(index, prepared)
                    else:
                        ready.append((index, prepared))
            return bool(ready)

        async def work() -> None:
            async with self._slots:  # one slot per worker, shared with every other send
                while ready or encrypt_ahead():
                    index, prepared = ready.popleft()
                    if proceed is None or proceed(index):
                        on_result(index, await self._send(prepared))

        await asyncio.gather(*(work() for _ in range(min(self._concurrency, len(requests)))))

    def _prepare(self, request: PushRequest) -> PreparedPush | SendResult:
        # One message's failure is that message's alone (issue #12): whatever cannot be
        # signed or composed is recorded as rejected with its reason, and the rest of the
        # batch goes out. Expected refusals come back as values; anything else is a bug in
        # this process, logged, and still confined to its delivery.
        try:
            authorization = self._signer.authorization(push_service_origin(request.endpoint))
            prepared = self._client.prepare(request, authorization=authorization)
        except UnsignableEndpoint as exc:
            detail = f"VAPID cannot sign for its push service: {exc}"[:200]
            return self._count(
                SendResult(Outcome.REJECTED, "unsignable", detail=detail), _host(request.endpoint)
            )
        except Exception as exc:
            log.exception("push.prepare_failed", endpoint_origin=_origin_for_log(request))
            return self._count(
                SendResult(Outcome.REJECTED, "unsendable", detail=_short(exc)),
                _host(request.endpoint),
            )
        if isinstance(prepared, PreparedPush):
            return prepared
        return self._count(classify(prepared), _host(request.endpoint))

    async def _send(self, prepared: PreparedPush) -> SendResult:
        try:
            response = await self._client.send(prepared)
        except Exception as exc:  # the client reports network trouble as values: a bug
            log.exception("push.send_failed")
            return self._count(
                SendResult(Outcome.REJECTED, "unsendable", detail=_short(exc)),
                prepared.outgoing.origin[1],
            )
        return self._count(classify(response), prepared.outgoing.origin[1])

    def _count(self, result: SendResult, host: str) -> SendResult:
        self.metrics.count(result, host)
        return result


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:200]


def _origin_for_log(request: PushRequest) -> str:
    # The origin only: the rest of an endpoint is the subscription's secret capability URL.
    return request.endpoint.split("/", 3)[2][:100] if request.endpoint.count("/") >= 2 else "?"


def _host(endpoint: str) -> str:
    return urlsplit(endpoint).hostname or "?"
