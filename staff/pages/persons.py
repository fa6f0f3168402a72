"""A person's record (role `helpdesk`): search, open with a purpose, summary, actions."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, get, post
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from api.errors import DomainError
from staff import persons
from staff.models import Role
from staff.web import (
    attempt,
    error_status,
    form_errors,
    meta,
    page,
    principal,
    requires,
    see_other,
    settings_of,
    unit,
)

HELPDESK = [requires(Role.HELPDESK)]


def _uuid(value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


@get("/persons", guards=HELPDESK, name="staff.persons.search")
async def search(
    request: Request[Any, Any, State],
    customer: FromQuery[str | None] = None,
    family_name: FromQuery[str | None] = None,
    dob: FromQuery[str | None] = None,
) -> Template:
    values = {"customer": customer or "", "family_name": family_name or "", "dob": dob or ""}
    if not any(values.values()):
        return page(request, "persons/search.html", values=values, results=None, errors=[])
    try:
        found = await attempt(
            request,
            lambda db: persons.search(
                db,
                staff=principal(request),
                customer_number=customer,
                family_name=family_name,
                date_of_birth=dob,
                meta=meta(request),
            ),
        )
    except DomainError as exc:
        return page(
            request,
            "persons/search.html",
            status_code=error_status(exc),
            values=values,
            results=None,
            errors=form_errors(request, exc),
        )
    return page(request, "persons/search.html", values=values, results=found, errors=[])


async def _purpose_page(
    request: Request[Any, Any, State],
    person_id: uuid.UUID,
    *,
    status_code: int = 200,
    errors: list[dict[str, str]] | None = None,
    values: dict[str, str] | None = None,
) -> Template:
    async with unit(request) as db:
        person = await persons.person_for_purpose(db, person_id)
    return page(
        request,
        "persons/purpose.html",
        status_code=status_code,
        person_id=person_id,
        customer_number=person.customer_number,
        errors=errors or [],
        values=values or {"purpose": "", "reason": "", "reference": ""},
    )


async def _record_page(
    request: Request[Any, Any, State],
    person_id: uuid.UUID,
    view: uuid.UUID | None,
    *,
    status_code: int = 200,
    errors: list[dict[str, str]] | None = None,
    notice: str | None = None,
    code: Any = None,
) -> Template:
    async with unit(request) as db:
        found = await persons.summary(db, person_id, staff=principal(request), view_id=view)
    if found is None:
        return await _purpose_page(request, person_id, status_code=status_code, errors=errors)
    return page(
        request,
        "persons/record.html",
        status_code=status_code,
        summary=found,
        view=view,
        errors=errors or [],
        notice=notice,
        code=code,
    )


@get("/persons/{person_id:uuid}", guards=HELPDESK, name="staff.persons.record")
async def record(
    request: Request[Any, Any, State],
    person_id: FromPath[uuid.UUID],
    view: FromQuery[str | None] = None,
    notice: FromQuery[str | None] = None,
) -> Template:
    return await _record_page(request, person_id, _uuid(view), notice=notice)


@post("/persons/{person_id:uuid}/open", guards=HELPDESK, name="staff.persons.open")
async def open_record(
    request: Request[Any, Any, State], person_id: FromPath[uuid.UUID]
) -> Template | Redirect:
    form = await request.form()
    values = {k: str(form.get(k) or "") for k in ("purpose", "reason", "reference")}

    async def work(db: Any) -> Any:
        purpose = await persons.purpose_from_form(
            db,
            person_id,
            kind=values["purpose"],
            reason=values["reason"],
            reference=values["reference"],
        )
        return await persons.open_record(
            db, person_id, staff=principal(request), purpose=purpose, meta=meta(request)
        )

    try:
        view = await attempt(request, work)
    except DomainError as exc:
        return await _purpose_page(
            request,
            person_id,
            status_code=error_status(exc),
            errors=form_errors(request, exc),
            values=values,
        )
    return see_other(f"/staff/persons/{person_id}?view={view.id}")


@post("/persons/{person_id:uuid}/activation-code", guards=HELPDESK, name="staff.persons.code")
async def activation_code(
    request: Request[Any, Any, State], person_id: FromPath[uuid.UUID]
) -> Template:
    form = await request.form()
    view = _uuid(form.get("view"))
    settings = settings_of(request)
    try:
        issued = await attempt(
            request,
            lambda db: persons.issue_code(
                db,
                person_id,
                staff=principal(request),
                view_id=view,
                secret_key=settings.secret_key,
                meta=meta(request),
            ),
        )
    except DomainError as exc:
        return await _record_page(
            request,
            person_id,
            view,
            status_code=error_status(exc),
            errors=form_errors(request, exc),
        )
    return await _record_page(request, person_id, view, code=issued)


@post("/persons/{person_id:uuid}/revoke-access", guards=HELPDESK, name="staff.persons.revoke")
async def revoke_access(
    request: Request[Any, Any, State], person_id: FromPath[uuid.UUID]
) -> Template | Redirect:
    form = await request.form()
    view = _uuid(form.get("view"))
    reason = str(form.get("reason") or "")
    try:
        await attempt(
            request,
            lambda db: persons.revoke_access(
                db,
                person_id,
                staff=principal(request),
                view_id=view,
                reason=reason,
                meta=meta(request),
            ),
        )
    except DomainError as exc:
        return await _record_page(
            request,
            person_id,
            view,
            status_code=error_status(exc),
            errors=form_errors(request, exc),
        )
    return see_other(f"/staff/persons/{person_id}?view={view}&notice=revoked")


route_handlers = [search, record, open_record, activation_code, revoke_access]
