"""Staff accounts: invites from the UI, roles, deactivation; no self-granting, never no admin."""

from __future__ import annotations

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from auth.audit import RequestMeta
from staff import accounts, sessions
from staff.errors import StaffError
from staff.models import Role, StaffMember, StaffRole
from tests.staff.support import Member, enrol, events, signed_in_member
from tests.support import asgi_client
from tests.webauthn_soft import SoftAuthenticator


async def _roles(db: AsyncSession, member_id: object) -> set[str]:
    db.expire_all()
    rows = await db.scalars(select(StaffRole.role).where(StaffRole.staff_id == member_id))
    return {r.value for r in rows}


async def test_an_admin_invites_a_member_who_enrols_with_the_link(
    app: Litestar, client: httpx.AsyncClient, db: AsyncSession
) -> None:
    admin = await signed_in_member(db, client, frozenset({Role.ADMIN}))

    answer = await client.post(
        "/staff/admin/staff/invite",
        data={"name": "Daan Visser", "roles": ["forms", "helpdesk"], "_csrf": admin.csrf},
    )

    assert answer.status_code == 200
    link = answer.text.split('id="invite-link" class="code" type="text" readonly value="')[1]
    token = link.split('"')[0].split("#", 1)[1]
    async with asgi_client(app) as newcomer:
        assert (await enrol(newcomer, SoftAuthenticator(), token)).status_code == 200
        home = await newcomer.get("/staff/")
        assert "Daan Visser" in home.text
        assert (await newcomer.get("/staff/admin/staff")).status_code == 403
    invited = await events(db, "staff.invite")
    assert [(e.staff_id, e.details["roles"]) for e in invited][-1] == (
        admin.id,
        ["forms", "helpdesk"],
    )


async def test_an_invite_needs_a_name_and_a_role(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    admin = await signed_in_member(db, client, frozenset({Role.ADMIN}))

    answer = await client.post("/staff/admin/staff/invite", data={"name": " ", "_csrf": admin.csrf})

    assert answer.status_code == 400
    assert 'class="error-summary"' in answer.text
    assert 'href="#name"' in answer.text


async def test_nobody_grants_a_role_to_themselves(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    admin = await signed_in_member(db, client, frozenset({Role.ADMIN}))

    answer = await client.post(
        f"/staff/admin/staff/{admin.id}/roles",
        data={"roles": ["admin", "auditor"], "_csrf": admin.csrf},
    )

    assert answer.status_code == 403
    assert await _roles(db, admin.id) == {"admin"}
    refused = await events(db, "staff.roles")
    assert [(e.outcome, e.reason, e.staff_id) for e in refused] == [
        ("failure", "self_grant", admin.id)
    ]


async def test_another_admin_grants_and_removes_roles(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    admin = await signed_in_member(db, client, frozenset({Role.ADMIN}))
    other = await signed_in_member(db, httpx.AsyncClient(), frozenset({Role.FORMS}), name="O")

    answer = await client.post(
        f"/staff/admin/staff/{other.id}/roles",
        data={"roles": ["auditor"], "_csrf": admin.csrf},
    )

    assert answer.status_code == 303
    assert await _roles(db, other.id) == {"auditor"}
    [changed] = await events(db, "staff.roles")
    assert changed.details["added"] == ["auditor"]
    assert changed.details["removed"] == ["forms"]


async def test_the_last_admin_cannot_be_removed(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    admin = await signed_in_member(db, client, frozenset({Role.ADMIN}))

    answer = await client.post(f"/staff/admin/staff/{admin.id}/roles", data={"_csrf": admin.csrf})

    assert answer.status_code == 400
    assert "laatste beheerder" in answer.text
    assert await _roles(db, admin.id) == {"admin"}
    [refusal] = await events(db, "staff.roles")
    assert (refusal.outcome, refusal.reason, refusal.staff_id) == (
        "failure",
        "last_admin",
        admin.id,
    )


def _principal(member: Member) -> sessions.StaffPrincipal:
    return sessions.StaffPrincipal(
        staff_id=member.id, name="x", roles=frozenset({Role.ADMIN}), session_id=member.session_id
    )


async def test_two_admins_removing_each_other_leave_one(db: AsyncSession) -> None:
    """Of two admins deactivating each other, the second is refused: one admin always stays."""
    first = await signed_in_member(db, httpx.AsyncClient(), frozenset({Role.ADMIN}), name="A")
    second = await signed_in_member(db, httpx.AsyncClient(), frozenset({Role.ADMIN}), name="B")

    await accounts.deactivate(db, second.id, by=_principal(first), meta=RequestMeta())
    with pytest.raises(StaffError) as refused:
        await accounts.deactivate(db, first.id, by=_principal(second), meta=RequestMeta())

    assert refused.value.key == "error.lastAdminDeactivate"
    active = await db.scalars(select(StaffMember.name).where(StaffMember.deactivated_at.is_(None)))
    assert list(active) == ["A"]
    recorded = [(e.outcome, e.reason, e.staff_id) for e in await events(db, "staff.deactivate")]
    assert recorded == [("success", None, first.id), ("failure", "last_admin", second.id)]


async def test_an_admin_cannot_deactivate_themselves(db: AsyncSession) -> None:
    first = await signed_in_member(db, httpx.AsyncClient(), frozenset({Role.ADMIN}), name="A")
    await signed_in_member(db, httpx.AsyncClient(), frozenset({Role.ADMIN}), name="B")

    with pytest.raises(StaffError) as refused:
        await accounts.deactivate(db, first.id, by=_principal(first), meta=RequestMeta())

    assert refused.value.code == "FORBIDDEN"
    [refusal] = await events(db, "staff.deactivate")
    assert (refusal.outcome, refusal.reason, refusal.staff_id) == (
        "failure",
        "self_deactivate",
        first.id,
    )


async def test_deactivation_ends_the_members_sessions(
    app: Litestar, client: httpx.AsyncClient, db: AsyncSession
) -> None:
    admin = await signed_in_member(db, client, frozenset({Role.ADMIN}))
    async with asgi_client(app) as theirs:
        other = await signed_in_member(db, theirs, frozenset({Role.FORMS}), name="Eva")
        assert (await theirs.get("/staff/")).status_code == 200

        answer = await client.post(
            f"/staff/admin/staff/{other.id}/deactivate", data={"_csrf": admin.csrf}
        )

        assert answer.status_code == 303
        assert (await theirs.get("/staff/")).status_code == 401
    assert [e.details["memberId"] for e in await events(db, "staff.deactivate")] == [str(other.id)]
