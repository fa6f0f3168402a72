"""Reminders end to end (issue #14): N persons whose reminder falls due, one device each, from due
to the last push accepted by a local push sink, with 1 and 2 workers on PostgreSQL, this code
against the code before #14 (a `git worktree` of --baseline, 59ca450 by default, run with the
same harness).

- Data (plain SQL, the same for both codes): N persons in three time zones, reminder preferences
  3 and 1 days before without quiet hours, a deadline due in 2 days 6-7 hours (its 3-day
  reminder is due now; the times spread over an hour) and one due in 40+ days (nothing due;
  for the code with a next-check column it waits for its first reminder, as after earlier
  ticks), one push subscription each at the sink.
- Workers: `duo-abroad worker` as its CLI builds it (PushRuntime, pgqueuer on PostgreSQL), one
  process each, started together once their imports are done; each starts with its first tick.
- Stages, timed inside each worker (busy time summed over its tasks, so the send stage, which
  runs several jobs at once, can add up to more than the wall time): plan = the scheduler's pages
  (reading, planning, writing reminders, inbox messages and deliveries), enqueue = writing
  `push.deliver` jobs, send = claiming, encrypting, posting and recording deliveries.
- Timeline, polled from outside: when every reminder is planned, the first push and the last
  one accepted by the sink (end to end), msg/s, and the linear extrapolation to 1,000,000.
- Exactly once: the sink must have accepted N pushes, no more, and N deliveries be delivered.
- CPU, read from /proc over the same window: the workers, PostgreSQL (all of it: the machine is
  shared) and the sink; with 2 workers the 2 cores are the limit, which bounds what a second
  worker can add on this machine.

The sink is bench/push_sink.py (answers 201 without decrypting, like a push service's edge). The
machine is shared: figures are noisy, run it twice before believing a difference under ~20%.

    .venv/bin/python bench/reminders.py --persons 20000
    .venv/bin/python bench/reminders.py --persons 50000 --variants new --workers 2
"""

# This script runs git, itself and the sink with fixed arguments, and its SQL carries only numbers
# and keys it made: the subprocess and SQL-string rules do not apply.
# ruff: noqa: S603, S607, S608

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SINK = ROOT / "bench" / "push_sink.py"
SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
MILLION = 1_000_000
# main just before issue #14's planning changes: the baseline, whatever main is now.
BEFORE_14 = "59ca450"


# --- the worker process (runs inside the code under test: cwd and PYTHONPATH are its tree) ----


async def _worker(database_url: str, cafile: str) -> None:
    import ssl

    import notifications.worker
    from api.database import create_engine, create_session_factory
    from api.settings import load_settings
    from notifications import scheduler
    from notifications.jobs import postgres_queuer
    from notifications.runtime import PushRuntime
    from notifications.worker import PushWorker

    # As `duo-abroad worker` does; the code before #14 has no such step.
    settle = getattr(notifications.worker, "settle_garbage_collector", None)

    settings = load_settings({**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "WARNING"})
    try:  # as `duo-abroad worker` does; the code before #14 has no such option
        engine = create_engine(settings.database_url, timeouts=settings, custom_plans=True)
    except TypeError:
        engine = create_engine(settings.database_url, timeouts=settings)
    factory = create_session_factory(engine)
    runtime = PushRuntime(settings, factory, ssl_context=ssl.create_default_context(cafile=cafile))
    sender = await runtime.sender()
    connect, queue = postgres_queuer(settings)
    worker = PushWorker(
        settings=settings, session_factory=factory, sender=sender, queue=queue, connect=connect
    )
    busy = {"plan": 0.0, "enqueue": 0.0, "send": 0.0}
    counts = {"pages": 0, "jobs": 0, "examined": 0, "posted": 0}

    scan_page = scheduler.scan_page

    async def timed_scan_page(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        page = await scan_page(*args, **kwargs)
        busy["plan"] += time.perf_counter() - started
        counts["pages"] += 1
        counts["examined"] += page.examined
        counts["posted"] += page.posted
        return page

    scheduler.scan_page = timed_scan_page
    enqueue = queue.enqueue

    async def timed_enqueue(jobs: Any, *, db: Any) -> None:
        started = time.perf_counter()
        await enqueue(jobs, db=db)
        busy["enqueue"] += time.perf_counter() - started
        counts["jobs"] += len(jobs)

    queue.enqueue = timed_enqueue  # type: ignore[method-assign]
    deliver = worker.deliver

    async def timed_deliver(ids: Any) -> None:
        started = time.perf_counter()
        await deliver(ids)
        busy["send"] += time.perf_counter() - started

    worker.deliver = timed_deliver  # type: ignore[method-assign]

    if settle is not None:
        settle()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, worker.stop)
    print("ready", flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)  # "go"
    cpu = time.process_time()
    try:
        await worker.run()
    finally:
        await runtime.close()
        await engine.dispose()
    print(json.dumps({**busy, **counts, "cpu": time.process_time() - cpu}), flush=True)


# --- the harness -----------------------------------------------------------------------------


@dataclass
class Result:
    variant: str
    workers: int
    persons: int
    planned: float = 0.0  # every reminder inserted
    first_push: float = 0.0
    end_to_end: float = 0.0
    accepted: int = 0
    delivered: int = 0
    stages: list[dict[str, float]] = field(default_factory=list)
    # CPU seconds from "go" to the last push accepted, read from /proc (Linux; None elsewhere).
    cpu: dict[str, float] | None = None

    @property
    def per_second(self) -> float:
        return self.persons / self.end_to_end

    def busy(self, stage: str) -> float:
        return sum(s.get(stage, 0.0) for s in self.stages)


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a running process, its reaped children included (Linux /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _postgres_cpu() -> float | None:
    """CPU of every PostgreSQL process on this machine, ended backends included (they are the
    postmaster's reaped children). Other databases' work counts too: the machine is shared."""
    proc = Path("/proc")
    if not proc.is_dir():
        return None
    total = 0.0
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if not (entry / "comm").read_text().startswith("postgres"):
                continue
        except OSError:
            continue
        total += _cpu_seconds(int(entry.name)) or 0.0
    return total


async def _admin(statements: list[str]) -> None:
    import asyncpg

    conn = await asyncpg.connect(host="127.0.0.1", user="postgres", database="postgres")
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def persons_sql(persons: int) -> list[str]:
    """N persons in three time zones and both languages, reminders 3 and 1 days before, no
    quiet hours (also bench/reminder_tick.py's). Only numbers made here go into the SQL."""
    kinds = '["application", "document", "income_statement", "payment"]'
    return [
        f"""INSERT INTO persons (id, customer_number, given_names, family_name, date_of_birth,
              country_of_residence, preferred_language, time_zone, created_at)
            SELECT gen_random_uuid(), 'R' || lpad(g::text, 9, '0'), 'Bench', 'Person ' || g,
              date '1995-01-01', 'NL', CASE WHEN g % 2 = 0 THEN 'en' ELSE 'nl' END,
              (ARRAY['Europe/Amsterdam', 'Asia/Jakarta', 'America/New_York'])[1 + g % 3], now()
            FROM generate_series(1, {persons}) g""",
        f"""INSERT INTO reminder_preferences (person_id, kinds, offsets_days, quiet_start,
              quiet_end, time_zone, language, updated_at)
            SELECT id, '{kinds}', '[3, 1]', NULL, NULL, NULL, NULL, now() FROM persons""",
    ]


def _seed_sql(persons: int, sink_port: int, p256dh: str, auth: str) -> list[str]:
    # Only numbers and base64url strings made here go into the SQL.
    return [
        *persons_sql(persons),
        """INSERT INTO deadlines (id, person_id, ref, kind, due_at, description, completed_at)
            SELECT gen_random_uuid(), id, 'due-soon', 'income_statement',
              now() + interval '2 days 6 hours' + random() * interval '1 hour',
              'Send proof of your income of last year.',
              NULL::timestamptz
            FROM persons
            UNION ALL
            SELECT gen_random_uuid(), id, 'payment', 'payment',
              now() + interval '40 days' + (random() * 30) * interval '1 day',
              'Pay the monthly amount.', NULL
            FROM persons""",
        f"""INSERT INTO push_subscriptions (id, person_id, endpoint, p256dh, auth, device_name,
              created_at, last_seen_at)
            SELECT gen_random_uuid(), id, 'https://127.0.0.1:{sink_port}/push/' || id::text,
              '{p256dh}', '{auth}', 'bench phone', now(), now()
            FROM persons""",
        # Steady state for the code that keeps a next-check time (#14): the far deadlines were
        # planned at earlier ticks and wait for their first reminder (a little early is harmless:
        # a look that finds nothing due sets the exact moment). The due ones keep the column's
        # default (look now). The code before #14 has no such column and scans everything.
        """DO $$ BEGIN
             IF EXISTS (SELECT FROM information_schema.columns
                        WHERE table_name = 'deadlines'
                          AND column_name = 'next_reminder_check_at') THEN
               UPDATE deadlines SET next_reminder_check_at = due_at - interval '4 days'
               WHERE ref = 'payment';
             END IF;
           END $$""",
        "ANALYZE",
    ]


def _device_keys() -> tuple[str, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from notifications.vapid import b64url

    point = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    return b64url(point), b64url(os.urandom(16))


async def _sink_count(port: int, context: Any) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
    try:
        writer.write(b"GET /count HTTP/1.1\r\nHost: sink\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        return int(await reader.readexactly(length))
    finally:
        writer.close()


def _run_one(
    *, tree: Path, variant: str, workers: int, persons: int, name: str, cert: Path
) -> Result:
    import ssl

    import asyncpg

    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    env = {**os.environ, "PYTHONPATH": str(tree), "DATABASE_URL": url, "LOG_LEVEL": "WARNING"}
    drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
    asyncio.run(_admin([drop, f'CREATE DATABASE "{name}"']))
    python = sys.executable
    subprocess.run(
        [python, "-c", "from api.cli import main; main()", "migrate"],
        cwd=tree,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    sink = subprocess.Popen(
        [python, str(SINK), "--cert", str(cert), "--key", str(cert.with_name("key.pem"))],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert sink.stdout is not None
    port = int(sink.stdout.readline().split()[1])
    context = ssl.create_default_context(cafile=str(cert))
    result = Result(variant, workers, persons)
    procs: list[subprocess.Popen[str]] = []
    try:
        p256dh, auth = _device_keys()

        async def seed() -> None:
            conn = await asyncpg.connect(host="127.0.0.1", user="postgres", database=name)
            try:
                for statement in _seed_sql(persons, port, p256dh, auth):
                    await conn.execute(statement)
            finally:
                await conn.close()

        asyncio.run(seed())
        for _ in range(workers):
            procs.append(
                subprocess.Popen(
                    # As a module from the tree's root: bench/ on sys.path would shadow forms/.
                    [
                        python,
                        "-m",
                        "bench.reminders",
                        "--role",
                        "worker",
                        "--database-url",
                        url,
                        "--cafile",
                        str(cert),
                    ],
                    cwd=tree,
                    env=env,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )
        for proc in procs:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if line.strip() != "ready":
                raise RuntimeError(f"worker did not start: {line!r}")

        def cpu_now() -> dict[str, float] | None:
            workers_cpu = [_cpu_seconds(p.pid) for p in procs]
            sink_cpu, postgres_cpu = _cpu_seconds(sink.pid), _postgres_cpu()
            if None in workers_cpu or sink_cpu is None or postgres_cpu is None:
                return None
            return {
                "workers": sum(c for c in workers_cpu if c is not None),
                "postgres": postgres_cpu,
                "sink": sink_cpu,
            }

        async def watch() -> None:
            conn = await asyncpg.connect(host="127.0.0.1", user="postgres", database=name)
            cpu_at_go = cpu_now()
            started = time.perf_counter()
            for proc in procs:
                assert proc.stdin is not None
                proc.stdin.write("go\n")
                proc.stdin.flush()
            try:
                while True:
                    await asyncio.sleep(0.2)
                    now = time.perf_counter() - started
                    if not result.planned:
                        planned = await conn.fetchval("SELECT count(*) FROM push_reminders")
                        if planned >= persons:
                            result.planned = now
                    accepted = await _sink_count(port, context)
                    if accepted and not result.first_push:
                        result.first_push = now
                    if accepted >= persons:
                        result.end_to_end = now
                        result.accepted = accepted
                        cpu_at_end = cpu_now()
                        if cpu_at_go is not None and cpu_at_end is not None:
                            result.cpu = {k: cpu_at_end[k] - cpu_at_go[k] for k in cpu_at_go}
                        break
                    if now > 3600:
                        raise RuntimeError(f"not done after an hour: {accepted} accepted")
                    if any(p.poll() is not None for p in procs):
                        raise RuntimeError("a worker ended early")
                await asyncio.sleep(1.0)  # anything sent twice would arrive now
                result.accepted = await _sink_count(port, context)
                result.delivered = await conn.fetchval(
                    "SELECT count(*) FROM push_deliveries WHERE status = 'delivered'"
                )
            finally:
                await conn.close()

        asyncio.run(watch())
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            out, _ = proc.communicate(timeout=60)
            result.stages.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        sink.terminate()
        sink.wait()
        asyncio.run(_admin([drop]))
    return result


def _report(results: list[Result]) -> None:
    print()
    print(
        f"{'code':<9}{'workers':>8}{'planned':>9}{'1st push':>9}{'end-to-end':>11}{'msg/s':>8}"
        f"{'1M est.':>9}  busy s: plan / enqueue / send (share)   exactly once"
    )
    for r in results:
        plan, enqueue, send = r.busy("plan"), r.busy("enqueue"), r.busy("send")
        total = plan + enqueue + send or 1.0
        once = "yes" if r.accepted == r.persons == r.delivered else "NO"
        million = MILLION / r.per_second / 60
        print(
            f"{r.variant:<9}{r.workers:>8}{r.planned:>8.1f}s{r.first_push:>8.1f}s"
            f"{r.end_to_end:>10.1f}s{r.per_second:>8.0f}{million:>7.1f}min  "
            f"{plan:.1f} / {enqueue:.1f} / {send:.1f} ({plan / total:.0%} / "
            f"{enqueue / total:.0%} / {send / total:.0%})   {once} "
            f"({r.accepted} accepted, {r.delivered} delivered)"
        )
    print()
    print("CPU from the start to the last push accepted (2 cores = 2 s per second of wall):")
    for r in results:
        if r.cpu is None:
            continue
        total = sum(r.cpu.values())
        print(
            f"  {r.variant}, {r.workers} worker(s): workers {r.cpu['workers']:.1f} s, "
            f"PostgreSQL {r.cpu['postgres']:.1f} s, sink {r.cpu['sink']:.1f} s = {total:.1f} s "
            f"in {r.end_to_end:.1f} s ({total / r.end_to_end:.2f} cores busy); per message: "
            f"workers {r.cpu['workers'] / r.persons * 1e6:.0f} µs, PostgreSQL "
            f"{r.cpu['postgres'] / r.persons * 1e6:.0f} µs"
        )
    by = {(r.variant, r.workers): r for r in results}
    for workers in sorted({r.workers for r in results}):
        if ("baseline", workers) in by and ("new", workers) in by:
            ratio = by[("baseline", workers)].end_to_end / by[("new", workers)].end_to_end
            print(f"{workers} worker(s): new is {ratio:.1f}x the baseline end to end")
    for variant in ("baseline", "new"):
        if (variant, 1) in by and (variant, 2) in by:
            ratio = by[(variant, 1)].end_to_end / by[(variant, 2)].end_to_end
            print(f"{variant}: a second worker makes it {ratio:.2f}x as fast")
    print(
        "1M est. = linear extrapolation of end-to-end msg/s; the machine is shared (2 cores), "
        "so figures are noisy."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--role", choices=["harness", "worker"], default="harness")
    parser.add_argument("--database-url")
    parser.add_argument("--cafile")
    parser.add_argument("--persons", type=int, default=20_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--variants", nargs="+", default=["baseline", "new"])
    parser.add_argument(
        "--baseline",
        default=BEFORE_14,
        help="git revision measured as the baseline (default: main before issue #14)",
    )
    parser.add_argument(
        "--database-prefix",
        default="duo_bench_reminders",
        help="scratch databases are created (and dropped) as PREFIX_<code>_<workers>",
    )
    args = parser.parse_args()
    if not re.fullmatch(r"[a-z][a-z0-9_]*bench[a-z0-9_]*", args.database_prefix):
        raise SystemExit("--database-prefix: lower case, digits, _ and containing 'bench'")
    if args.role == "worker":
        try:
            import uvloop
        except ImportError:
            asyncio.run(_worker(args.database_url, args.cafile))
        else:
            uvloop.run(_worker(args.database_url, args.cafile))
        return

    sys.path.insert(0, str(ROOT))
    from tests.certificates import self_signed

    temp = Path(tempfile.mkdtemp(prefix="duo-bench-reminders-"))
    trees = {"new": ROOT}
    try:
        if "baseline" in args.variants:
            base = temp / "baseline"
            subprocess.run(
                ["git", "worktree", "add", "--detach", str(base), args.baseline],
                cwd=ROOT,
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            # The harness itself is the same file in both runs.
            shutil.copy(Path(__file__), base / "bench" / "reminders.py")
            trees["baseline"] = base
        cert, _ = self_signed(temp)
        revision = subprocess.run(
            ["git", "rev-parse", "--short", args.baseline],
            cwd=ROOT,
            text=True,
            capture_output=True,
            check=False,
        ).stdout.strip()
        print(
            f"{args.persons} persons due, one device each; baseline = {args.baseline} "
            f"({revision}); PostgreSQL; workers {args.workers}"
        )
        results = []
        for workers in args.workers:
            for variant in args.variants:
                name = f"{args.database_prefix}_{variant}_{workers}"
                r = _run_one(
                    tree=trees[variant],
                    variant=variant,
                    workers=workers,
                    persons=args.persons,
                    name=name,
                    cert=cert,
                )
                print(
                    f"  {variant}, {workers} worker(s): {r.end_to_end:.1f} s end to end "
                    f"(planned at {r.planned:.1f} s)",
                    flush=True,
                )
                results.append(r)
        _report(results)
    finally:
        if "baseline" in trees:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(trees["baseline"])],
                cwd=ROOT,
                check=False,
            )
        shutil.rmtree(temp, ignore_errors=True)


if __name__ == "__main__":
    main()
