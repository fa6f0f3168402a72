"""REST for attachments: resumable upload in chunks, and the owner's download.

    POST   /forms/attachments                  JSON {filename, size, sha256, mediaType?, owner?}
    GET    /forms/attachments/{id}             where the upload stands (offset), to resume
    PUT    /forms/attachments/{id}/chunks?offset=N   raw bytes (application/octet-stream)
    POST   /forms/attachments/{id}/complete    JSON {} → checks size, type and SHA-256
    GET    /forms/attachments/{id}/content     the bytes, to their owner only
    DELETE /forms/attachments/{id}             an attachment not yet part of a submission

Bodies are JSON or octet-stream only: a cross-site <form> can send neither without a CORS
preflight, and the edge refuses cross-site unsafe requests anyway (api/http.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

from litestar import Controller, Request, Response, delete, get, post, put
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.enums import MediaType
from litestar.exceptions import HTTPException
from litestar.handlers import BaseRouteHandler
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.response import Stream
from msgspec import Struct
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.database import begin_write
from api.errors import DomainError, Unauthenticated
from api.settings import Settings
from auth import sessions
from auth.cookies import session_cookie_name
from forms import outbox, uploads
from forms.models import FormAttachment
from forms.runtime import FormsRuntime, runtime_of
from forms.uploads import Owner

T = TypeVar("T")
MAX_JSON_BYTES = 16 * 1024


class CreateUpload(Struct, rename="camel"):
    filename: str
    size: int
    sha256: str
    media_type: str | None = None
    # The outbox owner the device bound the form to (forms/outbox.py): another person's
    # session gets OUTBOX_OWNER_MISMATCH, before any byte of their file is stored.
    owner: str | None = None


def _content_type(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    return connection.headers.get("content-type", "").split(";")[0].strip().lower()


def json_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    if _content_type(connection) != "application/json":
        raise HTTPException(status_code=415, detail="Send JSON (Content-Type: application/json).")


def octets_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    if _content_type(connection) != "application/octet-stream":
        raise HTTPException(
            status_code=415, detail="Send the bytes as Content-Type: application/octet-stream."
        )


def _upload_error(_: Request[Any, Any, Any], exc: uploads.UploadError) -> Response[Any]:
    extensions: dict[str, Any] = {"code": exc.code, **exc.extra}
    if exc.field:
        extensions["field"] = exc.field
    return Response(
        {"errors": [{"message": exc.message, "extensions": extensions}]},
        status_code=exc.status,
        media_type=MediaType.JSON,
    )


def _status(row: FormAttachment, runtime: FormsRuntime, chunk_bytes: int) -> dict[str, Any]:
    complete = row.completed_at is not None
    return {
        "id": str(row.id),
        "filename": row.filename,
        "mediaType": row.media_type,
        "size": row.size,
        "sha256": row.sha256,
        "offset": row.received_bytes,
        "complete": complete,
        "usedBySubmission": row.submission_id is not None,
        "expiresAt": None if row.submission_id else row.expires_at.isoformat(),
        "maxChunkBytes": chunk_bytes,
        "maxBytes": runtime.limits.max_bytes,
        "url": f"/forms/attachments/{row.id}/content" if complete else None,
    }


async def _unit(
    request: Request[Any, Any, State], work: Callable[[AsyncSession, uuid.UUID], Awaitable[T]]
) -> T:
    """One transaction for a signed-in person's request.

    Domain failures are committed too: an upload that failed its checksum is reset to offset
    0, and the client must see that state when it resumes.
    """
    settings: Settings = request.app.state.settings
    factory: async_sessionmaker[AsyncSession] = request.app.state.session_factory
    async with factory() as db:
        await begin_write(db)  # SQLite: take the write lock first (see api.database)
        try:
            token = request.cookies.get(session_cookie_name(settings))
            principal = None
            if token:
                lookup = await sessions.resolve_session(
                    db, token=token, idle_timeout=settings.session_idle_timeout
                )
                principal = lookup.principal
            if principal is None:
                await db.commit()  # an expired session was deleted
                raise Unauthenticated()
            result = await work(db, principal.person_id)
        except DomainError:
            await db.commit()
            raise
        except BaseException:
            await db.rollback()
            raise
        await db.commit()
        return result


def make_attachment_controller(settings: Settings) -> type[Controller]:
    """Built per app: the chunk route's body limit comes from settings, not the app's 1 MB."""
    chunk_bytes = settings.forms_upload_chunk_bytes

    class AttachmentController(Controller):
        path = "/forms/attachments"
        request_max_body_size = MAX_JSON_BYTES
        exception_handlers = {uploads.UploadError: _upload_error}

        @post("/", guards=[json_only], status_code=201)
        async def create(
            self, request: Request[Any, Any, State], data: JSONBody[CreateUpload]
        ) -> Response[Any]:
            runtime = runtime_of(request.app.state)

            async def work(db: AsyncSession, person_id: uuid.UUID) -> FormAttachment:
                await outbox.check_owner(db, person_id, data.owner)
                return await uploads.create_upload(
                    db,
                    Owner.person(person_id),
                    filename=data.filename,
                    size=data.size,
                    sha256=data.sha256,
                    media_type=data.media_type,
                    limits=runtime.limits,
                )

            row = await _unit(request, work)
            return Response(
                _status(row, runtime, chunk_bytes),
                status_code=201,
                headers={"location": f"/forms/attachments/{row.id}"},
            )

        @get("/{attachment_id:uuid}")
        async def status(
            self, request: Request[Any, Any, State], attachment_id: FromPath[uuid.UUID]
        ) -> Response[Any]:
            runtime = runtime_of(request.app.state)
            row = await _unit(
                request,
                lambda db, person_id: uploads.get_attachment(
                    db, Owner.person(person_id), attachment_id
                ),
            )
            return Response(_status(row, runtime, chunk_bytes))

        @put(
            "/{attachment_id:uuid}/chunks",
            guards=[octets_only],
            request_max_body_size=chunk_bytes,
        )
        async def chunk(
            self,
            request: Request[Any, Any, State],
            attachment_id: FromPath[uuid.UUID],
            offset: Annotated[int, QueryParameter(ge=0)],
        ) -> Response[Any]:
            runtime = runtime_of(request.app.state)
            body = await request.body()
            row = await _unit(
                request,
                lambda db, person_id: uploads.append_chunk(
                    db,
                    runtime.store,
                    Owner.person(person_id),
                    attachment_id,
                    offset=offset,
                    data=body,
                ),
            )
            return Response(_status(row, runtime, chunk_bytes))

        @post("/{attachment_id:uuid}/complete", guards=[json_only], status_code=200)
        async def complete(
            self, request: Request[Any, Any, State], attachment_id: FromPath[uuid.UUID]
        ) -> Response[Any]:
            runtime = runtime_of(request.app.state)
            row = await _unit(
                request,
                lambda db, person_id: uploads.complete_upload(
                    db, runtime.store, Owner.person(person_id), attachment_id
                ),
            )
            return Response(_status(row, runtime, chunk_bytes))

        @get("/{attachment_id:uuid}/content")
        async def content(
            self, request: Request[Any, Any, State], attachment_id: FromPath[uuid.UUID]
        ) -> Stream:
            runtime = runtime_of(request.app.state)
            row = await _unit(
                request,
                lambda db, person_id: uploads.get_attachment(
                    db, Owner.person(person_id), attachment_id
                ),
            )
            if row.completed_at is None:
                raise uploads.UploadError(
                    409,
                    "UPLOAD_INCOMPLETE",
                    "This upload is not complete.",
                    offset=row.received_bytes,
                )
            return Stream(
                runtime.store.stream(row.storage_key),
                media_type=row.media_type,
                headers={
                    "content-length": str(row.size),
                    # RFC 6266 §4.3: filename* carries any Unicode name; always a download.
                    "content-disposition": f"attachment; filename*=UTF-8''{quote(row.filename)}",
                    "cache-control": "private, no-store",
                    "content-security-policy": "default-src 'none'; sandbox",
                },
            )

        @delete("/{attachment_id:uuid}", status_code=204)
        async def remove(
            self, request: Request[Any, Any, State], attachment_id: FromPath[uuid.UUID]
        ) -> None:
            runtime = runtime_of(request.app.state)
            key = await _unit(
                request,
                lambda db, person_id: uploads.delete_upload(
                    db, Owner.person(person_id), attachment_id
                ),
            )
            await runtime.store.delete(key)

    return AttachmentController
