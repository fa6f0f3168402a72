"""A worker killed mid-batch (issue #12), with the default settings: two `duo-abroad worker`
processes deliver 1,000 due reminders to the real push receiver (npm web-push-testing, which
decrypts each message as a browser would); one is killed with SIGKILL while it holds a batch.

Baseline in the same run: the same 1,000 reminders with nobody killed. Printed: how long each
took, what the dead worker held and had sent without a recorded answer ("in flight"), how many
messages arrived twice (must not exceed in flight) or never (must be 0), and how long after the
kill the last one was delivered (PUSH_LEASE_SECONDS bounds the takeover; target: 2 minutes).

    .venv/bin/python bench/worker_crash.py                 # about 2 minutes
    .venv/bin/python bench/worker_crash.py --lease 10      # PUSH_LEASE_SECONDS for both workers
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script

from sqlalchemy.ext.asyncio import async_sessionmaker

from api.database import create_engine
from api.migrate import upgrade
from bench.scratch import LOOPBACK, postgres_database
from notifications.models import DeliveryStatus
from notifications.vapid import b64url, generate_keys
from tests.faults.support import (
    Processes,
    post_due_reminders,
    received,
    seed,
    statuses,
    subscribe_all,
    unrecorded_of,
    wait_for,
)
from tests.notifications.support import Committed, free_port

RECEIVER = (
    Path(__file__).resolve().parent.parent / "node_modules/web-push-testing/src/bin/server.js"
)
BENCH_DATABASE = "duo_bench_worker_crash"


@contextmanager
def receiver() -> Iterator[str]:
    port = free_port()
    node = shutil.which("node")
    if node is None or not RECEIVER.exists():
        raise SystemExit("needs node and `npm ci` (web-push-testing)")
    process = subprocess.Popen(  # noqa: S603 - our pinned test helper, fixed arguments
        [node, str(RECEIVER), str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://localhost:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.post(f"{base}/status", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


async def one_round(
    url: str, base: str, people: int, env: dict[str, str], logs: Path, *, kill: bool
) -> None:
    engine = create_engine(url)
    committed = Committed(async_sessionmaker(engine, expire_on_commit=False))
    processes = Processes()
    keys = generate_keys()
    scalar = keys.private_key.private_numbers().private_value.to_bytes(32, "big")
    worker_env = {
        **env,
        "DATABASE_URL": url,
        "VAPID_PRIVATE_KEY": b64url(scalar),
        "VAPID_SUBJECT": "mailto:bench@localhost",
        "DUO_ENV": "test",
        "LOG_JSON": "1",
    }
    label = "kill -9 mid-batch" if kill else "no kill (baseline)"
    try:
        workers = [processes.worker(worker_env, logs / f"{label[:4]}-{n}.log") for n in (1, 2)]
        devices = await subscribe_all(base, keys, people)
        by_endpoint = {d["endpoint"]: d["hash"] for d in devices}
        await seed(committed, devices)
        doomed = workers[0].worker_id()
        workers[1].worker_id()
        started = time.monotonic()
        await post_due_reminders(committed)
        held: list[str] = []
        in_flight = 0
        killed_at = started
        if kill:
            while True:
                delivered = (await statuses(committed))[DeliveryStatus.DELIVERED]
                held = await unrecorded_of(committed, doomed)
                if delivered >= people // 10 and len(held) >= 32:
                    break
                await asyncio.sleep(0.02)
            workers[0].process.kill()
            killed_at = time.monotonic()
            await asyncio.sleep(0.5)
            held = await unrecorded_of(committed, doomed)
            before = await received(base, [by_endpoint[e] for e in held])
            in_flight = sum(1 for n in before.values() if n > 0)

        async def all_delivered() -> bool:
            return (await statuses(committed))[DeliveryStatus.DELIVERED] == people

        await wait_for(all_delivered, within=600, what="every reminder delivered")
        finished = time.monotonic()
    finally:
        processes.kill_all()
    counts = await received(base, list(by_endpoint.values()))
    lost = sum(1 for n in counts.values() if n == 0)
    duplicates = sum(n - 1 for n in counts.values() if n > 1)
    await engine.dispose()
    print(f"{label:20} all {people} delivered in {finished - started:5.1f} s; lost {lost}, "
          f"twice {duplicates}", end="")  # fmt: skip
    if kill:
        print(
            f"; the dead worker held {len(held)} unrecorded, {in_flight} of them sent;"
            f" last delivered {finished - killed_at:.1f} s after the kill"
        )
    else:
        print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url", default=f"postgresql+asyncpg://postgres@{LOOPBACK}:5432/postgres"
    )
    parser.add_argument("--people", type=int, default=1000)
    parser.add_argument("--lease", type=float, help="PUSH_LEASE_SECONDS (default: the app's)")
    args = parser.parse_args()
    env = {"PUSH_LEASE_SECONDS": str(args.lease)} if args.lease else {}
    database = postgres_database(args.database_url, BENCH_DATABASE)
    logs = Path(tempfile.mkdtemp(prefix="duo-bench-crash-"))
    try:
        upgrade(database.url)
        print(f"database: {database.description}; 2 workers, default settings {env or ''}")
        with receiver() as base:
            asyncio.run(one_round(database.url, base, args.people, env, logs, kill=False))
            asyncio.run(one_round(database.url, base, args.people, env, logs, kill=True))
    finally:
        database.drop()
        shutil.rmtree(logs, ignore_errors=True)


if __name__ == "__main__":
    main()
