"""The helpdesk's side, at the service level: queue, timings, candidates, claims, decisions."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from access import review, service
from access.errors import AccessError
from access.models import AccessRequest, RequestStatus
from api.database import utcnow
from api.errors import InvalidInput, NotFound
from api.settings import Settings
from auth.audit import RequestMeta
from auth.models import AuditEvent, Passkey
from forms.models import FormAttachment
from notifications.models import InboxMessage, MessageKind
from tests.access.support import new_secret

META = RequestMeta(ip_address="192.0.2.7", user_agent="test")
SETTINGS = Settings(environment="test")
ALICE, BOB = uuid.uuid4(), uuid.uuid4()  # two helpdesk members


async def submitted(
    db: AsyncSession,
    *,
    at: datetime,
    full_name: str = "Mei Zhang",
    date_of_birth: date = date(1994, 3, 15),
    country: str = "AU",
    customer_number: str | None = None,
) -> AccessRequest:
    """A request with a completed document and video, submitted at `at`."""
    details = service.clean_details(
        customer_number=customer_number,
        full_name=full_name,
        date_of_birth=date_of_birth,
        country=country,
        contact_email="someone@example.org",
        reason="never_had_digid",
        language="en",
    )
    row = await service.create_request(db, secret=new_secret(), details=details, meta=META, now=at)
    for media_type in ("image/png", "video/webm"):
        file_id = uuid.uuid4()
        db.add(
            FormAttachment(
                id=file_id,
                access_request_id=row.id,
                filename="f",
                media_type=media_type,
                size=1,
                received_bytes=1,
                sha256="0" * 64,
                storage_key=file_id.hex,
                created_at=at,
                expires_at=at + timedelta(days=30),
                completed_at=at,
            )
        )
    await db.flush()
    return await service.submit(db, row, meta=META, now=at)


async def test_the_queue_is_oldest_first_and_filters_by_country_and_age(db: AsyncSession) -> None:
    now = utcnow()
    recent = await submitted(db, at=now - timedelta(hours=1), country="AU")
    oldest = await submitted(db, at=now - timedelta(days=3), country="ID")
    middle = await submitted(db, at=now - timedelta(hours=5), country="AU")
    draft = await service.create_request(
        db,
        secret=new_secret(),
        details=service.clean_details(
            customer_number=None,
            full_name="Not Yet",
            date_of_birth=date(1990, 1, 1),
            country="AU",
            contact_email="a@example.org",
            reason="lost_digid",
            language="nl",
        ),
        meta=META,
    )

    def ids(page: Any) -> list[uuid.UUID]:
        return [item.request.id for item in page.items]

    assert ids(await review.list_queue(db, now=now)) == [oldest.id, middle.id, recent.id]
    assert draft.id not in ids(await review.list_queue(db, now=now))
    assert ids(await review.list_queue(db, country="au", now=now)) == [middle.id, recent.id]
    assert ids(await review.list_queue(db, min_age=timedelta(days=1), now=now)) == [oldest.id]
    assert ids(await review.list_queue(db, max_age=timedelta(hours=2), now=now)) == [recent.id]
    first = await review.list_queue(db, first=2, now=now)
    assert ids(first) == [oldest.id, middle.id]
    assert first.has_next_page
    rest = await review.list_queue(db, first=2, after=first.end_cursor, now=now)
    assert ids(rest) == [recent.id]
    assert (await review.list_queue(db, now=now)).items[0].waiting == timedelta(days=3)
    assert await review.queue_countries(db) == ["AU", "ID"]


async def test_median_and_90th_percentile_time_to_a_decision(db: AsyncSession) -> None:
    now = utcnow()
    empty = await review.queue_stats(db, now=now)
    assert (empty.open, empty.decisions, empty.median, empty.p90) == (0, 0, None, None)
    # Five decisions after waiting 1, 2, 3, 4 and 10 hours; one long ago (outside the window).
    waits = [1, 2, 3, 4, 10]
    for hours in waits:
        row = await submitted(db, at=now - timedelta(hours=hours + 1))
        await review.refuse(
            db,
            row.id,
            staff_id=ALICE,
            reason="The photo does not show your face.",
            now=now - timedelta(hours=1),
        )
    old = await submitted(db, at=now - timedelta(days=60))
    await review.refuse(db, old.id, staff_id=ALICE, reason="x", now=now - timedelta(days=40))
    waiting = await submitted(db, at=now - timedelta(hours=30))
    stats = await review.queue_stats(db, now=now)
    assert stats.open == 1
    assert stats.longest_wait == now - waiting.queued_at  # type: ignore[operator]
    assert stats.decisions == 5
    assert stats.median == timedelta(hours=3)
    # Inclusive quantiles of [1, 2, 3, 4, 10]: between the 4th and 5th value, 60% of the way.
    assert stats.p90 == timedelta(hours=7.6)


async def test_candidates_by_customer_number_or_name_and_birth_date_with_passkeys_flagged(
    db: AsyncSession, person_factory: Any
) -> None:
    by_number = await person_factory(given_names="Mei Ling", family_name="Zhang")
    same_person = await person_factory(
        given_names="Méi", family_name="van der ZHANG", date_of_birth=date(1994, 3, 15)
    )
    await person_factory(given_names="Other", family_name="Person", date_of_birth=date(1994, 3, 15))
    db.add(
        Passkey(
            person_id=same_person.person["id"],
            credential_id=b"x" * 16,
            public_key=b"k",
            aaguid="00000000-0000-0000-0000-000000000000",
            name="Phone",
        )
    )
    await db.flush()
    row = await submitted(
        db,
        at=utcnow(),
        full_name="Mei Zhang",
        customer_number=by_number.person["customer_number"],
    )
    found = await review.find_candidates(db, row)
    assert [c.person.id for c in found] == [by_number.person["id"], same_person.person["id"]]
    first, second = found
    assert (first.by_customer_number, first.name_matches, first.passkeys) == (True, True, 0)
    assert (second.by_customer_number, second.strong, second.passkeys) == (False, True, 1)
    item = (await review.list_queue(db)).items[0]
    assert item.takeover_passkeys == 1, "account has 1 passkey: possible takeover"


def test_names_match_across_accents_case_particles_and_order() -> None:
    assert review.names_match("ZOE O'NEIL-SAHIN", "Zoë", "O'Neil-Şahin")
    assert review.names_match("Jan de Vries", "Jan Pieter", "de Vries")
    assert review.names_match("Vries, Jan", "Jan", "de Vries")
    assert review.names_match("Aylin Y\u0131lmaz", "Aylin", "Yilmaz")  # dotless i
    assert not review.names_match("Jan Jansen", "Jan", "de Vries")
    assert not review.names_match("Piet de Vries", "Jan", "de Vries")


async def test_two_helpdesk_members_never_decide_the_same_request(
    db: AsyncSession, person_factory: Any
) -> None:
    person = await person_factory()
    now = utcnow()
    row = await submitted(db, at=now - timedelta(hours=2))
    claimed = await review.claim(db, row.id, staff_id=ALICE, meta=META, now=now)
    assert claimed.status is RequestStatus.IN_REVIEW
    assert claimed.claimed_by == ALICE
    # Bob sees who holds it, and cannot take it nor decide it.
    with pytest.raises(AccessError) as conflict:
        await review.claim(db, row.id, staff_id=BOB, now=now)
    assert (conflict.value.status, conflict.value.code) == (409, "CLAIM_CONFLICT")
    assert conflict.value.extra["claimedBy"] == str(ALICE)
    with pytest.raises(AccessError) as deciding:
        await review.refuse(db, row.id, staff_id=BOB, reason="No.", now=now)
    assert deciding.value.code == "CLAIM_CONFLICT"
    # Alice's claim runs out after CLAIM_TTL: then Bob may take it over.
    later = now + review.CLAIM_TTL + timedelta(seconds=1)
    taken = await review.claim(db, row.id, staff_id=BOB, now=later)
    assert taken.claimed_by == BOB
    with pytest.raises(AccessError) as late:
        await review.approve(
            db,
            row.id,
            staff_id=ALICE,
            person_id=person.person["id"],
            settings=SETTINGS,
            now=later,
        )
    assert late.value.code == "CLAIM_CONFLICT"


async def test_a_decided_request_is_never_decided_again(
    db: AsyncSession, person_factory: Any
) -> None:
    person = await person_factory()
    row = await submitted(db, at=utcnow() - timedelta(hours=1))
    refused = await review.refuse(
        db, row.id, staff_id=ALICE, reason="The document is not legible.", meta=META
    )
    assert refused.status is RequestStatus.REFUSED
    assert refused.staff_message == "The document is not legible."
    assert refused.decided_by == ALICE
    for attempt in (
        review.approve(db, row.id, staff_id=BOB, person_id=person.person["id"], settings=SETTINGS),
        review.approve(
            db, row.id, staff_id=ALICE, person_id=person.person["id"], settings=SETTINGS
        ),
        review.ask_more_info(db, row.id, staff_id=ALICE, message="?"),
        review.claim(db, row.id, staff_id=BOB),
    ):
        with pytest.raises(AccessError) as caught:
            await attempt
        assert (caught.value.status, caught.value.code) == (409, "ALREADY_DECIDED")
    again = await db.scalar(
        select(AccessRequest)
        .where(AccessRequest.id == refused.id)
        .execution_options(populate_existing=True)
    )
    assert again is not None
    assert (again.status, again.person_id) == (RequestStatus.REFUSED, None)


async def test_approval_binds_the_person_tells_them_and_is_audited(
    db: AsyncSession, person_factory: Any
) -> None:
    person = await person_factory(preferred_language="nl")
    now = utcnow()
    row = await submitted(db, at=now - timedelta(minutes=30))
    await review.claim(db, row.id, staff_id=ALICE, now=now - timedelta(minutes=1))
    with pytest.raises(NotFound):
        await review.approve(
            db, row.id, staff_id=ALICE, person_id=uuid.uuid4(), settings=SETTINGS, now=now
        )
    approved = await review.approve(
        db, row.id, staff_id=ALICE, person_id=person.person["id"], settings=SETTINGS, now=now
    )
    assert approved.status is RequestStatus.APPROVED
    assert approved.person_id == person.person["id"]
    assert approved.claimed_by is None
    assert approved.approval_expires_at == now + SETTINGS.access_approval_validity
    notice = await db.scalar(
        select(InboxMessage).where(
            InboxMessage.person_id == person.person["id"],
            InboxMessage.kind == MessageKind.SECURITY,
        )
    )
    assert notice is not None
    assert "goedgekeurd" in notice.subject
    trail = (
        await db.scalars(
            select(AuditEvent)
            .where(AuditEvent.action.like("access_request.%"), AuditEvent.actor != "person")
            .order_by(AuditEvent.occurred_at)
        )
    ).all()
    assert [(e.action, e.actor) for e in trail] == [
        ("access_request.claim", f"staff:{ALICE}"),
        ("access_request.approved", f"staff:{ALICE}"),
    ]
    assert trail[1].person_id == person.person["id"]
    assert trail[1].details["staff_id"] == str(ALICE)
    detail = await review.get_request(db, row.id)
    assert [e.kind.value for e in detail.events] == ["submitted", "claimed", "approved"]
    assert detail.events[-1].waited_seconds == 30 * 60


async def test_more_information_goes_to_the_person_and_their_answer_back_to_the_queue(
    db: AsyncSession,
) -> None:
    now = utcnow()
    row = await submitted(db, at=now - timedelta(hours=4))
    with pytest.raises(InvalidInput):
        await review.ask_more_info(db, row.id, staff_id=ALICE, message="  ", now=now)
    asked = await review.ask_more_info(
        db, row.id, staff_id=ALICE, message="Please film your face in daylight.", now=now
    )
    assert asked.status is RequestStatus.MORE_INFO
    assert row.id not in [i.request.id for i in (await review.list_queue(db, now=now)).items]
    with pytest.raises(AccessError) as waiting:
        await review.claim(db, row.id, staff_id=BOB, now=now)
    assert waiting.value.code == "WAITING_FOR_PERSON"
    # The person answers (and could upload a new video first): back in the queue, at the end.
    later = now + timedelta(days=1)
    mine = await db.get(AccessRequest, row.id)
    assert mine is not None
    assert {mine.status} <= service.UPLOAD_STATUSES
    answered = await service.respond(db, mine, message="New video uploaded.", meta=META, now=later)
    assert answered.status is RequestStatus.SUBMITTED
    assert answered.queued_at == later
    assert [i.request.id for i in (await review.list_queue(db, now=later)).items] == [row.id]
    with pytest.raises(AccessError):
        await service.respond(db, answered, message="again", meta=META)
