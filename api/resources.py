"""Where the app's files that are not Python live, in a checkout and in an installed package.

In a checkout (and an editable install) `pwa/` and `graphql/` sit at the top level, beside the
packages. A wheel cannot put them there (a top-level `graphql/` would collide with graphql-core,
which Strawberry imports as `graphql`), so pyproject's `package-dir` ships them as package data
under `api/bundle/` instead; importlib.resources finds them there.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

from api.settings import PROJECT_ROOT

Bundled = Literal["pwa", "graphql"]


def bundled_dir(name: Bundled) -> Path:
    """The directory holding `pwa/` or `graphql/` for this installation."""
    # A real directory either way: the static-file router and the service-worker stamp read
    # files by path, so a zipped install is not supported.
    packaged = Path(str(resources.files("api"))) / "bundle" / name
    if packaged.is_dir():
        return packaged
    return PROJECT_ROOT / name


def migrations_dir() -> Path:
    """alembic's script location: the `migrations` package, wherever it is installed."""
    return Path(str(resources.files("migrations")))
