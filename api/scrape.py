"""GET /metrics: Prometheus's scrape, for holders of METRICS_TOKEN only.

Not public: without the token (or with METRICS_TOKEN unset) the answer is the same 404 as for
any unknown path, and deploy/Caddyfile does not pass /metrics from the internet at all;
Prometheus scrapes an app process directly on its private address. Any app process answers for
every process of its host (PROMETHEUS_MULTIPROC_DIR, api.metrics), workers included.
"""

from __future__ import annotations

import hmac
from typing import Any

import structlog
from litestar import Request, Response, get
from litestar.datastructures import State
from litestar.exceptions import NotFoundException
from prometheus_client.core import Metric
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api import metrics
from api.database import utcnow
from api.settings import Settings
from notifications.stats import queue_depth

log = structlog.get_logger("api.metrics")


def _authorized(header: str | None, token: str) -> bool:
    scheme, _, given = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.encode(), token.encode())


async def _scraped(factory: async_sessionmaker[AsyncSession]) -> list[Metric]:
    """Figures only the database knows, read now; a database outage must not fail the scrape."""
    try:
        async with factory() as db:
            depth = await queue_depth(db, now=utcnow())
    except Exception as exc:
        log.warning("metrics.queue_depth_unavailable", error=type(exc).__name__)
        return [
            metrics.gauge("duo_queue_depth_up", "1 when queue depth could be read.", [], {(): 0})
        ]
    return [
        metrics.gauge("duo_queue_depth_up", "1 when queue depth could be read.", [], {(): 1}),
        metrics.gauge(
            "duo_push_deliveries_queued",
            "Push deliveries not yet final: due (waiting for a worker), scheduled (a later "
            "retry), in_flight (held by a worker).",
            ["state"],
            {(state,): count for state, count in depth.deliveries.items()},
        ),
        metrics.gauge(
            "duo_jobs_queued",
            "pgqueuer jobs by entrypoint and status (PostgreSQL).",
            ["entrypoint", "status"],
            depth.jobs,
        ),
    ]


@get("/metrics", include_in_schema=False, cache=False)
async def scrape(request: Request[Any, Any, State]) -> Response[bytes]:
    settings: Settings = request.app.state.settings
    token = settings.metrics_token
    if not token or not _authorized(request.headers.get("authorization"), token):
        raise NotFoundException()
    extra = await _scraped(request.app.state.session_factory)
    return Response(
        metrics.render(extra),
        media_type=metrics.CONTENT_TYPE,
        headers={"cache-control": "no-store"},
    )
