"""Prometheus instruments: what the edges and adapters count, and their exposition.

The instruments are process-wide by nature (prometheus-client keeps one registry per process,
and in multiprocess mode one set of memory-mapped files per process), so they are defined once
here rather than per `create_app`. With `PROMETHEUS_MULTIPROC_DIR` set (several uvicorn
processes and workers on a host share that directory) prometheus-client writes every value to
those files and `render()` adds up all processes, live and finished; without it, this process's
registry is rendered. Each increment is a few microseconds (a dict lookup and a float add, or a
write to a memory map): cheap enough for the push sender's thousands of messages a second
(bench/push.py measures it).

Services do not count: the HTTP edge, the GraphQL extension, the form and push adapters do.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import platform
from collections.abc import Iterable, Iterator, Mapping
from importlib import metadata
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST

# Latency buckets for requests a person waits for (5 ms … 10 s).
_REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# A reminder is due at a minute's tick and then waits for a worker: seconds to a day.
_LAG_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 3 * 3600, 12 * 3600, 86400)

HTTP_REQUESTS = Counter(
    "duo_http_requests_total",
    "HTTP requests answered, by method, route template and status code.",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "duo_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer, by method and route template.",
    ["method", "route"],
    buckets=_REQUEST_BUCKETS,
)
GRAPHQL_OPERATIONS = Counter(
    "duo_graphql_operations_total",
    "GraphQL operations by persisted operation name (`adhoc` for other documents) and outcome "
    "(`ok`, or the first error's code).",
    ["operation", "outcome"],
)
AUTH_CEREMONIES = Counter(
    "duo_auth_ceremonies_total",
    "Passkey ceremonies by step (sign_in, activation, registration, recovery, device_link) and "
    "outcome (`ok`, or the error code the client got, e.g. VERIFICATION_FAILED, RATE_LIMITED).",
    ["step", "outcome"],
)
FORM_SUBMISSIONS = Counter(
    "duo_form_submissions_total",
    "Form submissions by outcome: accepted (stored now), replayed (answered with the stored "
    "original), invalid (field errors).",
    ["outcome"],
)
PUSH_SENDS = Counter(
    "duo_push_sends_total",
    "Push requests by outcome (delivered, gone, rate_limited, server_error, timeout, ...) and "
    "push service host.",
    ["outcome", "service"],
)
REMINDER_LAG = Histogram(
    "duo_reminder_lag_seconds",
    "From the moment a reminder was due to its acceptance by the push service.",
    buckets=_LAG_BUCKETS,
)
# Sampled every few seconds by each process that holds a pool; summed over live processes.
DB_POOL_IN_USE = Gauge(
    "duo_db_pool_connections_in_use",
    "Database connections checked out of the pools of live processes.",
    multiprocess_mode="livesum",
)
DB_POOL_WAITING = Gauge(
    "duo_db_pool_waiting",
    "Requests and jobs waiting for a free database connection, over live processes.",
    multiprocess_mode="livesum",
)
DB_POOL_CAPACITY = Gauge(
    "duo_db_pool_capacity",
    "Connections the pools of live processes may open (size plus overflow).",
    multiprocess_mode="livesum",
)


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def render(extra: Iterable[Metric] = ()) -> bytes:
    """The exposition text: every process's instruments, plus `extra` read at scrape time."""
    directory = multiprocess_dir()
    if directory is None:
        registry: CollectorRegistry = REGISTRY
        body = generate_latest(registry)
    else:
        _forget_dead_processes(directory)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
        body = generate_latest(registry)
    scraped = CollectorRegistry()
    scraped.register(_Fixed([build_info(), *extra]))
    return body + generate_latest(scraped)


def build_info() -> Metric:
    try:
        version = metadata.version("duo-abroad")
    except metadata.PackageNotFoundError:  # a checkout that was never installed
        version = "unknown"
    family = GaugeMetricFamily(
        "duo_build_info",
        "The running version of DUO Abroad (always 1).",
        labels=["version", "python"],
    )
    family.add_metric([version, platform.python_version()], 1)
    return family


def gauge(
    name: str, documentation: str, labels: list[str], values: Mapping[tuple[str, ...], float]
) -> Metric:
    """A gauge read at scrape time (queue depth), rendered by the scraping process only."""
    family = GaugeMetricFamily(name, documentation, labels=labels)
    for key, value in sorted(values.items()):
        family.add_metric(list(key), value)
    return family


class _Fixed(Collector):
    def __init__(self, metrics: list[Metric]) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        yield from self._metrics


def _forget_dead_processes(directory: str) -> None:
    """Live gauges of a process that has gone (a restart, a kill -9) must stop counting.

    prometheus-client leaves that to the process manager (`mark_process_dead`); systemd and
    Caddy's upstreams do not call it, so whoever renders checks the pids in the file names.
    Counters and histograms of finished processes stay: their totals never go backwards.
    """
    pids: set[int] = set()
    for path in glob.glob(os.path.join(directory, "gauge_live*_*.db")):
        digits = os.path.basename(path).rsplit("_", 1)[-1].removesuffix(".db")
        if digits.isdigit():
            pids.add(int(digits))
    for pid in pids:
        if not _alive(pid):
            multiprocess.mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


class PoolSampler:
    """Copies this process's pool figures into the gauges every few seconds.

    Sampling keeps the cost off the checkout path; a scrape every 15 s sees figures at most
    `interval` old, which is what a gauge is.
    """

    def __init__(self, pool: Any, *, interval: float = 5.0) -> None:
        self._pool = pool
        self._interval = interval
        self._task: asyncio.Task[None] | None = None
        self._last = (0.0, 0.0, 0.0)

    def sample(self) -> None:
        pool = self._pool
        in_use = float(getattr(pool, "checkedout", lambda: 0)())
        waiting = float(getattr(pool, "waiting", 0))
        capacity = float(getattr(pool, "size", lambda: 0)() + getattr(pool, "_max_overflow", 0))
        last_in_use, last_waiting, last_capacity = self._last
        DB_POOL_IN_USE.inc(in_use - last_in_use)
        DB_POOL_WAITING.inc(waiting - last_waiting)
        DB_POOL_CAPACITY.inc(capacity - last_capacity)
        self._last = (in_use, waiting, capacity)

    async def _run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(self._interval)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="db-pool-sampler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        # This process's share leaves the sums (several apps share one process in tests).
        in_use, waiting, capacity = self._last
        DB_POOL_IN_USE.dec(in_use)
        DB_POOL_WAITING.dec(waiting)
        DB_POOL_CAPACITY.dec(capacity)
        self._last = (0.0, 0.0, 0.0)
