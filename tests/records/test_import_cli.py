"""`duo-abroad import`: a summary on stdout, rejections and exit codes an operator can script
against, a progress bar on a terminal and silence in a pipe. Runs the real command on its own
SQLite file (the service itself is tested on both databases)."""

from __future__ import annotations

import csv
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from tests.records.import_support import deadline, jsonl, new_customer, person

CLI = Path(sys.executable).parent / "duo-abroad"


def _run(
    env: dict[str, str], *args: str, stdin: bytes | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own console script
        [str(CLI), *args],
        input=stdin.decode() if stdin is not None else None,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=env,
    )


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    directory = tmp_path_factory.mktemp("import-cli")
    variables = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DUO_ENV": "test",
        "DATABASE_URL": f"sqlite+aiosqlite:///{directory / 'cli.sqlite3'}",
        "LOG_LEVEL": "WARNING",
    }
    migrated = _run(variables, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    return variables


def test_import_then_again_changes_nothing(env: dict[str, str], tmp_path: Path) -> None:
    customer = new_customer()
    file = tmp_path / "records.jsonl"
    file.write_bytes(jsonl(person(customer), deadline(customer)))

    first = _run(env, "import", str(file))
    assert first.returncode == 0, first.stderr
    assert "2 changed, 0 rejected" in first.stdout
    assert first.stderr == ""  # not a terminal: no progress bar, nothing to report

    again = _run(env, "import", str(file))
    assert again.returncode == 0, again.stderr
    assert "0 changed, 0 rejected" in again.stdout
    rows = {line.split()[0]: line.split()[1:] for line in again.stdout.splitlines()[2:8]}
    assert rows["person"] == ["0", "0", "1", "0", "0"]  # inserted updated unchanged deleted rej.
    assert rows["deadline"] == ["0", "0", "1", "0", "0"]


def test_rejected_lines_exit_1_with_a_report(env: dict[str, str], tmp_path: Path) -> None:
    customer = new_customer()
    file = tmp_path / "records.jsonl"
    file.write_bytes(jsonl(person(customer), b"{nope", deadline("IMPNOBODY")))
    report = tmp_path / "report.csv"

    ran = _run(env, "import", str(file), "--report", str(report))
    assert ran.returncode == 1
    assert "1 changed, 2 rejected" in ran.stdout
    assert "line 2 (?): INVALID_JSON" in ran.stderr
    assert "line 3 (deadline) customerNumber: UNKNOWN_PERSON" in ran.stderr
    with report.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["line", "type", "field", "code", "detail"]
    assert [row[:4] for row in rows[1:]] == [
        ["2", "", "", "INVALID_JSON"],
        ["3", "deadline", "customerNumber", "UNKNOWN_PERSON"],
    ]


def test_standard_input_is_a_file_too(env: dict[str, str]) -> None:
    customer = new_customer()
    ran = _run(env, "import", "-", stdin=jsonl(person(customer)))
    assert ran.returncode == 0, ran.stderr
    assert "imported -: 1 lines" in ran.stdout


def test_an_unreadable_file_exits_2(env: dict[str, str], tmp_path: Path) -> None:
    ran = _run(env, "import", str(tmp_path / "missing.jsonl"))
    assert ran.returncode == 2
    assert "cannot open" in ran.stderr
    assert "Traceback" not in ran.stderr


def test_a_database_failure_exits_3_and_says_where(tmp_path: Path) -> None:
    file = tmp_path / "records.jsonl"
    file.write_bytes(jsonl(person(new_customer())))
    unmigrated = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DUO_ENV": "test",
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'empty.sqlite3'}",
        "LOG_LEVEL": "WARNING",
    }
    ran = _run(unmigrated, "import", str(file))
    assert ran.returncode == 3
    assert "import stopped at line 1" in ran.stderr
    assert "run the same file again" in ran.stderr


def test_a_terminal_sees_progress(env: dict[str, str], tmp_path: Path) -> None:
    customer = new_customer()
    file = tmp_path / "records.jsonl"
    file.write_bytes(jsonl(person(customer), deadline(customer)))
    leader, follower = pty.openpty()
    try:
        process = subprocess.run(  # noqa: S603
            [str(CLI), "import", str(file)],
            stdout=subprocess.PIPE,
            stderr=follower,
            check=False,
            timeout=120,
            env={**env, "TERM": "xterm", "COLUMNS": "100"},
        )
        os.close(follower)
        follower = -1
        seen = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal closed: all read
                break
            if not chunk:
                break
            seen += chunk
    finally:
        if follower != -1:
            os.close(follower)
        os.close(leader)
    assert process.returncode == 0
    assert b"importing" in seen
