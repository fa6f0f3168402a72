"""Diploma extracts (role `credentials`): find by extract id or person, revoke with a reason."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, get, post
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from api.errors import DomainError
from staff import extracts
from staff.models import Role
from staff.web import attempt, error_status, form_errors, meta, page, principal, requires, see_other

CREDENTIALS = [requires(Role.CREDENTIALS)]


@get("/extracts", guards=CREDENTIALS, name="staff.extracts.search")
async def search(
    request: Request[Any, Any, State],
    extract: FromQuery[str | None] = None,
    customer: FromQuery[str | None] = None,
    reason: FromQuery[str | None] = None,
    notice: FromQuery[str | None] = None,
) -> Template:
    values = {"extract": extract or "", "customer": customer or "", "reason": reason or ""}
    if not (extract or customer):
        return page(
            request, "extracts/search.html", values=values, results=None, errors=[], notice=notice
        )
    try:
        found = await attempt(
            request,
            lambda db: extracts.find(
                db,
                staff=principal(request),
                extract_id=extract,
                customer_number=customer,
                reason=reason,
                meta=meta(request),
            ),
        )
    except DomainError as exc:
        return page(
            request,
            "extracts/search.html",
            status_code=error_status(exc),
            values=values,
            results=None,
            errors=form_errors(request, exc),
            notice=None,
        )
    return page(
        request, "extracts/search.html", values=values, results=found, errors=[], notice=notice
    )


@post("/extracts/{extract_id:uuid}/revoke", guards=CREDENTIALS, name="staff.extracts.revoke")
async def revoke(
    request: Request[Any, Any, State], extract_id: FromPath[uuid.UUID]
) -> Template | Redirect:
    form = await request.form()
    reason = str(form.get("reason") or "")
    search_reason = str(form.get("search_reason") or "")
    try:
        await attempt(
            request,
            lambda db: extracts.revoke(
                db, extract_id, staff=principal(request), reason=reason, meta=meta(request)
            ),
        )
    except DomainError as exc:
        # The extract stays on the page, its own reason field marked: the member fixes the
        # reason instead of searching again. Showing it again is a view like the search's,
        # logged with the same reason (the member gave none: nothing is shown).
        results = None
        if search_reason.strip():
            results = await attempt(
                request,
                lambda db: extracts.find(
                    db,
                    staff=principal(request),
                    extract_id=str(extract_id),
                    customer_number=None,
                    reason=search_reason,
                    meta=meta(request),
                ),
            )
        errors = form_errors(request, exc)
        if results and exc.field == "reason":
            errors = [{**e, "field": f"revoke-reason-{extract_id}"} for e in errors]
        return page(
            request,
            "extracts/search.html",
            status_code=error_status(exc),
            values={"extract": str(extract_id), "customer": "", "reason": search_reason},
            results=results,
            errors=errors,
            notice=None,
        )
    return see_other("/staff/extracts?notice=extractRevoked")


route_handlers = [search, revoke]
