"""The duo-abroad command and its subcommands explain themselves."""

from __future__ import annotations

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
