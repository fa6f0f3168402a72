"""Fault fixtures: the TCP proxy process a test kills, freezes and restarts; worker processes."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import make_url

from api.settings import PROJECT_ROOT
from tests.notifications.support import free_port


@dataclass
class Proxy:
    """tests/faults/proxy.py in its own process, always on the same port."""

    target_host: str
    target_port: int
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - our own fixture, fixed arguments
            [sys.executable, "-m", "tests.faults.proxy", str(self.port), self.target_host,
             str(self.target_port)],
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
        )  # fmt: skip
        assert self.process.stdout is not None
        assert self.process.stdout.readline().strip() == b"ready"

    def kill(self) -> None:
        """An outage: every connection through it is cut, new ones are refused."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def freeze(self) -> None:
        """A partition: connections open (the kernel accepts them), nothing comes back."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)

    def url(self, url: str) -> str:
        """`url` (a database or Redis URL) pointed at this proxy instead."""
        return (
            make_url(url)
            .set(host="127.0.0.1", port=self.port)
            .render_as_string(hide_password=False)
        )


@dataclass
class Worker:
    """A `duo-abroad worker` process and its log."""

    process: subprocess.Popen[bytes]
    log: Path

    def lines(self) -> list[dict[str, Any]]:
        """Its JSON log lines (others, such as tracebacks, are skipped)."""
        found = []
        for line in self.log.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                with contextlib.suppress(json.JSONDecodeError):
                    found.append(json.loads(line))
        return found

    def events(self, name: str) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line.get("event") == name]

    def worker_id(self, timeout: float = 30) -> uuid.UUID:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if started := self.events("push.worker_started"):
                return uuid.UUID(started[0]["worker"])
            assert self.process.poll() is None, self.log.read_text()
            time.sleep(0.05)
        raise AssertionError(f"the worker did not start: {self.log.read_text()}")


@dataclass
class Processes:
    """Processes a test starts; whatever still runs is killed at its end."""

    running: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def worker(self, env: dict[str, str], log: Path) -> Worker:
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "api.cli", "worker"],
                cwd=PROJECT_ROOT,
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.running.append(process)
        return Worker(process, log)

    def kill_all(self) -> None:
        for process in self.running:
            if process.poll() is None:
                process.kill()
                process.wait()
