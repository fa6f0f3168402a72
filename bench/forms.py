"""Syncing an outbox: 100 queued submissions as one batch versus 100 single requests, over HTTP.

Builds its own database (a dedicated PostgreSQL database that it creates and drops, or a
temporary SQLite file with --sqlite), signs a person in, starts the real app with uvicorn
(one worker, loopback only) and sends persisted GraphQL documents like the PWA does.
Printed, from the same run:
  - 100 single `SubmitForm` requests one after another (the outbox replayed entry by entry)
    against one `SubmitForms` batch of the same 100 entries: time, submissions/s, the ratio;
  - the same batch replayed (every entry already stored): what a retry after a lost answer
    costs;
  - submissions/s with several clients at once (singles and batches), on PostgreSQL;
  - a check that every submission was stored exactly once.

    .venv/bin/python bench/forms.py                       # PostgreSQL on 127.0.0.1:5432
    .venv/bin/python bench/forms.py --sqlite
    .venv/bin/python bench/forms.py --database-url postgresql+asyncpg://postgres@host:5432/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from litestar import Litestar
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.app import create_app
from api.database import create_engine, create_session_factory, utcnow
from api.migrate import upgrade_connection
from api.persisted import OPERATIONS_DIR
from api.settings import PROJECT_ROOT, Settings
from auth.sessions import create_session
from bench.scratch import postgres_database, sqlite_database
from forms.models import FormSubmission
from tests.support import add_person

LOOPBACK = "127.0.0.1"
BENCH_DATABASE = "duo_bench_forms"
QUESTION = {"topic": "repayment", "subject": "Monthly amount", "question": "Why did it change?"}
ADDRESS = {
    "addressLine1": "Jalan Merdeka 12",
    "city": "Jakarta",
    "country": "ID",
    "movedOn": "2026-10-01",
}


def server_app() -> Litestar:
    """The real application, as uvicorn's factory (`bench.forms:server_app`)."""
    settings = Settings(
        environment="test",
        database_url=os.environ["BENCH_DATABASE_URL"],
        forms_attachment_dir=Path(os.environ["BENCH_ATTACHMENT_DIR"]),
        log_level="WARNING",
        log_json=True,
    )
    return create_app(settings)


# --- database and server ---------------------------------------------------------------------


async def prepare(database_url: str, people: int) -> list[str]:
    """Migrate, add people, and sign each in; their session tokens."""
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await upgrade_connection(conn)
        tokens = []
        async with create_session_factory(engine)() as db:
            for _ in range(people):
                bundle = await add_person(db)
                # Dated ahead, so that no request in the run refreshes last_seen_at.
                issued = await create_session(
                    db,
                    person_id=bundle.person["id"],
                    absolute_timeout=timedelta(hours=12),
                    now=utcnow() + timedelta(hours=1),
                )
                tokens.append(issued.token)
            await db.commit()
        return tokens
    finally:
        await engine.dispose()


async def stored(database_url: str) -> int:
    engine = create_engine(database_url)
    try:
        async with create_session_factory(engine)() as db:
            return int(await db.scalar(select(func.count()).select_from(FormSubmission)) or 0)
    finally:
        await engine.dispose()


def start_server(
    database_url: str, attachments: Path, log: Path
) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "BENCH_DATABASE_URL": database_url,
        "BENCH_ATTACHMENT_DIR": str(attachments),
    }
    command = [sys.executable, "-m", "uvicorn", "bench.forms:server_app", "--factory"]
    command += ["--app-dir", str(PROJECT_ROOT), "--host", LOOPBACK, "--port", str(port)]
    command += ["--workers", "1", "--log-level", "warning", "--no-access-log"]
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            command, cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    return process, f"http://{LOOPBACK}:{port}"


async def wait_until_up(base: str) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(100):
            try:
                if (await client.get(f"{base}/health/ready")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit("the server did not start")


# --- the client ------------------------------------------------------------------------------


def persisted(name: str) -> dict[str, Any]:
    text = (OPERATIONS_DIR / f"{name}.graphql").read_text(encoding="utf-8")
    digest = hashlib.sha256(text.encode()).hexdigest()
    return {"persistedQuery": {"version": 1, "sha256Hash": digest}}


SUBMIT_FORM = persisted("SubmitForm")
SUBMIT_FORMS = persisted("SubmitForms")


def entries(count: int) -> list[dict[str, Any]]:
    forms = [("general-question", 1, QUESTION), ("change-of-address", 2, ADDRESS)]
    return [
        {
            "clientId": str(uuid.uuid4()),
            "formId": forms[i % 2][0],
            "formVersion": forms[i % 2][1],
            "content": {**forms[i % 2][2]},
        }
        for i in range(count)
    ]


def client(base: str, token: str) -> httpx.AsyncClient:
    # One keep-alive connection per client, like a browser tab's.
    return httpx.AsyncClient(
        base_url=base,
        cookies={"duo_session": token},
        timeout=60,
        limits=httpx.Limits(max_connections=1),
    )


async def send_single(http: httpx.AsyncClient, item: dict[str, Any]) -> None:
    response = await http.post(
        "/graphql", json={"variables": {"input": item}, "extensions": SUBMIT_FORM}
    )
    body = response.json()
    assert body.get("data"), body
    result = body["data"]["submitForm"]
    assert result["status"] == "ACCEPTED", result


async def send_batch(http: httpx.AsyncClient, items: list[dict[str, Any]]) -> None:
    response = await http.post(
        "/graphql", json={"variables": {"inputs": items}, "extensions": SUBMIT_FORMS}
    )
    body = response.json()
    assert body.get("data"), body
    results = body["data"]["submitForms"]
    assert [r["status"] for r in results] == ["ACCEPTED"] * len(items), results


async def timed(work: Callable[[], Any]) -> float:
    started = time.perf_counter()
    await work()
    return time.perf_counter() - started


async def measure(base: str, tokens: list[str], size: int, rounds: int, seconds: float) -> int:
    sent = 0
    async with client(base, tokens[0]) as http:
        for item in entries(20):  # warm-up: connections, caches, the issuer key
            await send_single(http, item)
        await send_batch(http, entries(size))
        sent += 20 + size
        singles, batches, replays = [], [], []
        for _ in range(rounds):
            queue = entries(size)

            async def one_by_one(queue: list[dict[str, Any]] = queue) -> None:
                for item in queue:
                    await send_single(http, item)

            singles.append(await timed(one_by_one))
            queue = entries(size)
            batches.append(await timed(partial(send_batch, http, queue)))
            replays.append(await timed(partial(send_batch, http, queue)))
            sent += 2 * size

    single_s, batch_s, replay_s = (statistics.median(x) for x in (singles, batches, replays))
    print(f"\nsyncing {size} queued submissions, one client, median of {rounds} rounds:")
    rate = "submissions/s"
    print(f"  {size} single requests {single_s * 1000:8.0f} ms {size / single_s:7.0f} {rate}")
    print(f"  one batch of {size}    {batch_s * 1000:8.0f} ms {size / batch_s:7.0f} {rate}")
    print(f"  the batch replayed    {replay_s * 1000:8.0f} ms  (all {size} already stored)")
    per_single, per_batch = single_s / size * 1000, batch_s / size * 1000
    print(
        f"  ratio: the batch is {single_s / batch_s:.1f}x faster "
        f"({per_single:.2f} vs {per_batch:.2f} ms per submission)"
    )

    print(f"\nthroughput, {seconds:.0f} s each:")
    for label, batch in (("single requests", 1), ("batches of 20", 20)):
        counts = [0] * len(tokens)

        async def worker(n: int, batch: int = batch, counts: list[int] = counts) -> None:
            async with client(base, tokens[n]) as http:
                deadline = time.perf_counter() + seconds
                while time.perf_counter() < deadline:
                    if batch == 1:
                        await send_single(http, entries(1)[0])
                    else:
                        await send_batch(http, entries(batch))
                    counts[n] += batch

        elapsed = await timed(lambda: asyncio.gather(*(worker(n) for n in range(len(tokens)))))
        total = sum(counts)
        sent += total
        print(
            f"  {len(tokens)} clients, {label:16} {total / elapsed:7.0f} submissions/s "
            f"({total} in {elapsed:.1f} s)"
        )
    return sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url", default=f"postgresql+asyncpg://postgres@{LOOPBACK}:5432/postgres"
    )
    parser.add_argument("--sqlite", action="store_true", help="a temporary SQLite file instead")
    parser.add_argument("--size", type=int, default=100, help="queued submissions (max 100)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--clients", type=int, default=8, help="for the throughput part")
    parser.add_argument("--seconds", type=float, default=5.0, help="for the throughput part")
    args = parser.parse_args()
    database = (
        sqlite_database("duo-bench-forms-")
        if args.sqlite
        else postgres_database(args.database_url, BENCH_DATABASE)
    )
    work = Path(tempfile.mkdtemp(prefix="duo-bench-forms-"))
    process = None
    try:
        tokens = asyncio.run(prepare(database.url, args.clients))
        process, base = start_server(database.url, work / "attachments", work / "server.log")
        asyncio.run(wait_until_up(base))
        print(f"database: {database.description}; server: uvicorn, 1 worker, {base}")
        sent = asyncio.run(measure(base, tokens, args.size, args.rounds, args.seconds))
        rows = asyncio.run(stored(database.url))
        verdict = "exactly once" if rows == sent else f"MISMATCH: {sent} sent"
        print(f"\nstored rows: {rows} ({verdict}; replays stored nothing)")
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=10)
        database.drop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
