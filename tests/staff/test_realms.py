"""Staff and persons never share a session; every staff page is guarded; refusals are audited."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
from litestar import Litestar
from litestar.routes import HTTPRoute
from sqlalchemy.ext.asyncio import AsyncSession

from staff.models import Role
from tests.staff.support import events, signed_in_member
from tests.support import add_person, sign_in

# Stand-ins for a route's path parameters: any value of the right type does.
_PARAMETERS = {"uuid": str(uuid.UUID(int=7)), "str": "x", "path": "/staff.css", "int": "1"}


def staff_routes(app: Litestar) -> list[tuple[str, str, Any]]:
    """Every (method, concrete path, handler) under /staff, from the app's own route table."""
    found: list[tuple[str, str, Any]] = []
    for route in app.routes:
        if not route.path.startswith("/staff") or not isinstance(route, HTTPRoute):
            continue
        path = re.sub(r"\{(\w+):(\w+)\}", lambda m: _PARAMETERS[m.group(2)], route.path)
        for handler in route.route_handlers:
            for method in handler.http_methods:
                if method not in ("HEAD", "OPTIONS"):
                    found.append((method, path, handler))
    return found


def is_public(handler: Any) -> bool:
    return bool(handler.opt.get("staff_public"))


def test_every_staff_route_is_guarded_or_public(app: Litestar) -> None:
    """A new staff page without a guard fails here (persons' and staff data alike)."""
    unguarded = [
        (method, path)
        for method, path, handler in staff_routes(app)
        if not is_public(handler) and not handler.resolve_guards()
    ]
    assert unguarded == []
    assert len(staff_routes(app)) > 10


async def test_a_persons_session_opens_no_staff_page(
    app: Litestar, client: httpx.AsyncClient, db: AsyncSession
) -> None:
    bundle = await add_person(db, given_names="Zeynep", family_name="Bakker")
    await sign_in(client, db, bundle.person["id"])
    assert (await client.post("/graphql", json={"query": "{ viewer { person { id } } }"})).json()[
        "data"
    ]["viewer"]

    for method, path, handler in staff_routes(app):
        if is_public(handler):
            continue
        answer = await client.request(method, path, data={"_csrf": "x"})
        assert answer.status_code == 401, (method, path, answer.status_code)
        assert "Bakker" not in answer.text
        assert "Zeynep" not in answer.text
        assert "duo_staff=" not in answer.headers.get("set-cookie", "")


async def test_public_staff_pages_show_nothing_but_sign_in(
    app: Litestar, client: httpx.AsyncClient, db: AsyncSession
) -> None:
    await signed_in_member(db, client, frozenset({Role.HELPDESK}), name="Carla Smit")
    client.cookies.clear()
    bundle = await add_person(db)
    await sign_in(client, db, bundle.person["id"])
    for path in ("/staff/sign-in", "/staff/enrol"):
        answer = await client.get(path)
        assert answer.status_code == 200
        assert "Carla Smit" not in answer.text
        assert str(bundle.person["family_name"]) not in answer.text


async def test_a_staff_session_is_not_a_persons_session(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    await signed_in_member(db, client, frozenset(Role))

    body = (await client.post("/graphql", json={"query": "{ viewer { person { id } } }"})).json()

    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert (await client.get("/forms/attachments/" + str(uuid.uuid4()))).status_code == 401


def required_role(handler: Any) -> Role | None:
    for guard in handler.resolve_guards():
        role = getattr(guard, "required_role", None)
        if role is not None:
            return Role(role)
    return None


async def test_every_role_page_refuses_members_without_the_role_and_audits_it(
    app: Litestar, client: httpx.AsyncClient, db: AsyncSession
) -> None:
    guarded = [(m, p, required_role(h)) for m, p, h in staff_routes(app) if required_role(h)]
    assert {role for _, _, role in guarded} == set(Role)
    members = {}
    for each in Role:
        members[each] = await signed_in_member(db, httpx.AsyncClient(), frozenset(Role) - {each})

    for method, path, role in guarded:
        assert role is not None
        member = members[role]
        client.cookies.set("duo_staff", member.token, domain="testserver.local")
        answer = await client.request(method, path, data={"_csrf": member.csrf})
        assert answer.status_code == 403, (method, path)
        refused = (await events(db, "staff.forbidden"))[-1]
        assert (refused.staff_id, refused.details["requiredRole"], refused.details["path"]) == (
            member.id,
            role.value,
            path,
        )


async def test_a_form_post_without_the_sessions_token_is_refused(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    member = await signed_in_member(db, client, frozenset({Role.ADMIN}))
    other = await signed_in_member(db, httpx.AsyncClient(), frozenset({Role.ADMIN}), name="Other")

    for token in (None, "0" * 64, other.csrf):
        data = {"name": "Eve", "roles": "admin"} | ({"_csrf": token} if token else {})
        answer = await client.post("/staff/admin/staff/invite", data=data)
        assert answer.status_code == 403, token
    accepted = await client.post(
        "/staff/admin/staff/invite", data={"name": "Eve", "roles": "admin", "_csrf": member.csrf}
    )
    assert accepted.status_code == 200
    assert "/staff/enrol#" in accepted.text


async def test_a_cross_site_post_is_refused_at_the_edge(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    member = await signed_in_member(db, client, frozenset({Role.ADMIN}))
    data = {"name": "Eve", "roles": "admin", "_csrf": member.csrf}

    for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        answer = await client.post("/staff/admin/staff/invite", data=data, headers=headers)
        assert answer.status_code == 403
    assert len(await events(db, "staff.invite")) == 1  # the signed-in member's own, only
    same_site = {"Origin": "http://localhost:8000", "Sec-Fetch-Site": "same-origin"}
    answer = await client.post("/staff/admin/staff/invite", data=data, headers=same_site)
    assert answer.status_code == 200
