"""What an operator's log shipper reads: with LOG_JSON on, every line a process writes is one
JSON object (requests, SQL, startup refusals, crashes), and the access line says who asked."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

CLI = Path(sys.executable).parent / "duo-abroad"
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DUO_ENV": "test",
        "LOG_JSON": "1",
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'logs.sqlite3'}",
        "FORMS_ATTACHMENT_DIR": str(tmp_path / "attachments"),
        **extra,
    }


def _json_lines(text: str) -> list[dict[str, Any]]:
    lines = [line for line in text.splitlines() if line.strip()]
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except json.JSONDecodeError:
            pytest.fail(f"a log line that is not JSON: {line!r}\nall:\n{text}")
    return parsed


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """`duo-abroad serve --port N` with LOG_JSON and SQL_ECHO, on a migrated SQLite file."""
    env = _env(tmp_path, SQL_ECHO="1")
    subprocess.run([str(CLI), "migrate"], env=env, check=True, capture_output=True, timeout=120)  # noqa: S603
    port = _free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - our own console script
            [str(CLI), "serve", "--port", str(port)], env=env, stdout=out, stderr=out
        )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()
            try:
                httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        yield port, log
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_serve_writes_only_json_with_the_bound_port_and_each_statement_once(
    served: tuple[int, Path],
) -> None:
    port, log = served
    response = httpx.get(
        f"http://127.0.0.1:{port}/health/ready", headers={"user-agent": FIREFOX}, timeout=10
    )
    assert response.status_code == 200
    time.sleep(0.5)  # the access line is written after the answer
    lines = _json_lines(log.read_text())
    starting = next(line for line in lines if line["event"] == "serve.starting")
    assert starting["listen"] == f"http://127.0.0.1:{port}"
    access = [line for line in lines if line["event"] == "http.request"]
    ready = next(line for line in access if line["path"] == "/health/ready")
    assert ready["status"] == 200
    assert ready["ua"] == "Firefox"
    # The readiness probe reads the migration version once: SQL_ECHO logs it once, not twice.
    probe = "SELECT version_num FROM alembic_version"
    assert [line["event"] for line in lines].count(probe) == 1


def test_a_configuration_error_is_a_json_line(tmp_path: Path) -> None:
    result = subprocess.run(  # noqa: S603
        [str(CLI), "migrate"],
        env={"PATH": "/usr/bin:/bin", "DUO_ENV": "production"},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 2
    (line,) = _json_lines(result.stderr)
    assert line["event"] == "startup.configuration_error"
    assert "SECRET_KEY" in line["error"]


def test_a_crash_is_a_json_line_with_its_traceback(tmp_path: Path) -> None:
    """A command that dies of something unforeseen (here: a database file that cannot be
    made; an unreachable database is one line instead, tests/api/test_cli_json_logs.py)."""
    env = _env(tmp_path, DATABASE_URL="sqlite+aiosqlite:////proc/duo-abroad/db.sqlite3")
    result = subprocess.run(  # noqa: S603
        [str(CLI), "migrate"], env=env, capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode != 0
    lines = _json_lines(result.stderr)
    crash = next(line for line in lines if line["event"] == "process.crashed")
    assert crash["level"] == "critical"
    assert "Traceback" in crash["exception"]


def test_a_server_that_cannot_bind_says_so_in_json(
    served: tuple[int, Path], tmp_path: Path
) -> None:
    port, _ = served
    result = subprocess.run(  # noqa: S603
        [str(CLI), "serve", "--port", str(port)],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode != 0
    lines = _json_lines(result.stderr)
    assert any("address already in use" in json.dumps(line).lower() for line in lines), lines
