"""Scratch databases for benchmarks: a temporary SQLite file, or a dedicated PostgreSQL database.

A benchmark only ever creates and drops databases named duo_bench*, through the server's
maintenance database: never the tables of whatever database a URL names.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from sqlalchemy import make_url

LOOPBACK = "127.0.0.1"
BENCH_DATABASE = re.compile(r"^duo_bench[a-z0-9_]*$")


@dataclass(frozen=True)
class ScratchDatabase:
    url: str
    description: str
    drop: Callable[[], None]


def sqlite_database(prefix: str = "duo-bench-") -> ScratchDatabase:
    directory = Path(tempfile.mkdtemp(prefix=prefix))
    return ScratchDatabase(
        url=f"sqlite+aiosqlite:///{directory / 'bench.sqlite3'}",
        description=f"SQLite, temporary file in {directory}",
        drop=lambda: shutil.rmtree(directory, ignore_errors=True),
    )


def postgres_database(server_url: str, name: str) -> ScratchDatabase:
    """Create (or recreate) the dedicated database `name` on the server of `server_url`."""
    if not BENCH_DATABASE.match(name):
        raise SystemExit(f"refusing database {name!r}: the bench only creates/drops duo_bench*")
    url = make_url(server_url)
    if url.drivername != "postgresql+asyncpg":
        raise SystemExit("--database-url must be postgresql+asyncpg://... (or omit it for SQLite)")

    async def admin(statements: Sequence[str]) -> None:
        conn = await asyncpg.connect(
            host=url.host or LOOPBACK,
            port=url.port or 5432,
            user=url.username,
            password=url.password,
            database="postgres",
        )
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    drop_sql = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
    asyncio.run(admin([drop_sql, f'CREATE DATABASE "{name}"']))
    return ScratchDatabase(
        url=url.set(database=name).render_as_string(hide_password=False),
        description=f"PostgreSQL, database {name} on {url.host}:{url.port or 5432} (dropped after)",
        drop=lambda: asyncio.run(admin([drop_sql])),
    )
