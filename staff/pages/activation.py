"""The activation queue (helpdesk): self-service access requests, reviewed beside DUO's record.

The queue shows how long requests wait (median and 90th percentile to a decision), oldest
first, filtered by country and age. Opening one claims it (a POST: a GET never changes
anything) and shows it side by side with the candidate persons from DUO's records; every such
page view is logged for each person shown, with the request as its purpose, and the person sees
it in their activity. Documents are served from a staff-only route with headers that keep them
inert (the browser shows an image or plays a video; a PDF is downloaded). Decisions (approve,
ask for more information, refuse) go through access.review, which refuses a second decision
and a decision on someone else's claim. The requesting browser is then notified by push.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import quote, urlencode

from litestar import Request, get, post
from litestar.background_tasks import BackgroundTask
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Stream, Template
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from access import review
from access.errors import AccessError
from access.notify import notify_status
from api.database import utcnow
from api.errors import DomainError, InvalidInput
from forms.runtime import runtime_of
from notifications.runtime import PushRuntime
from staff import audit
from staff.models import Role, StaffMember
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

HELPDESK = [requires(Role.HELPDESK)]
BASE = "/staff/activation"
# "Waiting at least …": the age filter's choices, in hours.
AGES = (0, 4, 24, 72, 168)
# What the browser may do with an uploaded file shown to staff: display it, nothing else.
INERT = "default-src 'none'; img-src 'self'; media-src 'self'; sandbox"


async def _names(db: AsyncSession, ids: set[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    """Staff members' names, for "claimed by" and the history (never shown to persons)."""
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    rows = await db.execute(
        select(StaffMember.id, StaffMember.name).where(StaffMember.id.in_(wanted))
    )
    return {row[0]: row[1] for row in rows}


def _waiter(request: Request[Any, Any, State]) -> Any:
    """A waiting time as the member reads it: "5 min", "3 h 20 min", "2 d 4 h"."""
    t = Translator(language_of(request))

    def wait(value: timedelta | None) -> str:
        if value is None:
            return "\u2013"
        minutes = max(0, int(value.total_seconds() // 60))
        days, rest = divmod(minutes, 24 * 60)
        hours, mins = divmod(rest, 60)
        if days:
            return t("time.days", d=days, h=hours)
        if hours:
            return t("time.hours", h=hours, m=mins)
        return t("time.minutes", m=mins)

    return wait


def _hours(value: str | None) -> int:
    try:
        hours = int(value or 0)
    except ValueError as exc:
        raise InvalidInput("Choose how long requests have waited.", field="age") from exc
    if hours not in AGES:
        raise InvalidInput("Choose how long requests have waited.", field="age")
    return hours


@get("/activation", guards=HELPDESK, name="staff.activation.queue")
async def queue(
    request: Request[Any, Any, State],
    country: FromQuery[str | None] = None,
    age: FromQuery[str | None] = None,
    after: FromQuery[str | None] = None,
) -> Template:
    hours = _hours(age)
    country = (country or "").strip().upper() or None
    async with unit(request) as db:
        stats = await review.queue_stats(db)
        found = await review.list_queue(
            db,
            country=country,
            min_age=timedelta(hours=hours) if hours else None,
            after=after or None,
        )
        countries = await review.queue_countries(db)
        names = await _names(db, {item.request.claimed_by for item in found.items})
    filters = {"country": country or "", "age": str(hours)}
    next_link = None
    if found.has_next_page and found.end_cursor:
        next_link = f"{BASE}?{urlencode({**filters, 'after': found.end_cursor})}"
    return page(
        request,
        "activation/queue.html",
        stats=stats,
        items=found.items,
        countries=countries,
        ages=AGES,
        filters=filters,
        names=names,
        next_link=next_link,
        wait=_waiter(request),
    )


async def _request_page(
    request: Request[Any, Any, State],
    request_id: uuid.UUID,
    *,
    status_code: int = 200,
    errors: list[dict[str, str]] | None = None,
    notice: str | None = None,
) -> Template:
    me = principal(request)
    async with unit(request) as db:
        detail = await review.get_request(db, request_id)
        # Looking at DUO's record of a person is a view of their data: logged for each person
        # shown, with this request as the purpose; the person sees it in their activity.
        for candidate in detail.candidates:
            await audit.record_view(
                db,
                staff=me,
                role=Role.HELPDESK,
                person_id=candidate.person.id,
                purpose=audit.Purpose(
                    kind=audit.PurposeKind.ACTIVATION_REQUEST, reference=str(request_id)
                ),
                meta=meta(request),
                what="activation_candidate",
            )
        ids = {detail.request.claimed_by, detail.request.decided_by}
        ids |= {event.staff_id for event in detail.events}
        names = await _names(db, ids)
    row = detail.request
    live_claim = (
        row.claimed_by is not None
        and row.claimed_until is not None
        and row.claimed_until > utcnow()
    )
    return page(
        request,
        "activation/request.html",
        status_code=status_code,
        detail=detail,
        row=row,
        names=names,
        mine=live_claim and row.claimed_by == me.staff_id,
        held_by_other=live_claim and row.claimed_by != me.staff_id,
        errors=errors or [],
        notice=notice,
        base=BASE,
    )


@get("/activation/{request_id:uuid}", guards=HELPDESK, name="staff.activation.request")
async def show(
    request: Request[Any, Any, State],
    request_id: FromPath[uuid.UUID],
    notice: FromQuery[str | None] = None,
) -> Template:
    return await _request_page(request, request_id, notice=notice)


async def _act(
    request: Request[Any, Any, State],
    request_id: uuid.UUID,
    work: Any,
    *,
    notice: str,
    notify: bool = False,
) -> Template | Redirect:
    """Run a decision; on a refusal show the request again with the reason (409 for conflicts)."""
    try:
        await attempt(request, work)
    except DomainError as exc:
        status = exc.status if isinstance(exc, AccessError) else error_status(exc)
        return await _request_page(
            request, request_id, status_code=status, errors=await _errors(request, exc)
        )
    redirect = see_other(f"{BASE}/{request_id}?notice={quote(notice)}")
    if notify:
        redirect.background = BackgroundTask(_notify, request, request_id)
    return redirect


async def _notify(request: Request[Any, Any, State], request_id: uuid.UUID) -> None:
    """After the response: push "there is news" to the requesting browser, if it allowed it."""
    push: PushRuntime = request.app.state.push
    await notify_status(request.app.state.session_factory, await push.sender(), request_id)


@post("/activation/{request_id:uuid}/claim", guards=HELPDESK, name="staff.activation.claim")
async def claim(
    request: Request[Any, Any, State], request_id: FromPath[uuid.UUID]
) -> Template | Redirect:
    me = principal(request)
    return await _act(
        request,
        request_id,
        lambda db: review.claim(db, request_id, staff_id=me.staff_id, meta=meta(request)),
        notice="activationClaimed",
    )


@post("/activation/{request_id:uuid}/release", guards=HELPDESK, name="staff.activation.release")
async def release(
    request: Request[Any, Any, State], request_id: FromPath[uuid.UUID]
) -> Template | Redirect:
    me = principal(request)
    result = await _act(
        request,
        request_id,
        lambda db: review.release(db, request_id, staff_id=me.staff_id),
        notice="activationReleased",
    )
    return see_other(BASE) if isinstance(result, Redirect) else result


@post("/activation/{request_id:uuid}/approve", guards=HELPDESK, name="staff.activation.approve")
async def approve(
    request: Request[Any, Any, State], request_id: FromPath[uuid.UUID]
) -> Template | Redirect:
    me = principal(request)
    form = await request.form()
    chosen = str(form.get("person") or "")
    try:
        person_id = uuid.UUID(chosen)
    except ValueError:
        return await _request_page(
            request,
            request_id,
            status_code=400,
            errors=[{"field": "person", "message": _t(request, "activation.choosePerson")}],
        )
    async with unit(request) as db:
        candidates = await review.find_candidates(
            db, (await review.get_request(db, request_id)).request
        )
    if person_id not in {c.person.id for c in candidates}:
        # Only a person the page showed: a stale or hand-made form binds nobody else.
        return await _request_page(
            request,
            request_id,
            status_code=400,
            errors=[{"field": "person", "message": _t(request, "activation.choosePerson")}],
        )
    settings = settings_of(request)
    return await _act(
        request,
        request_id,
        lambda db: review.approve(
            db,
            request_id,
            staff_id=me.staff_id,
            person_id=person_id,
            settings=settings,
            meta=meta(request),
        ),
        notice="activationApproved",
        notify=True,
    )


@post("/activation/{request_id:uuid}/more-info", guards=HELPDESK, name="staff.activation.ask")
async def ask(
    request: Request[Any, Any, State], request_id: FromPath[uuid.UUID]
) -> Template | Redirect:
    me = principal(request)
    message = str((await request.form()).get("message") or "")
    return await _act(
        request,
        request_id,
        lambda db: review.ask_more_info(
            db, request_id, staff_id=me.staff_id, message=message, meta=meta(request)
        ),
        notice="activationAsked",
        notify=True,
    )


@post("/activation/{request_id:uuid}/refuse", guards=HELPDESK, name="staff.activation.refuse")
async def refuse(
    request: Request[Any, Any, State], request_id: FromPath[uuid.UUID]
) -> Template | Redirect:
    me = principal(request)
    reason = str((await request.form()).get("reason") or "")
    return await _act(
        request,
        request_id,
        lambda db: review.refuse(
            db, request_id, staff_id=me.staff_id, reason=reason, meta=meta(request)
        ),
        notice="activationRefused",
        notify=True,
    )


@get(
    "/activation/{request_id:uuid}/files/{file_id:uuid}",
    guards=HELPDESK,
    name="staff.activation.file",
)
async def file(
    request: Request[Any, Any, State],
    request_id: FromPath[uuid.UUID],
    file_id: FromPath[uuid.UUID],
) -> Stream:
    """An uploaded document or video, for display in the request page; audited."""
    me = principal(request)
    store = runtime_of(request.app.state).store
    async with unit(request) as db:
        row = await review.get_file(db, request_id, file_id)
        await audit.record(
            db,
            staff=me,
            action="access_request.file_view",
            meta=meta(request),
            role=Role.HELPDESK,
            details={"access_request_id": str(request_id), "file_id": str(file_id)},
        )
    # Content proven by magic numbers and container checks at upload (forms.attachments):
    # an image or a video is shown, a PDF is downloaded (never rendered from this origin).
    disposition = "attachment" if row.media_type == "application/pdf" else "inline"
    return Stream(
        store.stream(row.storage_key),
        media_type=row.media_type,
        headers={
            "content-length": str(row.size),
            "content-disposition": f"{disposition}; filename*=UTF-8''{quote(row.filename)}",
            "cache-control": "private, no-store",
            "content-security-policy": INERT,
            "cross-origin-resource-policy": "same-origin",
        },
    )


def _t(request: Request[Any, Any, State], key: str, **params: object) -> str:
    return Translator(language_of(request))(key, **params)


async def _errors(request: Request[Any, Any, State], exc: DomainError) -> list[dict[str, str]]:
    """The refusal in the member's language: who holds a claim, what was decided."""
    if isinstance(exc, AccessError):
        params: dict[str, object] = {}
        if exc.code == "CLAIM_CONFLICT":
            holder = exc.extra.get("claimedBy")
            async with unit(request) as db:
                names = await _names(db, {uuid.UUID(str(holder))} if holder else set())
            params["name"] = next(iter(names.values()), "?")
            until = str(exc.extra.get("claimedUntil") or "")
            params["until"] = until[11:16] + " UTC" if until else ""
        if exc.code == "ALREADY_DECIDED":
            status = str(exc.extra.get("requestStatus", "")).lower()
            params["status"] = _t(request, f"activation.status.{status}")
        key = f"activation.error.{exc.code}"
        if Translator(language_of(request)).has(key):
            return [{"field": "", "message": _t(request, key, **params)}]
    if isinstance(exc, InvalidInput) and exc.field in ("message", "reason"):
        return [{"field": exc.field, "message": _t(request, f"activation.error.{exc.field}")}]
    return form_errors(request, exc)


route_handlers = [queue, show, claim, release, approve, ask, refuse, file]
