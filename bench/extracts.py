"""Diploma extracts signed and verified per second, against the raw ES256 cost of the same run.

Measured, one at a time on one core, each step as the app runs it:
  - issue: create_extract in its own transaction (diploma + person lookup, status-index
    allocation, JSON, ES256 signature with joserfc, insert, commit);
  - verify online: ExtractIssuer.verify (parse, signature, status list from the database) and
    the same over HTTP in-process (POST /extracts/verify through Litestar);
  - verify offline: verify_offline with a saved JWKS and status list (what the CLI does);
  - status list: re-signing a changed list (gzip + ES256) against serving the cached one.
The baseline: ECDSA P-256/SHA-256 sign and verify with `cryptography` directly, on a message
the size of an extract's signing input.

Usage: .venv/bin/python bench/extracts.py [--extracts 300] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from api.app import create_app
from api.database import create_engine, create_session_factory
from api.logging import configure_logging
from api.migrate import upgrade_connection
from api.settings import Settings
from auth.ratelimit import MemoryRateLimiter
from bench.scratch import postgres_database, sqlite_database
from extracts import service, statuslist
from extracts.issuer import ExtractIssuer
from extracts.verify import SavedStatusList, keys_from_jwks, verify_offline
from records.demo import seed_demo
from records.models import Diploma

ECDSA = ec.ECDSA(hashes.SHA256())


class NoLimit(MemoryRateLimiter):
    """The benchmark measures verification, not the rate limiter refusing it."""

    async def hit(self, limit: Any, key: str) -> int | None:
        return None


def per_second(seconds: list[float]) -> tuple[float, float, float]:
    """(operations/s, mean ms, p95 ms)."""
    mean = statistics.fmean(seconds)
    p95 = statistics.quantiles(seconds, n=20)[-1] if len(seconds) >= 20 else max(seconds)
    return 1 / mean, mean * 1000, p95 * 1000


async def timed(count: int, step: Callable[[int], Awaitable[object]]) -> list[float]:
    times = []
    for i in range(count):
        t0 = time.perf_counter()
        await step(i)
        times.append(time.perf_counter() - t0)
    return times


def raw_ecdsa(message: bytes, rounds: int) -> tuple[float, float]:
    """Seconds per raw ES256 signature and per verification (`cryptography`, OpenSSL)."""
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key()
    t0 = time.perf_counter()
    for _ in range(rounds):
        signature = key.sign(message, ECDSA)
    sign = (time.perf_counter() - t0) / rounds
    t0 = time.perf_counter()
    for _ in range(rounds):
        public.verify(signature, message, ECDSA)
    return sign, (time.perf_counter() - t0) / rounds


async def run(count: int, database_url: str) -> None:
    settings = Settings(environment="test", database_url=database_url, log_level="WARNING")
    configure_logging(settings)
    engine = create_engine(database_url)
    async with engine.begin() as conn:
        await upgrade_connection(conn)
    factory = create_session_factory(engine)
    async with factory() as db:
        await seed_demo(db, persons=100, today=date(2026, 11, 28), seed=20261128)
        diplomas = [(d.person_id, d.id) for d in (await db.scalars(select(Diploma))).all()]
    issuer = ExtractIssuer(settings, factory)
    ring = await issuer.ring()

    # Issue.
    tokens: list[str] = []

    async def issue(i: int) -> None:
        person_id, diploma_id = diplomas[i % len(diplomas)]
        async with factory() as db:
            extract = await service.create_extract(
                db,
                person_id,
                diploma_id,
                language="en" if i % 2 else "nl",
                ring=ring,
                config=issuer.config,
            )
            await db.commit()
            tokens.append(extract.jws)

    await timed(20, issue)  # warm-up: connections, statement caches
    tokens.clear()
    issue_times = await timed(count, issue)
    signing_input = tokens[0].rsplit(".", 1)[0].encode()
    payload = json.dumps(json.loads(statuslist.b64url_decode(tokens[0].split(".")[1]))).encode()
    t0 = time.perf_counter()
    for _ in range(count):
        ring.sign(payload, typ="duo-extract+jwt")
    jose_sign = (time.perf_counter() - t0) / count

    # Verify online (service), over HTTP, and offline.
    async def online(i: int) -> None:
        async with factory() as db:
            verdict = await issuer.verify(db, tokens[i % len(tokens)])
        assert verdict.valid

    verify_times = await timed(count, online)

    app = create_app(settings, session_factory=factory, rate_limiter=NoLimit())
    transport = httpx.ASGITransport(app=cast(Any, app))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as c:

        async def over_http(i: int) -> None:
            response = await c.post("/extracts/verify", json={"jws": tokens[i % len(tokens)]})
            assert response.json()["result"] == "valid"

        await timed(20, over_http)
        http_times = await timed(count, over_http)

    async with factory() as db:
        published = await issuer.status_list(db, 1)
    keys = keys_from_jwks(json.loads(ring.jwks_json))
    saved = {
        statuslist.status_list_url(settings.public_origin, 1): SavedStatusList(
            url="", bits=published.bits, issued_at=published.issued_at
        )
    }
    t0 = time.perf_counter()
    for token in tokens:
        assert verify_offline(token, keys, saved).valid
    offline = (time.perf_counter() - t0) / len(tokens)

    # Status list: a fresh signature after every change, or the cached one.
    rebuilds = []
    async with factory() as db:
        for _ in range(50):
            issuer.status_lists = statuslist.StatusLists()  # an empty cache: a changed list
            t0 = time.perf_counter()
            await issuer.status_list(db, 1)
            rebuilds.append(time.perf_counter() - t0)
        cached = await timed(200, lambda _: issuer.status_list(db, 1))
    await engine.dispose()

    raw_sign, raw_verify = raw_ecdsa(signing_input, 2000)
    issue_rate, issue_ms, issue_p95 = per_second(issue_times)
    verify_rate, verify_ms, verify_p95 = per_second(verify_times)
    http_rate, http_ms, http_p95 = per_second(http_times)
    print(f"database: {database_url.split('@')[-1]}")
    print(f"extract signing input: {len(signing_input)} bytes; {count} extracts, one at a time")
    print("baseline (cryptography, OpenSSL):")
    print(f"  raw ES256 sign        {raw_sign * 1e6:8.1f} µs   {1 / raw_sign:9.0f}/s")
    print(f"  raw ES256 verify      {raw_verify * 1e6:8.1f} µs   {1 / raw_verify:9.0f}/s")
    print("issue:")
    print(f"  joserfc sign only     {jose_sign * 1e6:8.1f} µs   {1 / jose_sign:9.0f}/s")
    print(
        f"  create_extract        {issue_ms * 1000:8.1f} µs   {issue_rate:9.0f}/s   "
        f"p95 {issue_p95:.2f} ms   = {issue_ms / 1000 / raw_sign:.0f}x a raw signature"
    )
    print("verify:")
    print(
        f"  offline (CLI path)    {offline * 1e6:8.1f} µs   {1 / offline:9.0f}/s   "
        f"= {offline / raw_verify:.1f}x a raw verification"
    )
    print(
        f"  online, service       {verify_ms * 1000:8.1f} µs   {verify_rate:9.0f}/s   "
        f"p95 {verify_p95:.2f} ms   = {verify_ms / 1000 / raw_verify:.0f}x"
    )
    print(
        f"  online, HTTP in-proc  {http_ms * 1000:8.1f} µs   {http_rate:9.0f}/s   "
        f"p95 {http_p95:.2f} ms   = {http_ms / 1000 / raw_verify:.0f}x"
    )
    rebuild_ms, cached_ms = statistics.fmean(rebuilds) * 1000, statistics.fmean(cached) * 1000
    print("status list (131,072 entries):")
    print(f"  re-sign after change  {rebuild_ms * 1000:8.1f} µs   (query + bits + gzip + ES256)")
    print(f"  cached                {cached_ms * 1000:8.1f} µs   (query + digest)")
    print(f"  published size        {len(published.jws):8d} bytes")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--extracts", type=int, default=300)
    parser.add_argument(
        "--database-url",
        help="a postgresql+asyncpg:// server URL: the bench creates and drops its own database "
        "duo_bench_extracts there (default: a temporary SQLite file)",
    )
    args = parser.parse_args()
    # A scratch database of its own, dropped afterwards: never the tables a given URL names.
    database = (
        postgres_database(args.database_url, "duo_bench_extracts")
        if args.database_url
        else sqlite_database("duo-bench-extracts-")
    )
    try:
        asyncio.run(run(args.extracts, database.url))
    finally:
        database.drop()


if __name__ == "__main__":
    main()
