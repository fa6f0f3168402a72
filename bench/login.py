"""Passkey login ceremonies per second, server side, and where the time goes.

A login ceremony is what the server does for one sign-in: create options (challenge row),
then verify the assertion (challenge lookup and deletion, passkey lookup, signature check,
counter update, new session, audit event), each in its own transaction, as over HTTP.
The assertions are made beforehand by a software authenticator, so its cost is not counted.

Printed, from the same run:
  - ceremonies/s and ms per ceremony (options + verify);
  - the cost of py_webauthn's verify_authentication_response alone (crypto and parsing);
  - the floor: one raw ECDSA P-256 signature verification with `cryptography`.

Usage: .venv/bin/python bench/login.py [--ceremonies 500] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select
from webauthn import verify_authentication_response

from api.database import create_engine, create_session_factory
from api.logging import configure_logging
from api.migrate import upgrade_connection
from api.settings import Settings
from auth import ceremonies
from auth.activation import issue_code
from auth.audit import RequestMeta
from auth.models import Passkey
from auth.ratelimit import MemoryRateLimiter
from bench.scratch import postgres_database, sqlite_database
from records.demo import DEMO_CUSTOMER_NUMBER, DEMO_DATE_OF_BIRTH, seed_demo
from tests.webauthn_soft import SoftAuthenticator, b64url_decode

META = RequestMeta(ip_address="127.0.0.1", user_agent="bench")


class NoLimit(MemoryRateLimiter):
    """The benchmark measures ceremonies, not the rate limiter refusing them."""

    async def hit(self, limit: Any, key: str) -> int | None:
        return None


async def run(ceremony_count: int, database_url: str) -> None:
    settings = Settings(environment="test", database_url=database_url, log_level="WARNING")
    configure_logging(settings)
    engine = create_engine(database_url)
    async with engine.begin() as conn:
        await upgrade_connection(conn)
    factory = create_session_factory(engine)
    limiter = NoLimit()
    authenticator = SoftAuthenticator(counter_step=1)

    async with factory() as db:
        await seed_demo(db, persons=1, today=date(2026, 11, 28))
        issued = await issue_code(
            db,
            secret_key=settings.secret_key,
            customer_number=DEMO_CUSTOMER_NUMBER,
            issued_by="bench",
        )
        await db.commit()
        started = await ceremonies.start_activation(
            db,
            settings=settings,
            limiter=limiter,
            code=issued.code,
            date_of_birth=DEMO_DATE_OF_BIRTH,
            meta=META,
        )
        await db.commit()
        credential = authenticator.create(started.options_json, origin=settings.public_origin)
        await ceremonies.finish_registration(
            db,
            settings=settings,
            payload=credential,
            binding=started.binding,
            principal=None,
            previous_session_token=None,
            meta=META,
        )
        await db.commit()

    async def ceremony() -> tuple[float, float, dict[str, Any], bytes]:
        t0 = time.perf_counter()
        async with factory() as db:
            begun = await ceremonies.start_login(db, settings=settings, limiter=limiter, meta=META)
            await db.commit()
        t1 = time.perf_counter()
        assertion = authenticator.get(begun.options_json, origin=settings.public_origin)
        t2 = time.perf_counter()
        async with factory() as db:
            await ceremonies.finish_login(
                db,
                settings=settings,
                limiter=limiter,
                payload=assertion,
                binding=begun.binding,
                previous_session_token=None,
                meta=META,
            )
            await db.commit()
        t3 = time.perf_counter()
        challenge = json.loads(begun.options_json)["challenge"]
        return (t1 - t0) + (t3 - t2), t2 - t1, assertion, b64url_decode(challenge)

    for _ in range(20):  # warm-up: connections, statement caches
        await ceremony()
    server_times: list[float] = []
    samples: list[tuple[dict[str, Any], bytes]] = []
    for _ in range(ceremony_count):
        server, _client, assertion, challenge = await ceremony()
        server_times.append(server)
        samples.append((assertion, challenge))

    async with factory() as db:
        passkey = (await db.scalars(select(Passkey))).one()
    # py_webauthn's verification alone, on the same assertions (counter check disabled by
    # passing 0 as the stored count; every sample is a valid, distinct assertion).
    t0 = time.perf_counter()
    for assertion, challenge in samples:
        verify_authentication_response(
            credential=assertion,
            expected_challenge=challenge,
            expected_rp_id=settings.rp_id,
            expected_origin=settings.public_origin,
            credential_public_key=passkey.public_key,
            credential_current_sign_count=0,
            require_user_verification=True,
        )
    verify_ms = (time.perf_counter() - t0) / len(samples) * 1000

    key = ec.generate_private_key(ec.SECP256R1())
    message = b"x" * 100
    signature = key.sign(message, ec.ECDSA(hashes.SHA256()))
    public = key.public_key()
    rounds = 2000
    t0 = time.perf_counter()
    for _ in range(rounds):
        public.verify(signature, message, ec.ECDSA(hashes.SHA256()))
    ecdsa_ms = (time.perf_counter() - t0) / rounds * 1000
    await engine.dispose()

    total_ms = statistics.fmean(server_times) * 1000
    p95_ms = statistics.quantiles(server_times, n=20)[-1] * 1000
    print(f"database: {database_url.split('@')[-1]}")
    print(f"login ceremonies (options + verify, server side): {ceremony_count}")
    print(f"  throughput          {1000 / total_ms:8.0f} ceremonies/s (one at a time, one core)")
    print(f"  per ceremony        {total_ms:8.2f} ms mean, {p95_ms:.2f} ms p95")
    print(f"  py_webauthn verify  {verify_ms:8.3f} ms ({verify_ms / total_ms:.0%} of a ceremony)")
    print(f"  raw ECDSA verify    {ecdsa_ms:8.3f} ms (floor: the signature check alone)")
    rest = total_ms - verify_ms
    print(f"  everything else     {rest:8.2f} ms (2 transactions, 7-8 SQL statements, JSON)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ceremonies", type=int, default=500)
    parser.add_argument(
        "--database-url",
        help="a postgresql+asyncpg:// server URL: the bench creates and drops its own database "
        "duo_bench_login there (default: a temporary SQLite file)",
    )
    args = parser.parse_args()
    # A scratch database of its own, dropped afterwards: never the tables a given URL names.
    database = (
        postgres_database(args.database_url, "duo_bench_login")
        if args.database_url
        else sqlite_database("duo-bench-login-")
    )
    try:
        asyncio.run(run(args.ceremonies, database.url))
    finally:
        database.drop()


if __name__ == "__main__":
    main()
