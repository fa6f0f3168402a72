"""The duo-abroad command and its subcommands explain themselves."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

CLI = Path(sys.executable).parent / "duo-abroad"


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["serve"],
        ["migrate"],
        ["seed-demo"],
        ["import"],
        ["export-schema"],
        ["activation", "issue"],
    ],
)
def test_help(args: list[str]) -> None:
    result = subprocess.run(  # noqa: S603 - our own console script
        [str(CLI), *args, "--help"], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "usage: duo-abroad" in result.stdout


def test_bad_configuration_is_reported_not_a_traceback() -> None:
    result = subprocess.run(  # noqa: S603
        [str(CLI), "migrate"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={"DUO_ENV": "production", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2
    assert "configuration error" in result.stderr
    assert "Traceback" not in result.stderr


def test_migrate_says_in_one_line_what_it_applied(tmp_path: Path) -> None:
    """A newcomer's first `make run` migrates: one line, not one per migration (issue #15)."""
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/m.sqlite3"}

    def migrate() -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - our own console script
            [str(CLI), "migrate"], capture_output=True, text=True, check=True, timeout=120, env=env
        )

    first = migrate()
    output = first.stdout + first.stderr
    assert "Running upgrade" not in output
    (line,) = output.strip().splitlines()
    assert re.match(r"database at head \(applied \d+ migrations, 0001 to \d{4}\): sqlite", line)
    again = migrate()
    assert (again.stdout + again.stderr).strip().startswith("database at head (nothing to apply)")
