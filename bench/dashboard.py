"""The Dashboard over GraphQL against the same data from a plain Litestar endpoint, in one run.

Builds its own database (a temporary SQLite file, or a dedicated PostgreSQL database that it
creates and drops), seeds demo persons, signs the demo person in, starts both servers with
uvicorn (one worker each, loopback only) and drives them with a light keep-alive client.
Prints requests/s, latency, server CPU per request and the ratio to the plain endpoint, and
PASS/FAIL against the issue's target: the persisted Dashboard at >= 40% of plain requests/s.

    .venv/bin/python bench/dashboard.py                      # SQLite, about 70 s
    .venv/bin/python bench/dashboard.py --seconds 3 --rounds 1
    .venv/bin/python bench/dashboard.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/postgres

With --database-url only the server and credentials are used: the bench connects to the
`postgres` maintenance database to create and drop `duo_bench`, never to the named database.
"""

from __future__ import annotations

import argparse
import asyncio
import difflib
import hashlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

# Run as a script: the repository root (for `bench.*`) is not on sys.path by itself.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
from sqlalchemy import select
from yarl import URL

from api.database import create_engine, create_session_factory, utcnow
from api.migrate import upgrade
from api.persisted import OPERATIONS_DIR
from api.settings import PROJECT_ROOT, Settings
from auth.sessions import create_session
from bench.scratch import postgres_database, sqlite_database
from records.demo import DEMO_CUSTOMER_NUMBER, seed_demo
from records.models import Person

TARGET_RATIO = 0.40  # the issue: persisted Dashboard at >= 40% of the plain endpoint
LOOPBACK = "127.0.0.1"
COOKIE = "duo_session"  # the cookie name on a plain-http origin (auth.cookies)
# A byte away from the allowlisted text: the server cannot use its pre-parsed, pre-validated
# copy (api/persisted.py matches documents by exact text), as for any ad-hoc client.
ADHOC_SUFFIX = "\n# ad-hoc copy\n"


# --- the database -------------------------------------------------------------------------


async def seed_and_sign_in(database_url: str, persons: int) -> tuple[str, float]:
    """Seed the demo persons and open a session for the demo person; returns (token, seconds)."""
    engine = create_engine(database_url)
    try:
        async with create_session_factory(engine)() as db:
            started = time.perf_counter()
            await seed_demo(db, persons=persons)
            seeded = time.perf_counter() - started
            person_id = await db.scalar(
                select(Person.id).where(Person.customer_number == DEMO_CUSTOMER_NUMBER)
            )
            assert person_id is not None
            # Dated an hour ahead, so no request in the run refreshes last_seen_at: every request
            # does the same work. (A refresh is one write a minute; on SQLite, concurrent
            # refreshes currently fail with "database is locked" - see the bench's report.)
            issued = await create_session(
                db,
                person_id=person_id,
                absolute_timeout=Settings().session_absolute_timeout,
                now=utcnow() + timedelta(hours=1),
            )
            await db.commit()
            return issued.token, seeded
    finally:
        await engine.dispose()


# --- the servers --------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def base(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def cpu_seconds(self) -> float | None:
        """User + system CPU of the server process, all threads (Linux /proc), else None."""
        try:
            stat = Path(f"/proc/{self.process.pid}/stat").read_text()
        except OSError:
            return None
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def log_tail(self) -> str:
        with suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-30:])
        return ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(name: str, factory: str, env: dict[str, str], log_dir: Path) -> Server:
    port = free_port()
    log_path = log_dir / f"{name}.log"
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        f"bench.apps:{factory}",
        "--factory",
        "--app-dir",
        str(PROJECT_ROOT),
        "--host",
        LOOPBACK,
        "--port",
        str(port),
        "--workers",
        "1",
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            command, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    return Server(name=name, port=port, process=process, log_path=log_path)


def wait_until_live(server: Server, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise SystemExit(f"{server.name} server exited:\n{server.log_tail()}")
        with suppress(OSError), socket.create_connection((LOOPBACK, server.port), timeout=1):
            return
        time.sleep(0.1)
    raise SystemExit(f"{server.name} server did not start in {timeout:.0f} s:\n{server.log_tail()}")


def stop_server(server: Server) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


@contextmanager
def running_servers(database_url: str, log_level: str) -> Iterator[tuple[Server, Server]]:
    env = {
        **os.environ,
        "BENCH_DATABASE_URL": database_url,
        "BENCH_LOG_LEVEL": log_level,
        "PYTHONPATH": str(PROJECT_ROOT),
    }
    log_dir = Path(tempfile.mkdtemp(prefix="duo-bench-logs-"))
    servers: list[Server] = []
    try:
        servers.append(start_server("graphql", "graphql_app", env, log_dir))
        servers.append(start_server("plain", "plain_app", env, log_dir))
        for server in servers:
            wait_until_live(server)
        yield servers[0], servers[1]
    finally:
        for server in servers:
            stop_server(server)
        shutil.rmtree(log_dir, ignore_errors=True)


# --- the requests -------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    key: str
    label: str
    server: Server
    method: str
    target: str  # path and query string, already encoded
    headers: dict[str, str]
    body: bytes | None = None
    baseline: str | None = None  # key of the variant this one is compared with

    @property
    def url(self) -> URL:
        return URL(self.server.base + self.target, encoded=True)


def dashboard_document() -> str:
    return (OPERATIONS_DIR / "Dashboard.graphql").read_text(encoding="utf-8")


def build_variants(graphql: Server, plain: Server, token: str) -> list[Variant]:
    document = dashboard_document()
    sha = hashlib.sha256(document.encode()).hexdigest()
    cookie = {"Cookie": f"{COOKIE}={token}"}
    gql_json = {"Accept": "application/json", "Content-Type": "application/json"}
    persisted_query = urlencode(
        {
            "operationName": "Dashboard",
            "extensions": json.dumps(
                {"persistedQuery": {"version": 1, "sha256Hash": sha}}, separators=(",", ":")
            ),
        }
    )
    return [
        Variant("plain", "plain GET /dashboard", plain, "GET", "/dashboard", cookie),
        Variant(
            "persisted",
            "GraphQL GET persisted Dashboard",
            graphql,
            "GET",
            f"/graphql?{persisted_query}",
            {**cookie, "Accept": "application/json"},
            baseline="plain",
        ),
        Variant(
            "adhoc",
            "GraphQL POST Dashboard as ad-hoc text",
            graphql,
            "POST",
            "/graphql",
            {**cookie, **gql_json},
            json.dumps({"query": document + ADHOC_SUFFIX, "operationName": "Dashboard"}).encode(),
            baseline="plain",
        ),
        Variant("plain_trivial", "plain GET /trivial", plain, "GET", "/trivial", {}),
        Variant(
            "trivial",
            "GraphQL POST ad-hoc { __typename }",
            graphql,
            "POST",
            "/graphql",
            gql_json,
            json.dumps({"query": "{ __typename }"}).encode(),
            baseline="plain_trivial",
        ),
    ]


@asynccontextmanager
async def http_client(concurrency: int) -> AsyncIterator[aiohttp.ClientSession]:
    connector = aiohttp.TCPConnector(limit=concurrency, keepalive_timeout=120)
    async with aiohttp.ClientSession(
        connector=connector,
        cookie_jar=aiohttp.DummyCookieJar(),
        # No Accept-Encoding: the real app would brotli/gzip the answer, the plain one not.
        skip_auto_headers=("Accept-Encoding", "User-Agent"),
        auto_decompress=False,
    ) as session:
        yield session


async def fetch(http: aiohttp.ClientSession, variant: Variant) -> tuple[int, bytes]:
    async with http.request(
        variant.method, variant.url, headers=variant.headers, data=variant.body
    ) as response:
        return response.status, await response.read()


def _pretty(value: object) -> list[str]:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False).splitlines()


async def check_same_data(variants: Sequence[Variant]) -> dict[str, int]:
    """Fail loudly unless every GraphQL variant's `data` equals its plain baseline's JSON."""
    by_key = {v.key: v for v in variants}
    sizes: dict[str, int] = {}
    bodies: dict[str, Any] = {}
    async with http_client(1) as http:
        for variant in variants:
            status, raw = await fetch(http, variant)
            sizes[variant.key] = len(raw)
            body = json.loads(raw) if raw else None
            if status != 200 or not isinstance(body, dict) or body.get("errors"):
                raise SystemExit(f"{variant.label}: HTTP {status}\n{raw[:2000]!r}")
            bodies[variant.key] = body
    for variant in variants:
        if variant.baseline is None:
            continue
        baseline = bodies[variant.baseline]
        expected = baseline.get("data", baseline) if variant.key == "trivial" else baseline
        got = bodies[variant.key].get("data")
        if got != expected:
            diff = difflib.unified_diff(
                _pretty(expected),
                _pretty(got),
                by_key[variant.baseline].label,
                variant.label,
                lineterm="",
            )
            raise SystemExit("DIFFERENT DATA - not comparable:\n" + "\n".join(diff))
    viewer = bodies["plain"]["viewer"]
    if not viewer["enrolments"] or not viewer["deadlines"]["nodes"]:
        raise SystemExit("the demo person has no records: the seed did not do its job")
    return sizes


@dataclass
class Measurement:
    requests: int = 0
    failures: int = 0
    wall: float = 0.0
    latencies: list[float] = field(default_factory=list)
    server_cpu: float | None = 0.0
    client_cpu: float = 0.0
    rounds: list[float] = field(default_factory=list)  # requests/s per round

    @property
    def rate(self) -> float:
        return self.requests / self.wall if self.wall else 0.0

    def quantile_ms(self, q: float) -> float:
        if len(self.latencies) < 2:
            return float("nan")
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[round(q * 100) - 1]

    @property
    def server_ms_per_request(self) -> float | None:
        if self.server_cpu is None or not self.requests:
            return None
        return self.server_cpu * 1000 / self.requests


@dataclass
class Phase:
    deadline: float
    latencies: list[float] = field(default_factory=list)
    failures: int = 0


async def keep_busy(http: aiohttp.ClientSession, variant: Variant, phase: Phase) -> None:
    """One connection's worth of load: a request, then the next, until the deadline."""
    url, method, headers, body = variant.url, variant.method, variant.headers, variant.body
    graphql = variant.server.name == "graphql"
    while time.perf_counter() < phase.deadline:
        started = time.perf_counter()
        async with http.request(method, url, headers=headers, data=body) as response:
            payload = await response.read()
        phase.latencies.append((time.perf_counter() - started) * 1000)
        # GraphQL answers errors with 200; a cheap byte search keeps the client light.
        if response.status != 200 or (graphql and b'"errors"' in payload):
            phase.failures += 1


async def drive(
    variant: Variant, *, seconds: float, warmup: float, concurrency: int, into: Measurement
) -> None:
    """Warm up, then keep `concurrency` requests in flight for `seconds`; add to `into`."""
    async with http_client(concurrency) as http:
        warm = Phase(deadline=time.perf_counter() + warmup)
        await asyncio.gather(*(keep_busy(http, variant, warm) for _ in range(concurrency)))

        cpu_before = variant.server.cpu_seconds()
        client_before = time.process_time()
        started = time.perf_counter()
        phase = Phase(deadline=started + seconds)
        await asyncio.gather(*(keep_busy(http, variant, phase) for _ in range(concurrency)))
        wall = time.perf_counter() - started
        cpu_after = variant.server.cpu_seconds()

    into.requests += len(phase.latencies)
    into.failures += phase.failures
    into.wall += wall
    into.latencies.extend(phase.latencies)
    into.client_cpu += time.process_time() - client_before
    into.rounds.append(len(phase.latencies) / wall)
    if cpu_before is None or cpu_after is None or into.server_cpu is None:
        into.server_cpu = None
    else:
        into.server_cpu += cpu_after - cpu_before


# --- the report ---------------------------------------------------------------------------


CLIENT_BOUND = 0.8  # of one core: above this the client, not the server, may set the pace


def cpu_ratio(m: Measurement, baseline: Measurement) -> float | None:
    """The baseline's server CPU per request over this one's: a ratio the client cannot skew."""
    mine, theirs = m.server_ms_per_request, baseline.server_ms_per_request
    return theirs / mine if mine and theirs else None


def report(
    variants: Sequence[Variant], results: dict[str, Measurement], sizes: dict[str, int]
) -> bool:
    header = (
        f"{'variant':<40}{'req/s':>8}{'rounds':>14}{'p50 ms':>8}{'p95 ms':>8}"
        f"{'srv CPU':>10}{'client':>8}{'bytes':>7}{'vs plain':>10}{'by CPU':>8}"
    )
    print(header)
    print("-" * len(header))
    client_bound = False
    for variant in variants:
        m = results[variant.key]
        spread = f"{min(m.rounds):.0f}-{max(m.rounds):.0f}"
        cpu = m.server_ms_per_request
        cpu_text = f"{cpu:.2f} ms" if cpu is not None else "n/a"
        client_share = m.client_cpu / m.wall if m.wall else 0.0
        mark = "*" if client_share >= CLIENT_BOUND else ""
        client_bound = client_bound or bool(mark)
        by_rate = by_cpu = ""
        if variant.baseline:
            baseline = results[variant.baseline]
            by_rate = f"{m.rate / baseline.rate:.1%}"
            share = cpu_ratio(m, baseline)
            by_cpu = f"{share:.1%}" if share is not None else "n/a"
        print(
            f"{variant.label:<40}{m.rate:>8.0f}{spread:>14}{m.quantile_ms(0.5):>8.2f}"
            f"{m.quantile_ms(0.95):>8.2f}{cpu_text:>10}{client_share:>7.0%}{mark:1}"
            f"{sizes[variant.key]:>6}{by_rate:>10}{by_cpu:>8}"
        )
    print()
    print("req/s over all rounds (range: per round); latency with the client's concurrency;")
    print("srv CPU: server process CPU (user+system, all threads) per request;")
    print("client: share of one core used by the load client; by CPU: plain's srv CPU / this.")
    if client_bound:
        print(
            f"* the client used >= {CLIENT_BOUND:.0%} of a core: that row's req/s is a floor "
            "set by the client; compare it by CPU."
        )
    for key, base in (("persisted", "plain"), ("adhoc", "plain"), ("trivial", "plain_trivial")):
        m, b = results[key], results[base]
        m_cpu, b_cpu = m.server_ms_per_request, b.server_ms_per_request
        extra = f"; {m_cpu - b_cpu:+.2f} ms server CPU per request" if m_cpu and b_cpu else ""
        print(f"  {key:>9} vs {base:<13}: 1/{b.rate / m.rate:.1f} of its requests/s{extra}")
    failures = {k: m.failures for k, m in results.items() if m.failures}
    if failures:
        print(f"FAILED REQUESTS during the measurement: {failures}")
    share = results["persisted"].rate / results["plain"].rate
    passed = share >= TARGET_RATIO and not failures
    persisted_by_cpu = cpu_ratio(results["persisted"], results["plain"])
    cpu_text = f" ({persisted_by_cpu:.1%} by server CPU per request)" if persisted_by_cpu else ""
    print(
        f"\n{'PASS' if passed else 'FAIL'}: the persisted GraphQL Dashboard serves {share:.1%} "
        f"of the plain endpoint's requests/s{cpu_text}; target >= {TARGET_RATIO:.0%}"
    )
    return passed


async def measure(
    variants: Sequence[Variant], *, seconds: float, warmup: float, rounds: int, concurrency: int
) -> dict[str, Measurement]:
    results = {v.key: Measurement() for v in variants}
    for round_number in range(rounds):
        # Alternate the order so slow drift (thermal, page cache) does not favour one side.
        ordered = variants if round_number % 2 == 0 else list(reversed(variants))
        for variant in ordered:
            print(f"  round {round_number + 1}/{rounds}: {variant.label} ...", flush=True)
            await drive(
                variant,
                seconds=seconds,
                warmup=warmup,
                concurrency=concurrency,
                into=results[variant.key],
            )
    return results


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--persons", type=int, default=1000, help="demo persons (default 1000)")
    parser.add_argument(
        "--seconds", type=float, default=5.0, help="measured seconds per variant and round"
    )
    parser.add_argument("--rounds", type=int, default=2, help="rounds, order alternating (2)")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds (default 1)")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight (default 8)")
    parser.add_argument(
        "--database-url",
        help="a postgresql+asyncpg:// URL of a server; the bench creates and drops its own "
        "database there (default: a temporary SQLite file)",
    )
    parser.add_argument(
        "--pg-database", default="duo_bench", help="the database to create (default duo_bench)"
    )
    parser.add_argument(
        "--app-log-level",
        default="WARNING",
        help="the GraphQL app's log level; INFO adds its per-request access log (default WARNING)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    database = (
        postgres_database(args.database_url, args.pg_database)
        if args.database_url
        else sqlite_database()
    )
    try:
        upgrade(database.url)
        token, seed_seconds = asyncio.run(seed_and_sign_in(database.url, args.persons))
        print(f"database: {database.description}")
        print(
            f"seeded {args.persons} persons in {seed_seconds:.1f} s; signed in as the demo person"
        )
        print(
            f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} before the "
            "run. Both servers: uvicorn, 1 worker, loopback. The load client (aiohttp, "
            f"{args.concurrency} keep-alive connections, one process) shares those CPUs with the "
            "server under test (and PostgreSQL): it is kept light, and server CPU per request is "
            "the figure it and other load on the machine disturb least."
        )
        with running_servers(database.url, args.app_log_level) as (graphql, plain):
            variants = build_variants(graphql, plain, token)
            sizes = asyncio.run(check_same_data(variants))
            print("same data: the GraphQL `data` equals the plain endpoint's JSON")
            results = asyncio.run(
                measure(
                    variants,
                    seconds=args.seconds,
                    warmup=args.warmup,
                    rounds=args.rounds,
                    concurrency=args.concurrency,
                )
            )
            for server in (graphql, plain):
                if server.process.poll() is not None:
                    raise SystemExit(f"{server.name} server died:\n{server.log_tail()}")
        print(f"\nload average after the run: {os.getloadavg()[0]:.1f}\n")
        return 0 if report(variants, results, sizes) else 1
    finally:
        database.drop()


if __name__ == "__main__":
    raise SystemExit(main())
