"""The forms queue: a submission with an attachment is opened (a logged view), its attachment
downloaded as a file, its receipt checked, and decided by the one who holds it."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from api.database import utcnow
from auth.models import AuditEvent
from forms.models import FormSubmission, SubmissionStatus
from notifications.models import InboxMessage, MessageKind
from staff import claims, forms_queue
from staff.errors import StaffError
from staff.models import Role, StaffMember
from staff.sessions import StaffPrincipal
from tests.forms.support import entry, income, png_bytes, submit, upload
from tests.staff.support import Member, events, invite, signed_in_member
from tests.support import add_person, asgi_client, sign_in

VIEW = re.compile(r"/staff/forms/([0-9a-f-]{36})\?view=([0-9a-f-]{36})")


async def submitted(app: Litestar, db: AsyncSession, **person: Any) -> tuple[dict[str, Any], str]:
    """A person (in their own browser) sends an income statement with a photo as evidence."""
    bundle = await add_person(db, **person)
    async with asgi_client(app) as phone:
        await sign_in(phone, db, bundle.person["id"])
        attachment = await upload(phone, png_bytes(padding=300), "payslip.png")
        item = entry("income-statement", 1, income([attachment]))
        result = await submit(phone, item)
    assert result["status"] == "ACCEPTED", result
    return bundle.person, item["clientId"]


async def open_it(client: httpx.AsyncClient, member: Member, client_id: str) -> str:
    """Press "Open" in the queue; the detail page's URL (with the logged view)."""
    opened = await client.post(f"/staff/forms/{client_id}/open", data={"_csrf": member.csrf})
    assert opened.status_code == 303, opened.text
    location: str = opened.headers["location"]
    assert VIEW.fullmatch(location), location
    return location


def principal(member: Member, roles: frozenset[Role] = frozenset({Role.FORMS})) -> StaffPrincipal:
    return StaffPrincipal(staff_id=member.id, name="x", roles=roles, session_id=member.session_id)


async def test_the_queue_lists_waiting_submissions_without_naming_anyone(
    app: Litestar, client: httpx.AsyncClient, db: AsyncSession
) -> None:
    _, client_id = await submitted(app, db, family_name="Okonkwo")
    await signed_in_member(db, client, frozenset({Role.FORMS}))

    answer = await client.get("/staff/forms")

    assert answer.status_code == 200
    assert "Inkomensverklaring voor de terugbetaling" in answer.text
    assert client_id[:8] in answer.text
    assert "Okonkwo" not in answer.text
    assert await events(db, "staff.view_person") == []
    # The age filter in words: one day, several days.
    assert ">meer dan 1 dag<" in answer.text
    assert ">meer dan 3 dagen<" in answer.text
    assert "<td>minder dan 1 d</td>" in answer.text  # received today: not "0 d"


async def test_a_submission_is_read_with_labels_downloaded_and_rejected_with_a_reason(
    app: Litestar, client: httpx.AsyncClient, db: AsyncSession
) -> None:
    person, client_id = await submitted(app, db, family_name="Okonkwo", preferred_language="en")
    member = await signed_in_member(db, client, frozenset({Role.FORMS}))

    detail = await client.get(await open_it(client, member, client_id))

    assert detail.status_code == 200
    assert "Okonkwo" in detail.text
    assert "Belangrijkste bron van inkomen" in detail.text  # Dutch labels first
    assert "Loondienst" in detail.text
    assert "door DUO ondertekend, klopt met deze inhoud" in detail.text  # receipt holds
    view = VIEW.search(detail.text)
    assert view is not None
    english = await client.get(f"/staff/forms/{client_id}?view={view.group(2)}&labels=en")
    assert "Main source of income" in english.text

    link = re.search(r'href="(/staff/forms/[^"]+/attachments/[^"]+)"', detail.text)
    assert link is not None
    download = await client.get(link.group(1).replace("&amp;", "&"))
    assert download.status_code == 200
    assert download.content == png_bytes(padding=300)
    assert download.headers["content-disposition"].startswith("attachment;")
    assert "payslip.png" in download.headers["content-disposition"]
    assert download.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in download.headers["content-security-policy"]

    refused = await client.post(
        f"/staff/forms/{client_id}/decide",
        data={"decision": "rejected", "reason": " ", "view": view.group(2), "_csrf": member.csrf},
    )
    assert refused.status_code == 400
    assert 'href="#reason"' in refused.text
    decided = await client.post(
        f"/staff/forms/{client_id}/decide",
        data={
            "decision": "rejected",
            "reason": "The payslip does not show the year 2025.",
            "view": view.group(2),
            "_csrf": member.csrf,
        },
    )
    assert decided.status_code == 303

    db.expire_all()
    row = await db.scalar(
        select(FormSubmission).where(FormSubmission.client_id == uuid.UUID(client_id))
    )
    assert row is not None
    assert row.status == SubmissionStatus.REJECTED
    message = await db.scalar(
        select(InboxMessage).where(
            InboxMessage.person_id == person["id"], InboxMessage.kind == MessageKind.FORM_STATUS
        )
    )
    assert message is not None
    assert "The payslip does not show the year 2025." in message.body
    views = await events(db, "staff.view_person")
    assert [
        (e.person_id, e.staff_id, e.details["staffRole"], e.details["purposeKind"]) for e in views
    ] == [(person["id"], member.id, "forms", "submission")]
    assert [e.person_id for e in await events(db, "staff.download_attachment")] == [person["id"]]
    assert [e.details["decision"] for e in await events(db, "staff.decide_submission")] == [
        "rejected"
    ]


async def test_a_submission_is_not_shown_without_a_fresh_view_of_ones_own(
    app: Litestar, client: httpx.AsyncClient, db: AsyncSession
) -> None:
    _, client_id = await submitted(app, db, family_name="Okonkwo")
    member = await signed_in_member(db, client, frozenset({Role.FORMS}))
    async with asgi_client(app) as colleague_client:
        colleague = await signed_in_member(db, colleague_client, frozenset({Role.FORMS}), "C")
        theirs = await open_it(colleague_client, colleague, client_id)

    for path in (f"/staff/forms/{client_id}", theirs, f"/staff/forms/{client_id}?view=nonsense"):
        answer = await client.get(path)
        assert answer.status_code == 200
        assert "Okonkwo" not in answer.text
        assert "Dit formulier openen" in answer.text
    del member


async def test_two_staff_never_decide_the_same_submission(
    app: Litestar, client: httpx.AsyncClient, db: AsyncSession
) -> None:
    _, client_id = await submitted(app, db)
    first = await signed_in_member(db, client, frozenset({Role.FORMS}), "First")
    mine = await open_it(client, first, client_id)
    async with asgi_client(app) as other:
        second = await signed_in_member(db, other, frozenset({Role.FORMS}), "Second")
        theirs = await other.get(await open_it(other, second, client_id))
        assert "First behandelt dit formulier tot" in theirs.text
        assert "Besluit opslaan" not in theirs.text

        conflict = await other.post(
            f"/staff/forms/{client_id}/decide",
            data={"decision": "processed", "_csrf": second.csrf},
        )
        assert conflict.status_code == 409
        assert "First behandelt dit tot" in conflict.text

        view = VIEW.fullmatch(mine)
        assert view is not None
        done = await client.post(
            f"/staff/forms/{client_id}/decide",
            data={"decision": "processed", "view": view.group(2), "_csrf": first.csrf},
        )
        assert done.status_code == 303
        late = await other.post(
            f"/staff/forms/{client_id}/decide",
            data={"decision": "rejected", "reason": "no", "_csrf": second.csrf},
        )
        assert late.status_code == 409
        assert "Iemand heeft al over dit formulier beslist" in late.text
    assert len(await events(db, "staff.decide_submission")) == 1


async def test_an_expired_claim_can_be_taken_over(app: Litestar, db: AsyncSession) -> None:
    _, client_id = await submitted(app, db)
    first = await signed_in_member(db, httpx.AsyncClient(), frozenset({Role.FORMS}), "First")
    second = await signed_in_member(db, httpx.AsyncClient(), frozenset({Role.FORMS}), "Second")
    item = uuid.UUID(client_id)
    then = utcnow() - claims.CLAIM_TTL - timedelta(seconds=1)
    await claims.claim(db, kind=forms_queue.KIND, item_id=item, staff=principal(first), now=then)

    await claims.claim(db, kind=forms_queue.KIND, item_id=item, staff=principal(second))

    with pytest.raises(StaffError) as refused:
        await claims.require(db, kind=forms_queue.KIND, item_id=item, staff=principal(first))
    assert refused.value.code == "CONFLICT"
    with pytest.raises(StaffError):
        await claims.claim(db, kind=forms_queue.KIND, item_id=item, staff=principal(first))


async def test_the_forms_queue_needs_the_forms_role(
    app: Litestar, client: httpx.AsyncClient, db: AsyncSession
) -> None:
    _, client_id = await submitted(app, db)
    member = await signed_in_member(db, client, frozenset(Role) - {Role.FORMS})
    for method, path in (
        ("GET", "/staff/forms"),
        ("POST", f"/staff/forms/{client_id}/open"),
        ("POST", f"/staff/forms/{client_id}/decide"),
    ):
        answer = await client.request(method, path, data={"_csrf": member.csrf})
        assert answer.status_code == 403
    assert len(await events(db, "staff.forbidden")) == 3


async def test_concurrent_claims_in_separate_transactions_give_one_holder(
    engine: AsyncEngine, is_postgres: bool
) -> None:
    """Real committed transactions racing for one item: exactly one claim wins."""
    if not is_postgres:
        pytest.skip("needs PostgreSQL's concurrent transactions (SQLite serialises writers)")
    factory = async_sessionmaker(engine, expire_on_commit=False)
    started = utcnow()
    members = []
    async with factory() as db:
        for name in ("Racer A", "Racer B"):
            member_id, _ = await invite(db, name, frozenset({Role.FORMS}))
            members.append(member_id)
    item = uuid.uuid4()

    async def race(member_id: uuid.UUID) -> str:
        async with factory() as db:
            staff = StaffPrincipal(
                staff_id=member_id, name="", roles=frozenset({Role.FORMS}), session_id=item
            )
            try:
                await claims.claim(db, kind=forms_queue.KIND, item_id=item, staff=staff)
            except StaffError as exc:
                await db.rollback()
                return exc.code
            await db.commit()
            return "claimed"

    try:
        results = await asyncio.gather(*(race(m) for m in members))
        assert sorted(results) == ["CONFLICT", "claimed"]
    finally:
        async with factory() as db:
            await db.execute(delete(StaffMember).where(StaffMember.id.in_(members)))
            # Their invites were audited for real (outside the rolled-back test transaction).
            await db.execute(
                delete(AuditEvent).where(
                    AuditEvent.action == "staff.invite", AuditEvent.occurred_at >= started
                )
            )
            await db.commit()


async def test_housekeeping_drops_claims_that_ran_out(db: AsyncSession) -> None:
    member = await signed_in_member(db, httpx.AsyncClient(), frozenset({Role.FORMS}))
    old, live = uuid.uuid4(), uuid.uuid4()
    then = utcnow() - claims.CLAIM_TTL - timedelta(minutes=1)
    await claims.claim(db, kind=forms_queue.KIND, item_id=old, staff=principal(member), now=then)
    await claims.claim(db, kind=forms_queue.KIND, item_id=live, staff=principal(member))

    assert await claims.purge_expired(db) == 1
    assert await claims.holder(db, kind=forms_queue.KIND, item_id=live) is not None
