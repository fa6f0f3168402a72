"""The audit log (role `auditor`): search and CSV export."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.datastructures import State
from litestar.params import FromQuery
from litestar.response import Stream, Template
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.database import utcnow
from api.errors import DomainError
from staff import accounts, audit_log
from staff.audit_log import Filters
from staff.models import Role
from staff.web import attempt, error_status, form_errors, meta, page, principal, requires, unit

AUDITOR = [requires(Role.AUDITOR)]


def _filters(
    person: str | None, staff: str | None, action: str | None, since: str | None, until: str | None
) -> Filters:
    return Filters(
        person=(person or "").strip(),
        staff_id=(staff or "").strip(),
        action=(action or "").strip(),
        since=(since or "").strip(),
        until=(until or "").strip(),
    )


async def _page(
    request: Request[Any, Any, State],
    filters: Filters,
    reason: str | None,
    *,
    results: audit_log.Results | None,
    status_code: int = 200,
    errors: list[dict[str, str]] | None = None,
) -> Template:
    async with unit(request) as db:
        members = await accounts.list_members(db)
    return page(
        request,
        "audit/search.html",
        status_code=status_code,
        filters=filters,
        reason=reason or "",
        members=members,
        results=results,
        errors=errors or [],
    )


@get("/audit", guards=AUDITOR, name="staff.audit.search")
async def search(
    request: Request[Any, Any, State],
    person: FromQuery[str | None] = None,
    staff: FromQuery[str | None] = None,
    action: FromQuery[str | None] = None,
    since: FromQuery[str | None] = None,
    until: FromQuery[str | None] = None,
    reason: FromQuery[str | None] = None,
    after: FromQuery[str | None] = None,
) -> Template:
    filters = _filters(person, staff, action, since, until)
    try:
        results = await attempt(
            request,
            lambda db: audit_log.search(
                db,
                staff=principal(request),
                filters=filters,
                reason=reason,
                after=after,
                meta=meta(request),
            ),
        )
    except DomainError as exc:
        return await _page(
            request,
            filters,
            reason,
            results=None,
            status_code=error_status(exc),
            errors=form_errors(request, exc),
        )
    return await _page(request, filters, reason, results=results)


@get("/audit/export.csv", guards=AUDITOR, name="staff.audit.export")
async def export(
    request: Request[Any, Any, State],
    person: FromQuery[str | None] = None,
    staff: FromQuery[str | None] = None,
    action: FromQuery[str | None] = None,
    since: FromQuery[str | None] = None,
    until: FromQuery[str | None] = None,
    reason: FromQuery[str | None] = None,
) -> Stream | Template:
    filters = _filters(person, staff, action, since, until)
    try:
        await attempt(
            request,
            lambda db: audit_log.start_export(
                db, staff=principal(request), filters=filters, reason=reason, meta=meta(request)
            ),
        )
    except DomainError as exc:
        return await _page(
            request,
            filters,
            reason,
            results=None,
            status_code=error_status(exc),
            errors=form_errors(request, exc),
        )
    factory: async_sessionmaker[AsyncSession] = request.app.state.session_factory
    name = f"duo-audit-{utcnow():%Y%m%dT%H%M%SZ}.csv"
    return Stream(
        audit_log.export_csv(factory, filters),
        media_type="text/csv; charset=utf-8",
        headers={
            "content-disposition": f'attachment; filename="{name}"',
            "cache-control": "private, no-store",
        },
    )


route_handlers = [search, export]
