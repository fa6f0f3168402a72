"""The two servers under test, as uvicorn factories (`uvicorn --factory bench.apps:graphql_app`).

bench/dashboard.py starts them in subprocesses and passes the settings through the environment:
BENCH_DATABASE_URL (required) and BENCH_LOG_LEVEL (default WARNING).
"""

from __future__ import annotations

import os

from litestar import Litestar

from api.app import create_app
from api.settings import Settings
from bench.plain_app import create_plain_app


def bench_settings() -> Settings:
    return Settings(
        environment="test",
        database_url=os.environ["BENCH_DATABASE_URL"],
        # Ad-hoc documents are allowed so the benchmark can also time parse + validate.
        allow_adhoc_queries=True,
        log_level=os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
        log_json=True,
    )


def graphql_app() -> Litestar:
    """The real application (server under test A)."""
    return create_app(bench_settings())


def plain_app() -> Litestar:
    """The plain Litestar baseline (server under test B)."""
    return create_plain_app(bench_settings())
