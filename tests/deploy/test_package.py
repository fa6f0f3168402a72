"""The built package runs on its own: installed from the wheel into a fresh virtual environment,
away from the checkout, it checks its configuration, migrates, serves the PWA, the service
worker, persisted GraphQL queries and the issuer's keys."""

from __future__ import annotations

import json
import socket
import subprocess
import tarfile
import zipfile
from pathlib import Path

import httpx

from api.persisted import OPERATIONS_DIR, PersistedDocuments
from api.settings import PROJECT_ROOT
from tests.deploy.support import Installed, outside_checkout, production_env, stop, wait_ready


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_the_wheel_and_sdist_carry_the_runtime_files(installed: Installed) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    for required in (
        "api/bundle/pwa/index.html",
        "api/bundle/pwa/sw-module.js",
        "api/bundle/pwa/js/operations.js",
        "api/bundle/graphql/operations/Dashboard.graphql",
        "forms/catalogue/change-of-address.v1.json",
        "migrations/env.py",
        "migrations/script.py.mako",
        "staff/templates/base.html",
        "staff/static/staff.css",
    ):
        assert required in names, required
    # graphql/ never becomes a top-level package: it would shadow graphql-core.
    assert not any(n.startswith("graphql/") for n in names)
    with tarfile.open(installed.sdist) as sdist:
        members = {m.name.split("/", 1)[-1] for m in sdist.getmembers()}
    assert {"pwa/sw.js", "graphql/schema.graphql", "deploy/Caddyfile", "alembic.ini"} <= members


def test_installed_package_migrates_and_serves(
    installed: Installed, scratch_database: str, tmp_path: Path
) -> None:
    cwd = outside_checkout(tmp_path)
    port = _free_port()
    env = production_env(
        installed,
        database_url=scratch_database,
        public_origin=f"https://localhost:{port}",
        data=cwd,
    )
    module = subprocess.run(  # noqa: S603
        [str(installed.python), "-c", "import api; print(api.__file__)"],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(module).is_relative_to(installed.root), module
    assert not Path(module).is_relative_to(PROJECT_ROOT)

    before = installed.run("check-config", env=env, cwd=cwd, check=False)
    assert before.returncode == 1
    assert "FAIL  migrations" in before.stdout
    installed.run("migrate", env=env, cwd=cwd)
    after = installed.run("check-config", env=env, cwd=cwd, check=False)
    assert after.returncode == 0, after.stdout
    assert "ready to start" in after.stdout

    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(  # noqa: S603
            [str(installed.cli), "serve", "--port", str(port)],
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=out,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(f"{base}/health/ready", server, log)
        with httpx.Client(base_url=base, timeout=10) as client:
            shell = client.get("/")
            assert shell.status_code == 200
            assert "<html" in shell.text
            worker = client.get("/sw.js")
            assert worker.status_code == 200
            assert "__SHELL_VERSION__" not in worker.text
            digest = (
                PersistedDocuments.load()
                .by_text[(OPERATIONS_DIR / "FormsCatalogue.graphql").read_text()]
                .sha256
            )
            extensions = json.dumps({"persistedQuery": {"version": 1, "sha256Hash": digest}})
            catalogue = client.get(
                "/graphql",
                params={"extensions": extensions},
                headers={"accept": "application/json"},
            )
            assert catalogue.status_code == 200, catalogue.text
            forms = catalogue.json()["data"]["formCatalogue"]["forms"]
            assert any(f["formId"] == "change-of-address" for f in forms)
            staff = client.get("/staff/sign-in", headers={"accept-language": "nl"})
            assert staff.status_code == 200, staff.text  # a Jinja2 template from the wheel
            assert "<html" in staff.text
            jwks = client.get("/.well-known/jwks.json")
            assert jwks.status_code == 200
            (key,) = jwks.json()["keys"]
            assert key["kid"] == json.loads(env["EXTRACT_SIGNING_KEYS"])[0]["kid"]
            assert "d" not in key
    finally:
        stop(server)
    for line in log.read_text().splitlines():
        json.loads(line)  # LOG_JSON: nothing else on the server's output
