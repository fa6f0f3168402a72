"""Helpers of the production topology tests: the installed package, its environment, processes."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from api.settings import PROJECT_ROOT

READY_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class Installed:
    """A virtual environment holding only the built wheel and its dependencies."""

    root: Path
    wheel: Path
    sdist: Path

    @property
    def cli(self) -> Path:
        return self.root / "bin" / "duo-abroad"

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    def run(
        self, *args: str, env: dict[str, str], cwd: Path, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(  # noqa: S603 - the installed console script, fixed arguments
            [str(self.cli), *args],
            env=env,
            cwd=cwd,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        if check and result.returncode != 0:
            pytest.fail(f"duo-abroad {' '.join(args)} exited {result.returncode}:\n{result}")
        return result


def production_env(
    installed: Installed, *, database_url: str, public_origin: str, data: Path, **extra: str
) -> dict[str, str]:
    """What deploy/duo-abroad.env asks an operator for, with keys the package itself makes."""
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(data), "LOG_JSON": "1"}
    key = installed.run("extract", "generate-key", env=base, cwd=data).stdout.splitlines()[0]
    vapid = installed.run("push", "vapid-keys", env=base, cwd=data).stdout
    match = re.search(r"^VAPID_PRIVATE_KEY=(\S+)$", vapid, re.MULTILINE)
    assert match is not None, vapid
    metrics_dir = data / "metrics"
    metrics_dir.mkdir(exist_ok=True)
    return {
        **base,
        "DUO_ENV": "production",
        "DATABASE_URL": database_url,
        "PUBLIC_ORIGIN": public_origin,
        "SECRET_KEY": secrets.token_urlsafe(48),
        "REDIS_URL": "redis://127.0.0.1:6379/8",
        "EXTRACT_SIGNING_KEYS": json.dumps([json.loads(key)]),
        "VAPID_PRIVATE_KEY": match.group(1),
        "VAPID_SUBJECT": "mailto:operations@duo.example",
        "FORMS_ATTACHMENT_DIR": str(data / "attachments"),
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "METRICS_TOKEN": secrets.token_urlsafe(32),
        **extra,
    }


def outside_checkout(tmp_path: Path) -> Path:
    """A working directory with nothing of the checkout in it."""
    directory = tmp_path / "srv"
    directory.mkdir()
    assert PROJECT_ROOT not in directory.parents
    return directory


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path, **client: object) -> None:
    """Until `url` answers 200 (a readiness probe), or fail with the process's log."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"exited with {process.returncode}:\n{log.read_text(errors='replace')}")
        try:
            if httpx.get(url, timeout=2.0, **client).status_code == 200:  # type: ignore[arg-type]
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"{url} not ready in {READY_TIMEOUT_S:.0f} s:\n{log.read_text(errors='replace')}")
