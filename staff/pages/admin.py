"""Staff accounts (admin): the list, invites, roles, new enrolment links, deactivation."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, get, post
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from api.errors import DomainError
from staff import accounts
from staff.models import Role
from staff.texts import Translator
from staff.web import (
    attempt,
    error_status,
    form_errors,
    language_of,
    meta,
    page,
    principal,
    requires,
    see_other,
    settings_of,
    unit,
)

ADMIN = [requires(Role.ADMIN)]


async def _list_page(
    request: Request[Any, Any, State],
    *,
    status_code: int = 200,
    errors: list[dict[str, str]] | None = None,
    values: dict[str, Any] | None = None,
) -> Template:
    async with unit(request) as db:
        members = await accounts.list_members(db)
    return page(
        request,
        "admin/staff.html",
        status_code=status_code,
        members=members,
        all_roles=list(Role),
        errors=errors or [],
        values=values or {"name": "", "roles": []},
    )


@get("/admin/staff", guards=ADMIN, name="staff.admin.list")
async def staff_list(request: Request[Any, Any, State]) -> Template:
    return await _list_page(request)


@post("/admin/staff/invite", guards=ADMIN, name="staff.admin.invite")
async def invite(request: Request[Any, Any, State]) -> Template:
    form = await request.form()
    name = str(form.get("name") or "")
    chosen = [str(r) for r in form.getall("roles")] if "roles" in form else []
    settings = settings_of(request)
    t = Translator(language_of(request))
    missing = [
        {"field": field, "message": t(key)}
        for field, key, absent in (
            ("name", "error.nameRequired", not name.strip()),
            ("roles", "error.rolesRequired", not chosen),
        )
        if absent
    ]
    if missing:  # both at once, rather than one per attempt
        values = {"name": name, "roles": chosen}
        return await _list_page(request, status_code=400, errors=missing, values=values)
    try:
        issued = await attempt(
            request,
            lambda db: accounts.invite(
                db,
                name=name,
                roles=accounts.parse_roles(chosen),
                origin=settings.staff_public_origin,
                by=principal(request),
                meta=meta(request),
            ),
        )
    except DomainError as exc:
        return await _list_page(
            request,
            status_code=400,
            errors=form_errors(request, exc),
            values={"name": name, "roles": chosen},
        )
    return page(request, "admin/invite_link.html", member=issued.member, link=issued)


async def _member_page(
    request: Request[Any, Any, State],
    member_id: FromPath[uuid.UUID],
    *,
    status_code: int = 200,
    errors: list[dict[str, str]] | None = None,
    notice: FromQuery[str | None] = None,
) -> Template:
    async with unit(request) as db:
        summary = await accounts.get_member(db, member_id)
    return page(
        request,
        "admin/member.html",
        status_code=status_code,
        summary=summary,
        all_roles=list(Role),
        errors=errors or [],
        notice=notice,
        is_self=summary.member.id == principal(request).staff_id,
    )


@get("/admin/staff/{member_id:uuid}", guards=ADMIN, name="staff.admin.member")
async def member(
    request: Request[Any, Any, State],
    member_id: FromPath[uuid.UUID],
    notice: FromQuery[str | None] = None,
) -> Template:
    return await _member_page(request, member_id, notice=notice)


@post("/admin/staff/{member_id:uuid}/roles", guards=ADMIN, name="staff.admin.roles")
async def roles(
    request: Request[Any, Any, State], member_id: FromPath[uuid.UUID]
) -> Template | Redirect:
    form = await request.form()
    chosen = [str(r) for r in form.getall("roles")] if "roles" in form else []
    try:
        await attempt(
            request,
            lambda db: accounts.set_roles(
                db,
                member_id,
                roles=accounts.parse_roles(chosen),
                by=principal(request),
                meta=meta(request),
            ),
        )
    except DomainError as exc:
        return await _member_page(
            request, member_id, status_code=error_status(exc), errors=form_errors(request, exc)
        )
    return see_other(f"/staff/admin/staff/{member_id}?notice=roles")


@post("/admin/staff/{member_id:uuid}/deactivate", guards=ADMIN, name="staff.admin.deactivate")
async def deactivate(
    request: Request[Any, Any, State], member_id: FromPath[uuid.UUID]
) -> Template | Redirect:
    try:
        await attempt(
            request,
            lambda db: accounts.deactivate(
                db, member_id, by=principal(request), meta=meta(request)
            ),
        )
    except DomainError as exc:
        return await _member_page(
            request, member_id, status_code=error_status(exc), errors=form_errors(request, exc)
        )
    return see_other(f"/staff/admin/staff/{member_id}?notice=deactivated")


@post("/admin/staff/{member_id:uuid}/link", guards=ADMIN, name="staff.admin.link")
async def new_link(request: Request[Any, Any, State], member_id: FromPath[uuid.UUID]) -> Template:
    settings = settings_of(request)
    try:
        issued = await attempt(
            request,
            lambda db: accounts.new_enrolment_link(
                db,
                member_id,
                origin=settings.staff_public_origin,
                by=principal(request),
                meta=meta(request),
            ),
        )
    except DomainError as exc:
        return await _member_page(
            request, member_id, status_code=error_status(exc), errors=form_errors(request, exc)
        )
    return page(request, "admin/invite_link.html", member=issued.member, link=issued)


route_handlers = [staff_list, invite, member, roles, deactivate, new_link]
