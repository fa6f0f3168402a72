"""Housekeeping: requests never submitted go with their files; identity documents and videos
of long-decided requests go, the decision's record stays; open requests keep everything."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from access import review, service
from access.models import AccessRequest, RequestStatus
from api import housekeeping
from api.database import utcnow
from api.settings import Settings
from forms.attachments import FileSystemStore
from forms.models import FormAttachment
from tests.access.support import new_secret
from tests.access.test_review import META, submitted


async def test_stale_drafts_and_old_identity_documents_are_removed(
    db: AsyncSession,
    session_factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    tmp_path: Path,
) -> None:
    settings = settings.with_overrides(forms_attachment_dir=tmp_path)
    store = FileSystemStore(tmp_path)
    now = utcnow()
    details = service.clean_details(
        customer_number=None,
        full_name="Ayu Lestari",
        date_of_birth=now.date().replace(year=1990),
        country="ID",
        contact_email="ayu@example.org",
        reason="lost_digid",
        language="en",
    )
    stale = await service.create_request(
        db, secret=new_secret(), details=details, meta=META, now=now - timedelta(days=8)
    )
    fresh = await service.create_request(
        db, secret=new_secret(), details=details, meta=META, now=now - timedelta(days=1)
    )
    decided_long_ago = await submitted(db, at=now - timedelta(days=100))
    await review.refuse(
        db, decided_long_ago.id, staff_id=uuid.uuid4(), reason="No.", now=now - timedelta(days=91)
    )
    open_one = await submitted(db, at=now - timedelta(days=100))
    draft_file = uuid.uuid4().hex
    await store.write_at(draft_file, 0, b"%PDF-1.7")
    db.add(
        FormAttachment(
            access_request_id=stale.id,
            filename="id.pdf",
            media_type="application/pdf",
            size=8,
            received_bytes=8,
            sha256="0" * 64,
            storage_key=draft_file,
            expires_at=now + timedelta(days=20),
        )
    )
    await db.commit()

    purged = await housekeeping.run(session_factory, settings, now=now)
    assert purged.access_drafts == 1
    assert purged.uploads == 3  # the draft's file, and the decided request's two
    db.expire_all()
    left = {r.id: r.status for r in await db.scalars(select(AccessRequest))}
    assert left == {
        fresh.id: RequestStatus.DRAFT,
        decided_long_ago.id: RequestStatus.REFUSED,
        open_one.id: RequestStatus.SUBMITTED,
    }
    owners = list(await db.scalars(select(FormAttachment.access_request_id)))
    assert sorted(map(str, owners)) == sorted([str(open_one.id)] * 2)
    assert not (tmp_path / draft_file[:2] / draft_file).exists()
