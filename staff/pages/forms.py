"""The forms queue (role `forms`): list, open (claim + logged view), read, download, decide."""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import quote

from litestar import Request, get, post
from litestar.background_tasks import BackgroundTask
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Stream, Template

from api.errors import DomainError
from forms.runtime import runtime_of
from notifications.runtime import PushRuntime
from notifications.service import push_message
from staff import forms_queue
from staff.models import Role
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
    unit,
)

FORMS = [requires(Role.FORMS)]


def _uuid(value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


async def _jwks(request: Request[Any, Any, State]) -> dict[str, Any]:
    # The receipts are signed with the extract issuer's keys (api/app.py), published as JWKS.
    ring = await request.app.state.extract_issuer.ring()
    loaded: dict[str, Any] = json.loads(ring.jwks_json)
    return loaded


@get("/forms", guards=FORMS, name="staff.forms.queue")
async def queue(
    request: Request[Any, Any, State],
    form: FromQuery[str | None] = None,
    age: FromQuery[str | None] = None,
    after: FromQuery[str | None] = None,
    notice: FromQuery[str | None] = None,
) -> Template:
    catalogue = runtime_of(request.app.state).catalogue
    errors: list[dict[str, str]] = []
    min_age = int(age) if age and age.isdigit() else None
    try:
        async with unit(request) as db:
            found = await forms_queue.queue(
                db, catalogue=catalogue, form_id=form, min_age_days=min_age, after=after
            )
    except DomainError as exc:
        errors = form_errors(request, exc)
        async with unit(request) as db:
            found = await forms_queue.queue(db, catalogue=catalogue)
    return page(
        request,
        "forms/queue.html",
        status_code=400 if errors else 200,
        queue=found,
        errors=errors,
        filters={"form": form or "", "age": age or ""},
        notice=notice,
    )


@post("/forms/{client_id:uuid}/open", guards=FORMS, name="staff.forms.open")
async def open_submission(
    request: Request[Any, Any, State], client_id: FromPath[uuid.UUID]
) -> Redirect:
    opened = await attempt(
        request,
        lambda db: forms_queue.open_submission(
            db, client_id, staff=principal(request), meta=meta(request)
        ),
    )
    return see_other(f"/staff/forms/{client_id}?view={opened.view_id}")


async def _detail_page(
    request: Request[Any, Any, State],
    client_id: uuid.UUID,
    view: uuid.UUID | None,
    *,
    labels: str | None = None,
    status_code: int = 200,
    errors: list[dict[str, str]] | None = None,
    values: dict[str, str] | None = None,
) -> Template:
    catalogue = runtime_of(request.app.state).catalogue
    jwks = await _jwks(request)
    async with unit(request) as db:
        found = await forms_queue.detail(
            db, client_id, staff=principal(request), view_id=view, catalogue=catalogue, jwks=jwks
        )
    if found is None:
        return page(
            request,
            "forms/open.html",
            status_code=status_code,
            client_id=client_id,
            errors=errors or [],
        )
    language = labels if labels in ("en", "nl") else language_of(request)
    return page(
        request,
        "forms/submission.html",
        status_code=status_code,
        detail=found,
        view=view,
        labels=language,
        errors=errors or [],
        values=values or {"decision": "", "reason": ""},
    )


@get("/forms/{client_id:uuid}", guards=FORMS, name="staff.forms.submission")
async def submission(
    request: Request[Any, Any, State],
    client_id: FromPath[uuid.UUID],
    view: FromQuery[str | None] = None,
    labels: FromQuery[str | None] = None,
) -> Template:
    return await _detail_page(request, client_id, _uuid(view), labels=labels)


@get(
    "/forms/{client_id:uuid}/attachments/{attachment_id:uuid}",
    guards=FORMS,
    name="staff.forms.attachment",
)
async def download(
    request: Request[Any, Any, State],
    client_id: FromPath[uuid.UUID],
    attachment_id: FromPath[uuid.UUID],
    view: FromQuery[str | None] = None,
) -> Stream | Redirect:
    runtime = runtime_of(request.app.state)
    found = await attempt(
        request,
        lambda db: forms_queue.attachment(
            db,
            client_id,
            attachment_id,
            staff=principal(request),
            view_id=_uuid(view),
            meta=meta(request),
        ),
    )
    if found is None:
        return see_other(f"/staff/forms/{client_id}")
    return Stream(
        runtime.store.stream(found.storage_key),
        media_type=found.media_type,
        headers={
            # Never rendered from this origin (a PDF or image a person uploaded could carry
            # active content): saved, not shown; nosniff comes from the edge.
            "content-disposition": f"attachment; filename*=UTF-8''{quote(found.filename)}",
            "cache-control": "private, no-store",
            "content-security-policy": "default-src 'none'; sandbox",
        },
    )


@post("/forms/{client_id:uuid}/decide", guards=FORMS, name="staff.forms.decide")
async def decide(
    request: Request[Any, Any, State], client_id: FromPath[uuid.UUID]
) -> Template | Redirect:
    form = await request.form()
    decision = str(form.get("decision") or "")
    reason = str(form.get("reason") or "")
    view = _uuid(form.get("view"))
    catalogue = runtime_of(request.app.state).catalogue
    try:
        decided = await attempt(
            request,
            lambda db: forms_queue.decide(
                db,
                client_id,
                staff=principal(request),
                decision=decision,
                reason=reason,
                catalogue=catalogue,
                meta=meta(request),
            ),
        )
    except DomainError as exc:
        return await _detail_page(
            request,
            client_id,
            view,
            status_code=error_status(exc),
            errors=form_errors(request, exc),
            values={"decision": decision, "reason": reason},
        )
    redirect = see_other(f"/staff/forms?notice={decision}")
    # After the response: the person's devices hear of it too, in their language (#13).
    push: PushRuntime = request.app.state.push
    redirect.background = BackgroundTask(
        push_message, request.app.state.session_factory, push.sender, decided.message_id
    )
    return redirect


@post("/forms/{client_id:uuid}/release", guards=FORMS, name="staff.forms.release")
async def release(request: Request[Any, Any, State], client_id: FromPath[uuid.UUID]) -> Redirect:
    await attempt(
        request,
        lambda db: forms_queue.release(db, client_id, staff=principal(request), meta=meta(request)),
    )
    return see_other("/staff/forms?notice=released")


route_handlers = [queue, open_submission, submission, download, decide, release]
