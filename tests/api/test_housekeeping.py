"""The daily housekeeping: what can never be used again goes (rows and files), and push delivery
records past their retention; nothing else."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api import housekeeping
from api.database import utcnow
from api.settings import Settings
from auth import sessions
from auth.models import WebSession
from forms.attachments import FileSystemStore
from forms.models import FormAttachment
from notifications.jobs import HOUSEKEEPING, TICK
from notifications.models import DeliveryStatus, PushDelivery
from tests.notifications.support import make_worker
from tests.support import add_person


async def test_expired_sessions_and_stale_uploads_go_the_rest_stays(
    db: AsyncSession,
    session_factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    tmp_path: Path,
) -> None:
    settings = settings.with_overrides(forms_attachment_dir=tmp_path)
    store = FileSystemStore(tmp_path)
    person_id = (await add_person(db)).person["id"]
    now = utcnow()
    day = settings.session_absolute_timeout

    async def session(started_ago: timedelta, seen_ago: timedelta) -> uuid.UUID:
        issued = await sessions.create_session(
            db, person_id=person_id, absolute_timeout=day, now=now - started_ago
        )
        issued.session.last_seen_at = now - seen_ago
        return issued.session.id

    live = await session(timedelta(hours=1), timedelta(minutes=5))
    await session(timedelta(hours=13), timedelta(minutes=1))  # past its absolute timeout
    await session(timedelta(hours=2), timedelta(hours=1))  # idle too long

    async def upload(*, expired: bool) -> str:
        key = uuid.uuid4().hex
        await store.write_at(key, 0, b"%PDF-1.7 evidence")
        db.add(
            FormAttachment(
                person_id=person_id,
                filename="aanslag.pdf",
                media_type="application/pdf",
                size=17,
                received_bytes=17,
                sha256="0" * 64,
                storage_key=key,
                expires_at=now + (timedelta(days=-1) if expired else timedelta(days=1)),
                submission_id=None,
            )
        )
        return key

    stale = await upload(expired=True)
    fresh = await upload(expired=False)
    await db.commit()

    async def delivery(status: DeliveryStatus, updated_days_ago: int) -> uuid.UUID:
        row = PushDelivery(
            person_id=person_id,
            reminder_id=None,
            subscription_id=None,
            device_name="phone",
            status=status,
            attempts=1,
            created_at=now - timedelta(days=updated_days_ago),
            updated_at=now - timedelta(days=updated_days_ago),
        )
        db.add(row)
        await db.flush()
        return row.id

    await delivery(DeliveryStatus.DELIVERED, 91)  # past the retention: goes
    await delivery(DeliveryStatus.FAILED, 120)  # goes
    recent = await delivery(DeliveryStatus.DELIVERED, 10)
    waiting = await delivery(DeliveryStatus.PENDING, 200)  # not final: never purged
    await db.commit()

    purged = await housekeeping.run(session_factory, settings, now=now)
    assert purged == housekeeping.Purged(sessions=2, uploads=1, deliveries=2)
    assert set(await db.scalars(select(PushDelivery.id))) == {recent, waiting}
    db.expire_all()
    assert list(await db.scalars(select(WebSession.id))) == [live]
    kept = set(await db.scalars(select(FormAttachment.storage_key)))
    assert kept == {fresh}
    assert not (tmp_path / stale[:2] / stale).exists()
    assert (tmp_path / fresh[:2] / fresh).exists()
    # Safe to repeat.
    assert await housekeeping.run(session_factory, settings, now=now) == housekeeping.Purged(
        0, 0, 0
    )


async def test_every_worker_carries_the_daily_schedule(
    settings: Settings, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    worker, runtime = await make_worker(settings, session_factory)
    try:
        worker.attach((await worker.connect()).pgq)
        assert worker.pgq is not None
        scheduled = {key.entrypoint: key.expression for key in worker.pgq.sm.registry}
    finally:
        await runtime.close()
    assert scheduled == {TICK: "* * * * *", HOUSEKEEPING: housekeeping.SCHEDULE}
