"""`duo-abroad check-config`: is this host ready to run DUO Abroad? Checked without starting it.

Settings that do not load at all are refused before this runs (exit 2, like every command);
here the loaded settings are checked against what production needs, and every dependency is
asked once: the database (reachable, migrated to the code's head), Redis, the key material and
the directories the processes write to.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from redis.asyncio import Redis
from sqlalchemy import make_url, text

from api.database import create_engine
from api.metrics import multiprocess_dir
from api.migrate import revisions
from api.settings import Settings, SettingsError
from extracts.keys import ring_from_config
from notifications.vapid import check_configuration

# A dependency that does not answer within this is reported as unreachable.
TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str


def _writable(directory: Path) -> str | None:
    """None when files can be created there; else why not."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory):
            pass
    except OSError as exc:
        return f"{directory}: {exc.strerror or exc}"
    return None


def configuration(settings: Settings) -> list[Check]:
    checks = [Check("settings", True, f"DUO_ENV={settings.environment}")]
    production = settings.is_production
    backend = make_url(settings.database_url).get_backend_name()
    if production and backend != "postgresql":
        checks.append(
            Check(
                "database url",
                False,
                "production runs on PostgreSQL (several processes, the shared job queue); "
                f"DATABASE_URL is {backend}",
            )
        )
    if settings.extract_signing_keys:
        try:
            ring = ring_from_config(settings.extract_signing_keys)
            checks.append(
                Check("extract keys", True, f"{len(ring.keys)} key(s), signing: {ring.signing_kid}")
            )
        except SettingsError as exc:
            checks.append(Check("extract keys", False, str(exc)))
    elif production:
        checks.append(Check("extract keys", False, "EXTRACT_SIGNING_KEYS (or _FILE) is not set"))
    try:
        check_configuration(settings)
        detail = "configured" if settings.vapid_private_key else "kept in the database (dev)"
        checks.append(Check("vapid key", True, detail))
    except (SettingsError, ValueError) as exc:
        checks.append(Check("vapid key", False, str(exc)))
    if production and not settings.redis_url:
        checks.append(
            Check(
                "redis url",
                False,
                "REDIS_URL is not set: each process would count rate limits on its own",
            )
        )
    for name, path in (
        ("attachments", settings.forms_attachment_dir),
        ("imports", settings.import_dir),
    ):
        problem = _writable(path)
        checks.append(Check(name, problem is None, problem or str(path)))
    directory = multiprocess_dir()
    if directory is not None:
        problem = _writable(Path(directory))
        checks.append(Check("metrics dir", problem is None, problem or directory))
    elif production:
        checks.append(
            Check(
                "metrics dir",
                False,
                "PROMETHEUS_MULTIPROC_DIR is not set: several processes would overwrite each "
                "other's figures",
            )
        )
    if settings.metrics_token is None:
        checks.append(Check("metrics", True, "off (METRICS_TOKEN unset: /metrics answers 404)"))
    return checks


async def dependencies(settings: Settings) -> list[Check]:
    checks: list[Check] = []
    engine = create_engine(settings.database_url)
    try:
        async with asyncio.timeout(TIMEOUT_SECONDS), engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
            current, heads = await revisions(connection)
        checks.append(Check("database", True, "reachable"))
        pending = current != heads
        detail = (
            f"at {', '.join(sorted(current)) or 'nothing'}, the code's head is "
            f"{', '.join(sorted(heads))}: run `duo-abroad migrate`"
            if pending
            else f"at head {', '.join(sorted(heads))}"
        )
        checks.append(Check("migrations", not pending, detail))
    except Exception as exc:
        checks.append(Check("database", False, f"unreachable: {type(exc).__name__}: {exc}"))
    finally:
        await engine.dispose()
    if settings.redis_url:
        redis = Redis.from_url(settings.redis_url, socket_timeout=TIMEOUT_SECONDS)
        try:
            async with asyncio.timeout(TIMEOUT_SECONDS):
                await redis.ping()
            checks.append(Check("redis", True, "reachable"))
        except Exception as exc:
            checks.append(Check("redis", False, f"unreachable: {type(exc).__name__}: {exc}"))
        finally:
            await redis.aclose()
    return checks


async def run_checks(settings: Settings) -> list[Check]:
    return [*configuration(settings), *await dependencies(settings)]


def report(checks: list[Check]) -> str:
    width = max(len(c.name) for c in checks)
    return os.linesep.join(
        f"{'ok  ' if c.ok else 'FAIL'}  {c.name:<{width}}  {c.detail}" for c in checks
    )
