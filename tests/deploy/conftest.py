"""Production as an operator installs it: the built wheel in a fresh virtual environment outside
the checkout, PostgreSQL and Redis, keys made with the package's own commands.

These tests run in the PostgreSQL pass only (production's database); building the sdist and
the wheel and installing them with their dependencies takes about a minute, once per run.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from api.settings import PROJECT_ROOT
from tests.deploy.support import Installed

BUILD_TIMEOUT_S = 600


@pytest.fixture(scope="session")
def postgres_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgresql+asyncpg://"):
        pytest.skip("production topology tests run in the PostgreSQL pass (DATABASE_URL)")
    return url


@pytest.fixture(scope="session")
def installed(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """`python -m build` (the sdist, then the wheel from the sdist), installed into a new venv."""
    work = tmp_path_factory.mktemp("package")
    dist = work / "dist"
    build = subprocess.run(  # noqa: S603 - the build frontend on our own checkout
        [sys.executable, "-m", "build", "--outdir", str(dist), str(PROJECT_ROOT)],
        capture_output=True,
        text=True,
        check=False,
        timeout=BUILD_TIMEOUT_S,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    (wheel,) = dist.glob("*.whl")
    (sdist,) = dist.glob("*.tar.gz")
    root = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True, timeout=120)  # noqa: S603
    install = subprocess.run(  # noqa: S603
        [str(root / "bin" / "pip"), "install", "--quiet", "--quiet", str(wheel)],
        capture_output=True,
        text=True,
        check=False,
        timeout=BUILD_TIMEOUT_S,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    return Installed(root=root, wheel=wheel, sdist=sdist)


@pytest.fixture
def scratch_database(postgres_url: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """An empty PostgreSQL database beside the suite's, named after the test module."""
    suffix = re.sub(r"\W", "_", request.module.__name__.rsplit(".", 1)[-1])[:20]
    name = f"{make_url(postgres_url).database}_{suffix}"
    url = make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    asyncio.run(_recreate(postgres_url, name))
    yield url
    asyncio.run(_drop(postgres_url, name))


async def _recreate(url: str, name: str) -> None:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ValueError(f"unexpected database name: {name!r}")
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await engine.dispose()


async def _drop(url: str, name: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await engine.dispose()
