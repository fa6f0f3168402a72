"""How much push work is waiting: read by the metrics endpoint at every scrape."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import case, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from notifications.models import DeliveryStatus, PushDelivery


@dataclass(frozen=True, slots=True)
class QueueDepth:
    # Deliveries not yet final: due now (a backlog when it stays above zero), waiting for a
    # later retry, and held by a worker.
    deliveries: dict[str, int]
    # pgqueuer's jobs by entrypoint and status (PostgreSQL; the in-memory queue is not shared).
    jobs: dict[tuple[str, ...], int] = field(default_factory=dict)


async def queue_depth(db: AsyncSession, *, now: datetime) -> QueueDepth:
    """Both counts go through indexes: (status, next_attempt_at) and pgqueuer's own."""
    state = case(
        (PushDelivery.status == DeliveryStatus.SENDING, "in_flight"),
        (PushDelivery.next_attempt_at <= now, "due"),
        else_="scheduled",
    )
    rows = (
        await db.execute(
            select(state, func.count())
            .where(PushDelivery.status.in_([DeliveryStatus.PENDING, DeliveryStatus.SENDING]))
            .group_by(state)
        )
    ).all()
    deliveries = {"due": 0, "scheduled": 0, "in_flight": 0}
    deliveries.update({str(name): int(count) for name, count in rows})
    jobs: dict[tuple[str, ...], int] = {}
    if db.get_bind().dialect.name == "postgresql":
        # pgqueuer's table lives in its own schema (migration 0005); it keeps no finished jobs.
        result = await db.execute(
            text(
                "SELECT entrypoint, status::text, count(*) FROM pgqueuer.pgqueuer "
                "GROUP BY entrypoint, status"
            )
        )
        jobs = {(str(e), str(s)): int(c) for e, s, c in result.all()}
    return QueueDepth(deliveries=deliveries, jobs=jobs)
