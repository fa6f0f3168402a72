"""The activation queue in the staff UI: roles, the queue, a request beside DUO's record (views
logged for the persons shown), documents served inert, decisions and their conflicts."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from access.models import AccessRequest, RequestStatus
from api.settings import Settings
from auth.models import Passkey
from staff.models import Role
from tests.access.support import requester
from tests.staff.support import events, signed_in_member
from tests.support import asgi_client, sign_in

Client = httpx.AsyncClient


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.with_overrides(forms_attachment_dir=tmp_path / "attachments")


async def a_request(app: Litestar, person: Any, **changes: Any) -> uuid.UUID:
    """A request sent from a person's browser (its own client) for this person."""
    async with asgi_client(app) as browser:
        me = requester(browser)
        await me.submit_complete(
            fullName=f"{person.person['given_names']} {person.person['family_name']}",
            dateOfBirth=person.person["date_of_birth"].isoformat(),
            customerNumber=person.person["customer_number"],
            **changes,
        )
    return uuid.UUID(str(me.request_id))


async def test_the_queue_is_for_the_helpdesk_only(
    app: Litestar, client: Client, db: AsyncSession, person_factory: Any
) -> None:
    person = await person_factory()
    await sign_in(client, db, person.person["id"])
    assert (await client.get("/staff/activation")).status_code == 401  # a person's session
    await signed_in_member(db, client, frozenset({Role.FORMS}), name="Forms Only")
    assert (await client.get("/staff/activation")).status_code == 403
    refused = await events(db, "staff.forbidden")
    assert refused[-1].details["requiredRole"] == "helpdesk"


async def test_the_queue_shows_timings_filters_and_a_takeover_warning(
    app: Litestar, client: Client, db: AsyncSession, person_factory: Any
) -> None:
    person = await person_factory(given_names="Mei", family_name="Zhang")
    db.add(
        Passkey(
            person_id=person.person["id"],
            credential_id=b"c" * 16,
            public_key=b"k",
            aaguid="00000000-0000-0000-0000-000000000000",
            name="Phone",
        )
    )
    await db.commit()
    await a_request(app, person, country="AU")
    await signed_in_member(db, client, frozenset({Role.HELPDESK}))
    page = await client.get("/staff/activation")
    assert page.status_code == 200
    assert 'id="stats-open">1<' in page.text
    assert "Mei Zhang" in page.text
    assert "Account heeft 1 passkey: mogelijke overname" in page.text  # Dutch first
    assert "1 passende persoon<" in page.text  # one, not "perso(o)n(en)"
    client.cookies.set("duo_staff_lang", "en", domain="testserver.local")
    english = await client.get("/staff/activation")
    assert "Account has 1 passkey: possible takeover" in english.text
    assert "1 matching person<" in english.text
    client.cookies.delete("duo_staff_lang")
    other_country = await client.get("/staff/activation", params={"country": "ID"})
    assert "Mei Zhang" not in other_country.text
    old_only = await client.get("/staff/activation", params={"age": "24"})
    assert 'id="queue-empty"' in old_only.text
    bad = await client.get("/staff/activation", params={"age": "5"})
    assert bad.status_code == 400


async def test_opening_a_request_claims_it_logs_each_view_and_shows_the_files(
    app: Litestar, client: Client, db: AsyncSession, person_factory: Any
) -> None:
    person = await person_factory()
    request_id = await a_request(app, person)
    member = await signed_in_member(db, client, frozenset({Role.HELPDESK}))
    claimed = await client.post(
        f"/staff/activation/{request_id}/claim", data={"_csrf": member.csrf}
    )
    assert claimed.status_code == 303
    page = await client.get(claimed.headers["location"])
    assert page.status_code == 200
    assert person.person["customer_number"] in page.text
    views = await events(db, "staff.view_person")
    assert [(v.person_id, v.staff_id, v.details["purposeKind"]) for v in views] == [
        (person.person["id"], member.id, "activation_request")
    ]
    assert views[0].details["purposeReference"] == str(request_id)
    assert views[0].details["staffRole"] == "helpdesk"

    urls = re.findall(r'src="(/staff/activation/[^"]+/files/[^"]+)"', page.text)
    assert len(urls) == 2  # the passport photo and the video
    photo, video = [await client.get(u) for u in urls]
    assert (photo.status_code, photo.headers["content-type"]) == (200, "image/png")
    assert photo.headers["content-disposition"].startswith("inline")
    assert "sandbox" in photo.headers["content-security-policy"]
    assert photo.headers["x-content-type-options"] == "nosniff"
    assert "no-store" in photo.headers["cache-control"]
    assert video.headers["content-type"] == "video/webm"
    assert len(await events(db, "access_request.file_view")) == 2
    # Another request's file, or a made-up one: not found.
    unknown = await client.get(f"/staff/activation/{uuid.uuid4()}/files/{urls[0].split('/')[-1]}")
    assert unknown.status_code == 404


async def test_decisions_by_two_members_and_on_a_decided_request_are_refused(
    app: Litestar, client: Client, db: AsyncSession, person_factory: Any
) -> None:
    person = await person_factory()
    stranger = await person_factory()
    request_id = await a_request(app, person)
    alice = await signed_in_member(db, client, frozenset({Role.HELPDESK}), name="Alice Smit")
    assert (
        await client.post(f"/staff/activation/{request_id}/claim", data={"_csrf": alice.csrf})
    ).status_code == 303
    async with asgi_client(app) as desk:
        bob = await signed_in_member(db, desk, frozenset({Role.HELPDESK}), name="Bob Kok")
        taken = await desk.post(
            f"/staff/activation/{request_id}/approve",
            data={"person": str(person.person["id"]), "_csrf": bob.csrf},
        )
        assert taken.status_code == 409
        assert "Alice Smit behandelt deze aanvraag" in taken.text
    # Approving for someone the page did not show, or without the form token, does nothing.
    wrong = await client.post(
        f"/staff/activation/{request_id}/approve",
        data={"person": str(stranger.person["id"]), "_csrf": alice.csrf},
    )
    assert wrong.status_code == 400
    forged = await client.post(
        f"/staff/activation/{request_id}/approve", data={"person": str(person.person["id"])}
    )
    assert forged.status_code == 403
    refused = await client.post(
        f"/staff/activation/{request_id}/refuse",
        data={"reason": "The video shows someone else.", "_csrf": alice.csrf},
    )
    assert refused.status_code == 303
    again = await client.post(
        f"/staff/activation/{request_id}/approve",
        data={"person": str(person.person["id"]), "_csrf": alice.csrf},
    )
    assert again.status_code == 409
    assert "al beslist" in again.text
    db.expire_all()
    row = await db.scalar(select(AccessRequest).where(AccessRequest.id == request_id))
    assert row is not None
    assert (row.status, row.person_id, row.decided_by) == (RequestStatus.REFUSED, None, alice.id)


async def test_a_question_needs_text_and_reaches_the_person(
    app: Litestar, client: Client, db: AsyncSession, person_factory: Any
) -> None:
    person = await person_factory()
    request_id = await a_request(app, person)
    member = await signed_in_member(db, client, frozenset({Role.HELPDESK}))
    empty = await client.post(
        f"/staff/activation/{request_id}/more-info", data={"message": " ", "_csrf": member.csrf}
    )
    assert empty.status_code == 400
    assert 'href="#message"' in empty.text
    asked = await client.post(
        f"/staff/activation/{request_id}/more-info",
        data={"message": "Please film in daylight.", "_csrf": member.csrf},
    )
    assert asked.status_code == 303
    db.expire_all()
    row = await db.scalar(select(AccessRequest).where(AccessRequest.id == request_id))
    assert row is not None
    assert (row.status, row.staff_message) == (RequestStatus.MORE_INFO, "Please film in daylight.")
