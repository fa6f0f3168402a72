"""Record imports (admin): upload a JSON Lines file, follow the background import, download the
report of rejected lines, run an interrupted one again. The import itself is records/imports/.

Why admin: an import rewrites the records of any number of persons at once, the widest power in
the back office; until DUO names a role for its register team, the administrators hold it.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import unquote

from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery
from litestar.response import File, Redirect, Template

from api.database import new_id, utcnow
from api.errors import NotFound
from records.imports import jobs
from records.imports.lines import RECORD_TYPES
from records.imports.outcome import UNKNOWN
from records.imports.report import first_rows
from staff import audit
from staff.models import Role
from staff.texts import Translator
from staff.web import (
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
# What browsers and tools call a JSON Lines file; the page's script sends application/x-ndjson.
UPLOAD_TYPES = frozenset(
    {
        "application/x-ndjson",
        "application/jsonl",
        "application/json-lines",
        "text/plain",
        "application/octet-stream",
    }
)
PREVIEW_ROWS = 100
_UNSAFE_NAME = re.compile(r"[^\w.\- ()]+")


def runner(request: Request[Any, Any, State]) -> jobs.ImportRunner:
    found: jobs.ImportRunner = request.app.state[jobs.RUNNER_STATE_KEY]
    return found


def _clean_name(raw: str | None) -> str:
    """The file's name as the browser gave it (percent-encoded header), for display only."""
    name = Path(unquote(raw or "")).name
    name = _UNSAFE_NAME.sub("_", name).strip() or "import.jsonl"
    return name[:255]


def _refusal(status: int, code: str, text: str) -> Response[dict[str, str]]:
    return Response({"code": code, "message": text}, status_code=status)


def _create(path: Path) -> BinaryIO:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("xb")


@get("/imports", guards=ADMIN, name="staff.imports.list")
async def imports_page(request: Request[Any, Any, State]) -> Template:
    async with unit(request) as db:
        rows = await jobs.list_imports(db)
    now = utcnow()
    return page(
        request,
        "imports/list.html",
        imports=rows,
        interrupted={row.id for row in rows if jobs.is_interrupted(row, now=now)},
        max_bytes=settings_of(request).import_max_bytes,
    )


@post("/imports", guards=ADMIN, name="staff.imports.upload", request_max_body_size=None)
async def upload(request: Request[Any, Any, State]) -> Response[dict[str, str]]:
    """The file as the request body (the page's script sends it: no multipart parsing, no
    copy in memory); streamed to IMPORT_DIR with its SHA-256, then imported in the background."""
    settings = settings_of(request)
    t = Translator(language_of(request))
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in UPLOAD_TYPES:
        return _refusal(415, "IMPORT_TYPE", t("imports.error.type"))
    limit = settings.import_max_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return _refusal(413, "IMPORT_TOO_LARGE", t("imports.error.tooLarge"))
    import_id = new_id()
    part = settings.import_dir / f"{import_id}.part"
    digest = hashlib.sha256()
    size = 0
    handle = _create(part)
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                break
            digest.update(chunk)
            handle.write(chunk)
    except BaseException:
        handle.close()
        part.unlink(missing_ok=True)
        raise
    handle.close()
    if size > limit or size == 0:
        part.unlink(missing_ok=True)
        if size == 0:
            return _refusal(400, "IMPORT_EMPTY", t("imports.error.empty"))
        return _refusal(413, "IMPORT_TOO_LARGE", t("imports.error.tooLarge"))
    stored = jobs.data_path(settings.import_dir, import_id)
    part.rename(stored)
    member = principal(request)
    name = _clean_name(request.headers.get("x-file-name"))
    try:
        async with unit(request) as db:
            await jobs.create_import(
                db,
                import_id=import_id,
                staff_id=member.staff_id,
                staff_name=member.name,
                file_name=name,
                size=size,
                sha256=digest.hexdigest(),
            )
            await audit.record(
                db,
                staff=member,
                role=Role.ADMIN,
                action="records.import.started",
                meta=meta(request),
                details={
                    "importId": str(import_id),
                    "fileName": name,
                    "size": size,
                    "sha256": digest.hexdigest(),
                },
            )
    except BaseException:
        stored.unlink(missing_ok=True)  # no row, no file: nothing half-recorded stays
        raise
    runner(request).start(import_id)
    return Response({"id": str(import_id), "url": f"/staff/imports/{import_id}"}, status_code=201)


@get("/imports/{import_id:uuid}", guards=ADMIN, name="staff.imports.detail")
async def import_page(
    request: Request[Any, Any, State],
    import_id: FromPath[uuid.UUID],
    notice: FromQuery[str | None] = None,
) -> Template:
    async with unit(request) as db:
        row = await jobs.get_import(db, import_id)
    directory = settings_of(request).import_dir
    counts = row.counts or {}
    return page(
        request,
        "imports/detail.html",
        row=row,
        interrupted=jobs.is_interrupted(row, now=utcnow()),
        percent=min(100, round(100 * row.bytes_read / row.size)) if row.size else 0,
        types=[name for name in (*RECORD_TYPES, UNKNOWN) if name in counts],
        counts=counts,
        rejections=first_rows(jobs.report_path(directory, import_id), PREVIEW_ROWS),
        preview_rows=PREVIEW_ROWS,
        notice=notice,
    )


@get("/imports/{import_id:uuid}/report.csv", guards=ADMIN, name="staff.imports.report")
async def report(request: Request[Any, Any, State], import_id: FromPath[uuid.UUID]) -> File:
    path = jobs.report_path(settings_of(request).import_dir, import_id)
    async with unit(request) as db:
        row = await jobs.get_import(db, import_id)
        if not path.exists():  # queued: no line read yet
            raise NotFound("No report yet.", field="id")
        await audit.record(
            db,
            staff=principal(request),
            role=Role.ADMIN,
            action="records.import.report_downloaded",
            meta=meta(request),
            details={"importId": str(row.id), "rejected": row.rejected},
        )
    return File(
        path=path,
        filename=f"import-{import_id}-rejected.csv",
        media_type="text/csv; charset=utf-8",
        content_disposition_type="attachment",
    )


@post("/imports/{import_id:uuid}/again", guards=ADMIN, name="staff.imports.again")
async def run_again(request: Request[Any, Any, State], import_id: FromPath[uuid.UUID]) -> Redirect:
    try:
        async with unit(request) as db:
            row = await jobs.queue_again(db, import_id)
            await audit.record(
                db,
                staff=principal(request),
                role=Role.ADMIN,
                action="records.import.started",
                meta=meta(request),
                details={"importId": str(row.id), "fileName": row.file_name, "again": True},
            )
    except jobs.ImportStillRunning:
        return see_other(f"/staff/imports/{import_id}?notice=importRunning")
    runner(request).start(import_id)
    return see_other(f"/staff/imports/{import_id}?notice=importAgain")


route_handlers = [imports_page, upload, import_page, report, run_again]
