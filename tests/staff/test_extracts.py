"""Extracts for the credentials officer: found with a reason (a view the holder sees),
revoked with a reason: verifiers then answer `revoked`."""

from __future__ import annotations

import httpx
from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession

from records.models import Person
from staff.models import Role
from tests.extracts.flows import create_extract, fetch_jws, holder, verify
from tests.staff.support import events, signed_in_member
from tests.support import asgi_client


async def test_an_extract_is_found_and_revoked_with_a_reason(
    app: Litestar, client: httpx.AsyncClient, db: AsyncSession
) -> None:
    async with asgi_client(app) as phone:
        person_id, diploma_id = await holder(phone, db, family_name="Nakamura")
        extract = await create_extract(phone, diploma_id)
        token = await fetch_jws(phone, extract["id"])
    member = await signed_in_member(db, client, frozenset({Role.CREDENTIALS}))

    without_reason = await client.get("/staff/extracts", params={"extract": extract["id"]})
    assert without_reason.status_code == 400
    assert "Nakamura" not in without_reason.text
    found = await client.get(
        "/staff/extracts", params={"extract": extract["id"], "reason": "Verifier reported fraud"}
    )
    assert found.status_code == 200
    assert "Nakamura" in found.text
    assert "MSc Computer Science" in found.text
    person = await db.get(Person, person_id)
    assert person is not None
    by_person = await client.get(
        "/staff/extracts",
        params={"customer": person.customer_number, "reason": "Holder asked by phone"},
    )
    assert extract["id"] in by_person.text

    refused = await client.post(
        f"/staff/extracts/{extract['id']}/revoke",
        data={"reason": "", "search_reason": "Holder asked by phone", "_csrf": member.csrf},
    )
    assert refused.status_code == 400
    # The extract stays in front of the member, the error at its own reason field (not at
    # the search's reason), so that they give the reason instead of searching again.
    field = f"revoke-reason-{extract['id']}"
    assert f'href="#{field}"' in refused.text
    assert f'id="{field}-error"' in refused.text
    assert 'id="reason-error"' not in refused.text
    assert f'action="/staff/extracts/{extract["id"]}/revoke"' in refused.text
    revoked = await client.post(
        f"/staff/extracts/{extract['id']}/revoke",
        data={"reason": "Issued for the wrong diploma", "_csrf": member.csrf},
    )
    assert revoked.status_code == 303

    assert (await verify(client, token))["result"] == "revoked"
    views = await events(db, "staff.view_person")
    assert [(v.person_id, v.details["staffRole"], v.details["purposeReason"]) for v in views] == [
        (person_id, "credentials", "Verifier reported fraud"),
        (person_id, "credentials", "Holder asked by phone"),
        (person_id, "credentials", "Holder asked by phone"),  # shown again with the error
    ]
    [revocation] = await events(db, "extract.revoke")
    assert revocation.staff_id == member.id
    assert revocation.details["staffReason"] == "Issued for the wrong diploma"


async def test_extracts_need_the_credentials_role(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    await signed_in_member(db, client, frozenset(Role) - {Role.CREDENTIALS})

    answer = await client.get("/staff/extracts")

    assert answer.status_code == 403
    assert [e.details["requiredRole"] for e in await events(db, "staff.forbidden")] == [
        "credentials"
    ]
