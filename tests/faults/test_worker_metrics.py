"""A `duo-abroad worker` process counts in /metrics like the app processes do (issue #15 item
3): its database pool shows in duo_db_pool_* while it lives, and leaves the sums when it ends."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from api import metrics
from notifications.vapid import generate_keys
from tests.faults.support import Processes, wait_for, worker_env

POOL = ("duo_db_pool_capacity", "duo_db_pool_connections_in_use", "duo_db_pool_waiting")


def pool_gauges() -> dict[str, float]:
    """What a scrape of any process of the host would say (PROMETHEUS_MULTIPROC_DIR)."""
    text = metrics.render().decode()
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name in POOL
    }


async def test_a_worker_process_reports_its_database_pool(
    on_postgres: None,
    processes: Processes,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shared = tmp_path / "metrics"
    shared.mkdir()
    monkeypatch.setenv(metrics.MULTIPROC_ENV, str(shared))
    worker = processes.worker(
        worker_env(database_url, generate_keys(), PROMETHEUS_MULTIPROC_DIR=str(shared)),
        tmp_path / "worker.log",
    )
    worker.worker_id()

    async def sampled() -> bool:
        return pool_gauges().get("duo_db_pool_capacity", 0) > 0

    await wait_for(sampled, within=15, what="the worker's pool in the gauges")
    gauges = pool_gauges()
    assert gauges["duo_db_pool_capacity"] == 20  # pool_size 10 + max_overflow 10
    assert 0 <= gauges["duo_db_pool_connections_in_use"] <= 20
    assert gauges["duo_db_pool_waiting"] == 0

    worker.process.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(worker.process.wait, 15) == 0
    assert pool_gauges().get("duo_db_pool_capacity", 0) == 0  # a stopped worker counts no more
