"""The helpdesk's person page: found, opened only with a purpose the person sees; a code for a
phone case; every passkey and session revoked on a suspected takeover, with a reason."""

from __future__ import annotations

import re
from typing import Any

import httpx
from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession

from staff.models import Role
from tests.access.support import requester
from tests.access.test_registration import approve, register
from tests.auth.flows import activate, error_code, login, passkey_count
from tests.staff.support import Member, events, signed_in_member
from tests.support import add_person, asgi_client, sign_in
from tests.webauthn_soft import SoftAuthenticator

VIEW = re.compile(r"/staff/persons/([0-9a-f-]{36})\?view=([0-9a-f-]{36})")
SECURITY = """{ viewer { securityEvents(first: 20) { nodes {
  action occurredAt ipAddress userAgent byStaff staffRole staffPurpose staffReference staffReason
} } } }"""


async def open_record(
    client: httpx.AsyncClient, member: Member, person_id: object, reason: str
) -> str:
    answer = await client.post(
        f"/staff/persons/{person_id}/open",
        data={"purpose": "other", "reason": reason, "_csrf": member.csrf},
    )
    assert answer.status_code == 303, answer.text
    found = VIEW.fullmatch(answer.headers["location"])
    assert found, answer.headers["location"]
    return found.group(2)


async def person_events(app: Litestar, db: AsyncSession, person_id: object) -> list[Any]:
    async with asgi_client(app) as phone:
        await sign_in(phone, db, person_id)  # type: ignore[arg-type]
        body = (await phone.post("/graphql", json={"query": SECURITY})).json()
    nodes: list[Any] = body["data"]["viewer"]["securityEvents"]["nodes"]
    return nodes


async def test_search_shows_names_only_and_the_record_needs_a_purpose(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    bundle = await add_person(db, family_name="Haddad")
    person = bundle.person
    await signed_in_member(db, client, frozenset({Role.HELPDESK}))

    found = await client.get("/staff/persons", params={"customer": person["customer_number"]})
    assert "Haddad" in found.text
    assert str(person["date_of_birth"]) not in found.text
    by_name = await client.get(
        "/staff/persons",
        params={"family_name": "haddad", "dob": person["date_of_birth"].isoformat()},
    )
    assert person["customer_number"] in by_name.text
    asked = await client.get(f"/staff/persons/{person['id']}")
    assert "Waarom opent u dit dossier?" in asked.text
    assert "Haddad" not in asked.text
    assert len(await events(db, "staff.search_persons")) == 2
    assert await events(db, "staff.view_person") == []


async def test_a_purpose_is_required_and_shown_to_the_person(
    app: Litestar, client: httpx.AsyncClient, db: AsyncSession
) -> None:
    bundle = await add_person(db, family_name="Haddad")
    person_id = bundle.person["id"]
    member = await signed_in_member(db, client, frozenset({Role.HELPDESK}))

    refused = await client.post(
        f"/staff/persons/{person_id}/open",
        data={"purpose": "other", "reason": "  ", "_csrf": member.csrf},
    )
    assert refused.status_code == 400
    assert 'href="#reason"' in refused.text
    view = await open_record(client, member, person_id, "Phone call: lost passkey")
    record = await client.get(f"/staff/persons/{person_id}?view={view}")
    assert record.status_code == 200
    assert "Haddad" in record.text
    # The security events name the member who viewed (as the audit page does), not an id.
    assert "<td>Bram Jansen</td>" in record.text
    # Events in words, the code beside them for whoever searches the audit log.
    assert "Dossier ingezien door DUO" in record.text
    assert '<span class="code hint">staff.view_person</span>' in record.text
    assert "<td>gelukt</td>" in record.text
    assert f"staff:{member.id}" not in record.text

    nodes = await person_events(app, db, person_id)
    seen = [n for n in nodes if n["action"] == "staff.view_person"]
    assert seen == [
        {
            "action": "staff.view_person",
            "occurredAt": seen[0]["occurredAt"],
            "ipAddress": None,
            "userAgent": None,
            "byStaff": True,
            "staffRole": "helpdesk",
            "staffPurpose": "other",
            "staffReference": None,
            "staffReason": "Phone call: lost passkey",
        }
    ]


async def test_a_submission_purpose_must_be_the_persons_own(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    bundle = await add_person(db)
    member = await signed_in_member(db, client, frozenset({Role.HELPDESK}))

    answer = await client.post(
        f"/staff/persons/{bundle.person['id']}/open",
        data={
            "purpose": "submission",
            "reference": "5f0c6f2e-9a4b-4c1e-8d1a-2b3c4d5e6f70",
            "_csrf": member.csrf,
        },
    )

    assert answer.status_code == 400
    assert 'href="#reference"' in answer.text


async def test_a_code_issued_from_the_page_activates_the_person(
    app: Litestar, client: httpx.AsyncClient, db: AsyncSession
) -> None:
    bundle = await add_person(db)
    person = bundle.person
    member = await signed_in_member(db, client, frozenset({Role.HELPDESK}))
    view = await open_record(client, member, person["id"], "Video call, passport checked")

    answer = await client.post(
        f"/staff/persons/{person['id']}/activation-code", data={"view": view, "_csrf": member.csrf}
    )

    assert answer.status_code == 200
    code = re.search(r'<p class="code big">([0-9A-Z-]{19})</p>', answer.text)
    assert code is not None
    async with asgi_client(app) as phone:
        done = await activate(phone, SoftAuthenticator(), code.group(1), person["date_of_birth"])
        assert done.status_code == 200, done.text
    [issued] = await events(db, "activation.issue")
    assert (issued.staff_id, issued.details["staffRole"]) == (member.id, "helpdesk")


async def test_revoking_access_ends_every_passkey_and_session_with_a_reason(
    app: Litestar, client: httpx.AsyncClient, db: AsyncSession
) -> None:
    bundle = await add_person(db, preferred_language="en")
    person = bundle.person
    member = await signed_in_member(db, client, frozenset({Role.HELPDESK}))
    authenticator = SoftAuthenticator()
    view = await open_record(client, member, person["id"], "Takeover reported by phone")
    issued = await client.post(
        f"/staff/persons/{person['id']}/activation-code", data={"view": view, "_csrf": member.csrf}
    )
    code = re.search(r'<p class="code big">([0-9A-Z-]{19})</p>', issued.text)
    assert code is not None
    async with asgi_client(app) as phone:
        assert (
            await activate(phone, authenticator, code.group(1), person["date_of_birth"])
        ).status_code == 200

        without_reason = await client.post(
            f"/staff/persons/{person['id']}/revoke-access",
            data={"view": view, "reason": "", "_csrf": member.csrf},
        )
        assert without_reason.status_code == 400
        revoked = await client.post(
            f"/staff/persons/{person['id']}/revoke-access",
            data={"view": view, "reason": "Someone else signed in", "_csrf": member.csrf},
        )
        assert revoked.status_code == 303

        body = (await phone.post("/graphql", json={"query": "{ viewer { person { id } } }"})).json()
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert (await login(phone, authenticator)).status_code == 400
    nodes = await person_events(app, db, person["id"])
    [event] = [n for n in nodes if n["action"] == "staff.revoke_access"]
    assert (event["staffRole"], event["staffReason"]) == ("helpdesk", "Someone else signed in")


async def test_actions_need_a_fresh_view(client: httpx.AsyncClient, db: AsyncSession) -> None:
    bundle = await add_person(db)
    member = await signed_in_member(db, client, frozenset({Role.HELPDESK}))

    answer = await client.post(
        f"/staff/persons/{bundle.person['id']}/activation-code",
        data={"view": "00000000-0000-0000-0000-000000000000", "_csrf": member.csrf},
    )

    assert answer.status_code == 403
    assert await events(db, "activation.issue") == []


async def test_revoking_access_also_stops_an_approved_access_request_not_yet_redeemed(
    app: Litestar, client: httpx.AsyncClient, db: AsyncSession
) -> None:
    """Suspected takeover: an approval whose browser has not registered yet (perhaps the
    takeover itself) registers nothing once staff revoked everything."""
    bundle = await add_person(db)
    person = bundle.person
    member = await signed_in_member(db, client, frozenset({Role.HELPDESK}))
    async with asgi_client(app) as requesting_browser:
        me = requester(requesting_browser)
        await me.submit_complete()
        await approve(db, me, person["id"])
        assert (await me.state()).json()["canRegister"] is True

        view = await open_record(client, member, person["id"], "Takeover reported by phone")
        revoked = await client.post(
            f"/staff/persons/{person['id']}/revoke-access",
            data={"view": view, "reason": "Someone else asked for access", "_csrf": member.csrf},
        )
        assert revoked.status_code == 303

        state = (await me.state()).json()
        assert (state["status"], state["canRegister"]) == ("approved", False)
        refused = await register(requesting_browser, me.request_id, me.secret, SoftAuthenticator())
        assert refused.status_code == 400
        assert error_code(refused) == "ACCESS_REQUEST_INVALID"
    assert await passkey_count(db, person["id"]) == 0
    [event] = await events(db, "staff.revoke_access")
    assert event.details["accessApprovalsWithdrawn"] == 1
