"""`duo-abroad worker` and `duo-abroad push …` as an operator runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from api.settings import PROJECT_ROOT
from notifications.vapid import parse_private_key


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own module, fixed arguments
        [sys.executable, "-m", "api.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=PROJECT_ROOT,
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LOG_LEVEL": "WARNING",
            **(env or {}),
        },
    )


@pytest.mark.parametrize("args", [["worker"], ["push"], ["push", "vapid-keys"], ["push", "stats"]])
def test_help(args: list[str]) -> None:
    result = cli(*args, "--help")
    assert result.returncode == 0, result.stderr
    assert "usage: duo-abroad" in result.stdout


def test_vapid_keys_prints_a_usable_configuration() -> None:
    result = cli("push", "vapid-keys")
    assert result.returncode == 0, result.stderr
    lines = dict(
        line.split("=", 1) for line in result.stdout.splitlines() if not line.startswith("#")
    )
    keys = parse_private_key(lines["VAPID_PRIVATE_KEY"])
    assert keys.public_key in result.stdout


def test_worker_refuses_production_without_a_vapid_key(tmp_path: Path) -> None:
    result = cli(
        "worker",
        env={
            "DUO_ENV": "production",
            "SECRET_KEY": "Zq3vN8tWc1Lr6Yx0Pk9Hs2Jd5Fg7Bm4Ve-Ua_Tb8Rn1",
            "PUBLIC_ORIGIN": "https://abroad.duo.example",
            # Refused before any connection is made.
            "DATABASE_URL": "postgresql+asyncpg://duo@127.0.0.1:1/duo",
        },
    )
    assert result.returncode == 2
    assert "VAPID_PRIVATE_KEY" in result.stderr
    assert "Traceback" not in result.stderr


def test_worker_drains_and_stats_report(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite3'}", "DUO_ENV": "test"}
    assert cli("migrate", env=env).returncode == 0
    worker = cli("worker", "--drain", env={**env, "LOG_LEVEL": "INFO"})
    assert worker.returncode == 0, worker.stderr
    assert "push.worker_stopped" in worker.stderr  # a log line (JSON with LOG_JSON)
    stats = cli("push", "stats", env=env)
    assert stats.returncode == 0, stats.stderr
    assert "reminders: 0  devices: 0" in stats.stdout
