"""Lighthouse (mobile) on the sign-in page and the signed-in dashboard: every category >= 95.

Not part of `make test`: Lighthouse is a large npm package that the suite does not need, and
its performance score moves with the machine's load (measured on this 2-core machine: 96 / 100 /
100 / 100 on both pages when idle; performance 46-87 while the test suite ran beside it). Run it
by hand, on a quiet machine, after a change to the PWA:

    .venv/bin/python scripts/lighthouse.py            # about a minute; fetches lighthouse once

It builds a scratch SQLite database with the demo data, serves the app on a free loopback port,
puts a session of the demo person into Lighthouse's requests (a Cookie header: Lighthouse signs
nobody in) and prints each category's score per page; exit status 1 if one is below the floor.
Chromium is Debian's /usr/bin/chromium, as in the browser tests.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

from api.database import create_engine, create_session_factory  # noqa: E402
from api.settings import load_settings  # noqa: E402
from auth.cookies import session_cookie_name  # noqa: E402
from auth.sessions import create_session  # noqa: E402
from records.demo import DEMO_CUSTOMER_NUMBER  # noqa: E402
from records.models import Person  # noqa: E402

LIGHTHOUSE = "lighthouse@12.8.2"
FLOOR = 95
CHROME_FLAGS = (
    "--headless=new --no-sandbox --disable-gpu --disable-quic --no-first-run "
    "--disable-background-networking --disable-component-update --disable-sync"
)
CLI = Path(sys.executable).parent / "duo-abroad"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def demo_session(url: str) -> str:
    engine = create_engine(url)
    try:
        async with create_session_factory(engine)() as db:
            person_id = await db.scalar(
                select(Person.id).where(Person.customer_number == DEMO_CUSTOMER_NUMBER)
            )
            if person_id is None:
                raise SystemExit("the demo person is missing: seed-demo did not run")
            issued = await create_session(
                db, person_id=person_id, absolute_timeout=timedelta(hours=1)
            )
            await db.commit()
            return issued.token
    finally:
        await engine.dispose()


def scores(url: str, report: Path, headers: dict[str, str]) -> dict[str, int]:
    command = ["npx", "--yes", LIGHTHOUSE, url, "--quiet", f"--chrome-flags={CHROME_FLAGS}"]
    command += ["--output=json", f"--output-path={report}"]
    if headers:
        command.append(f"--extra-headers={json.dumps(headers)}")
    env = {**os.environ, "CHROME_PATH": "/usr/bin/chromium"}
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)  # noqa: S603
    categories = json.loads(report.read_text())["categories"]
    return {name: round(c["score"] * 100) for name, c in categories.items()}


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="duo-lighthouse-"))
    port = free_port()
    origin = f"http://localhost:{port}"
    url = f"sqlite+aiosqlite:///{work / 'db.sqlite3'}"
    env = {**os.environ, "DATABASE_URL": url, "PUBLIC_ORIGIN": origin, "LOG_LEVEL": "WARNING"}
    for step in (["migrate"], ["seed-demo", "--persons", "3"]):
        subprocess.run([str(CLI), *step], check=True, env=env, stdout=subprocess.DEVNULL)  # noqa: S603
    token = asyncio.run(demo_session(url))
    cookie = session_cookie_name(load_settings(env))
    server = subprocess.Popen(  # noqa: S603
        [str(CLI), "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL
    )
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{origin}/health/live", timeout=1)  # noqa: S310
                break
            except OSError:
                time.sleep(0.2)
        pages = {"sign-in": {}, "dashboard": {"Cookie": f"{cookie}={token}"}}
        failed = False
        for name, headers in pages.items():
            found = scores(f"{origin}/", work / f"{name}.json", headers)
            low = {k: v for k, v in found.items() if v < FLOOR}
            failed |= bool(low)
            shown = ", ".join(f"{k} {v}" for k, v in found.items())
            print(f"{name:10} {shown}{'  BELOW ' + str(FLOOR) if low else ''}")
        return 1 if failed else 0
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    raise SystemExit(main())
