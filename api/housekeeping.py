"""Daily housekeeping: rows that can never be used again, and the files that belong to them.

Run once a day by the workers (pgqueuer's scheduler, so one worker at a time however many run),
by the embedded server's own worker on SQLite, and on demand by `duo-abroad housekeeping`.
Every step is safe to repeat and to run beside live traffic.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from access import service as access_requests
from api.database import utcnow
from api.settings import Settings
from auth import sessions
from forms.attachments import FileSystemStore
from forms.uploads import expired_uploads
from notifications.deliveries import purge_finished
from staff import claims as staff_claims
from staff import sessions as staff_sessions
from wallet import presentations

log = structlog.get_logger("api.housekeeping")

SCHEDULE = "17 3 * * *"  # every day at 03:17 UTC: away from the top of the hour
# How long operators (and `viewer.reminders`) see how each push went; the reminders themselves
# and their inbox messages stay.
DELIVERY_RETENTION = timedelta(days=90)


@dataclass(frozen=True, slots=True)
class Purged:
    sessions: int
    uploads: int
    deliveries: int = 0
    access_drafts: int = 0


async def run(
    session_factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    now: datetime | None = None,
) -> Purged:
    now = now or utcnow()
    async with session_factory() as db:
        expired_sessions = await sessions.purge_expired(
            db, idle_timeout=settings.session_idle_timeout, now=now
        )
        expired_sessions += await staff_sessions.purge_expired(db, now=now)
        await staff_claims.purge_expired(db, now=now)
        keys = await expired_uploads(db, now=now)
        deliveries = await purge_finished(db, before=now - DELIVERY_RETENTION)
        # Access requests never submitted, and identity documents kept past their time.
        drafts, request_keys = await access_requests.purge(db, now=now)
        keys = [*keys, *request_keys]
        # Claims disclosed to a verifier leave with their expired check.
        await presentations.purge_expired(db, now=now)
        await db.commit()
    # Files after the commit: a file without a row is harmless, a row without its file is not.
    store = FileSystemStore(settings.forms_attachment_dir)
    for key in keys:
        await store.delete(key)
    purged = Purged(
        sessions=expired_sessions,
        uploads=len(keys),
        deliveries=deliveries,
        access_drafts=drafts,
    )
    log.info(
        "housekeeping.done",
        sessions=purged.sessions,
        uploads=purged.uploads,
        deliveries=purged.deliveries,
        access_drafts=purged.access_drafts,
    )
    return purged
