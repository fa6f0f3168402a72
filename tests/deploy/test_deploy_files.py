"""deploy/ is what production runs: the files are valid for the tools that read them, and the
environment template explains every setting the README lists."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from api.settings import PROJECT_ROOT

DEPLOY = PROJECT_ROOT / "deploy"
CADDY = shutil.which("caddy")
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")


def _readme_variables() -> set[str]:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("## Configuration")
    table = readme[start : readme.index("\n## ", start + 1)]
    names: set[str] = set()
    for row in table.splitlines():
        if row.startswith("| `"):
            names.update(re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split("|")[1]))
    return names


def test_the_environment_template_covers_every_setting() -> None:
    template = (DEPLOY / "duo-abroad.env").read_text(encoding="utf-8")
    present = set(re.findall(r"^#?([A-Z][A-Z0-9_]+)=", template, re.MULTILINE))
    documented = _readme_variables()
    assert {"METRICS_TOKEN", "PROMETHEUS_MULTIPROC_DIR", "DATABASE_URL"} <= documented
    assert documented - present == set(), "settings missing from deploy/duo-abroad.env"
    assert present - documented == set(), "deploy/duo-abroad.env names unknown settings"


@pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed")
def test_systemd_units_verify(tmp_path: Path) -> None:
    """`systemd-analyze verify` finds nothing to say (unknown keys, bad values, wrong sections)."""
    units = []
    for unit in (DEPLOY / "systemd").iterdir():
        # verify checks that ExecStart= exists: point it at a binary this machine has.
        text = unit.read_text(encoding="utf-8").replace(
            "/opt/duo-abroad/venv/bin/duo-abroad", "/bin/true"
        )
        (tmp_path / unit.name).write_text(text, encoding="utf-8")
        name = unit.name.replace("@.", "@1.")
        if name != unit.name:
            (tmp_path / name).symlink_to(tmp_path / unit.name)
        units.append(str(tmp_path / name))
    result = subprocess.run(  # noqa: S603
        [str(SYSTEMD_ANALYZE), "verify", "--man=no", *units],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr
    assert {Path(u).name for u in units} >= {"duo-abroad@1.service", "duo-abroad-worker@1.service"}


def _adapt(tmp_path: Path, *, staff: bool) -> dict[str, Any]:
    assert CADDY is not None
    shutil.copy(DEPLOY / "Caddyfile", tmp_path / "Caddyfile")
    (tmp_path / "sites").mkdir()
    if staff:
        shutil.copy(DEPLOY / "staff.caddy", tmp_path / "sites" / "staff.caddy")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "DUO_SITE": "duo.example.org",
        "STAFF_SITE": "staff.duo.example.org",
        "DUO_UPSTREAMS": "127.0.0.1:8001 127.0.0.1:8002 127.0.0.1:8003",
    }
    result = subprocess.run(  # noqa: S603
        [CADDY, "adapt", "--config", "Caddyfile", "--adapter", "caddyfile"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = json.loads(result.stdout)
    return config


def _handlers(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if "handler" in node:
            found.append(node)
        for value in node.values():
            found.extend(_handlers(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_handlers(item))
    return found


@pytest.mark.skipif(CADDY is None, reason="caddy is not installed")
@pytest.mark.parametrize("staff", [False, True], ids=["public", "with-staff-host"])
def test_caddyfile_proxies_with_tls_hsts_compression_and_health_checks(
    tmp_path: Path, staff: bool
) -> None:
    config = _adapt(tmp_path, staff=staff)
    (server,) = config["apps"]["http"]["servers"].values()
    hosts = {h for route in server["routes"] for m in route.get("match", []) for h in m["host"]}
    assert hosts == ({"duo.example.org", "staff.duo.example.org"} if staff else {"duo.example.org"})
    assert server["listen"] == [":443"]  # TLS (automatic HTTPS) for every site
    for route in server["routes"]:
        handlers = _handlers(route)
        kinds = [h["handler"] for h in handlers]
        assert "encode" in kinds
        proxies = [h for h in handlers if h["handler"] == "reverse_proxy"]
        for proxy in proxies:
            assert [u["dial"] for u in proxy["upstreams"]] == [
                "127.0.0.1:8001",
                "127.0.0.1:8002",
                "127.0.0.1:8003",
            ]
            assert proxy["health_checks"]["active"]["uri"] == "/health/ready"
        # Only requests without a body are retried elsewhere (Caddy 2.6 cannot resend one).
        retrying = [p for p in proxies if p["load_balancing"].get("try_duration")]
        assert len(proxies) == 2
        assert len(retrying) == 1
        headers = next(h for h in handlers if h["handler"] == "headers")
        hsts = headers["response"]["set"]["Strict-Transport-Security"]
        assert hsts == ["max-age=63072000; includeSubDomains"]
        (refused,) = [h for h in handlers if h["handler"] == "static_response"]
        assert refused["status_code"] == 404  # /metrics
