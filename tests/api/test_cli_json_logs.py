"""With LOG_JSON on, every line a command writes is JSON, stdout and stderr alike, when it
fails at startup and when it stops (issue #15 item 4): a log shipper never meets a traceback or
a bare sentence. A database that does not exist ends a command with one line and exit code 2,
one that cannot be reached with one line and exit code 1 (`migrate`) or a wait (`worker`,
`serve`: they ride it out, issue #12)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import make_url

from api.settings import PROJECT_ROOT

CLI = Path(sys.executable).parent / "duo-abroad"
# Nothing listens on port 1: connections are refused at once.
REFUSED = "postgresql+asyncpg://duo@127.0.0.1:1/duo"
PORT = "9131"


def environment(database_url: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DUO_ENV": "test",
        "LOG_JSON": "1",
        "DATABASE_URL": database_url,
        "PORT": PORT,
        "DATABASE_CONNECT_TIMEOUT_SECONDS": "1",
    }


def json_lines(*outputs: str) -> list[dict[str, Any]]:
    """Every line of the outputs, each parsed as JSON (fails on the first that is not)."""
    parsed = []
    for output in outputs:
        for line in output.splitlines():
            try:
                parsed.append(json.loads(line))
            except json.JSONDecodeError:
                pytest.fail(f"not a JSON line: {line!r}\n--- all output:\n{''.join(outputs)}")
    return parsed


def run(*args: str, database_url: str) -> tuple[int, list[dict[str, Any]]]:
    result = subprocess.run(  # noqa: S603 - our own console script
        [str(CLI), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env=environment(database_url),
        cwd=PROJECT_ROOT,
    )
    return result.returncode, json_lines(result.stdout, result.stderr)


def run_until(
    *args: str,
    database_url: str,
    event: str,
    tmp_path: Path,
    ready: Callable[[], bool] = lambda: True,
) -> tuple[int, list[dict[str, Any]]]:
    """Start a long-running command, stop it (SIGTERM) once it has logged `event` and is
    `ready`."""
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with out.open("w") as stdout, err.open("w") as stderr:
        process = subprocess.Popen(  # noqa: S603 - our own console script
            [str(CLI), *args],
            stdout=stdout,
            stderr=stderr,
            env=environment(database_url),
            cwd=PROJECT_ROOT,
        )
    try:
        deadline = time.monotonic() + 30
        while f'"event": "{event}"' not in err.read_text() or not ready():
            assert process.poll() is None, err.read_text()
            assert time.monotonic() < deadline, f"no {event}: {err.read_text()}"
            time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return code, json_lines(out.read_text(), err.read_text())


@pytest.fixture
def missing_database(database_url: str, is_postgres: bool) -> str:
    """A database URL on the test server naming a database that does not exist."""
    if not is_postgres:
        pytest.skip("a database that does not exist is a PostgreSQL server's answer")
    missing = make_url(database_url).set(database="duo_no_such_database")
    return missing.render_as_string(hide_password=False)


def test_migrate_with_an_unreachable_database_says_so_in_one_json_line() -> None:
    code, lines = run("migrate", database_url=REFUSED)
    assert code == 1
    [line] = lines
    assert line["event"] == "startup.dependency_unavailable"
    assert line["error"].startswith("database unavailable: ConnectionRefusedError")
    assert "exception" not in line  # no traceback


@pytest.mark.parametrize("command", ["migrate", "worker", "serve"])
def test_a_database_that_does_not_exist_ends_a_command_with_one_json_line(
    command: str, missing_database: str
) -> None:
    code, lines = run(command, database_url=missing_database)
    assert code == 2
    refusals = [line for line in lines if line["event"] == "startup.configuration_error"]
    assert [r["error"] for r in refusals] == [
        'configuration error: InvalidCatalogNameError: database "duo_no_such_database" '
        "does not exist"
    ]
    assert not [line for line in lines if "exception" in line or "Traceback" in line["event"]]


@pytest.mark.parametrize("command", ["worker", "serve"])
def test_a_service_started_before_its_database_waits_and_stops_in_json(
    command: str, tmp_path: Path
) -> None:
    def listening() -> bool:
        if command != "serve":
            return True
        try:
            return httpx.get(f"http://127.0.0.1:{PORT}/health/live", timeout=1).is_success
        except httpx.HTTPError:
            return False

    code, lines = run_until(
        command,
        database_url=REFUSED,
        event="dependency.unavailable",
        tmp_path=tmp_path,
        ready=listening,
    )
    # uvicorn shuts down gracefully, then re-raises the signal so that the exit status says it.
    assert code == (-signal.SIGTERM if command == "serve" else 0)
    warned = [line for line in lines if line["event"] == "dependency.unavailable"]
    assert [w["dependency"] for w in warned] == ["database"]  # once, not per attempt
    if command == "worker":
        assert lines[-1]["event"] == "push.worker_stopped"


def test_a_worker_that_drains_and_stops_logs_its_closing_line_in_json(tmp_path: Path) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite3'}"
    assert run("migrate", database_url=database_url)[0] == 0
    code, lines = run("worker", "--drain", database_url=database_url)
    assert code == 0
    [stopped] = [line for line in lines if line["event"] == "push.worker_stopped"]
    assert stopped["sent"] == {}
