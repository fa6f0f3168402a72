"""REST for access requests, made and followed without an account (README, "DUO staff").

    POST   /access/requests                          JSON details -> 201 the request's state
    GET    /access/requests/{id}                     its state (status, digits, files, message)
    PUT    /access/requests/{id}                     JSON details (draft, or a question open)
    POST   /access/requests/{id}/submit              JSON {} -> into the helpdesk's queue
    POST   /access/requests/{id}/respond             JSON {message} -> answer a question
    PUT    /access/requests/{id}/push                JSON PushSubscription.toJSON()
    DELETE /access/requests/{id}/push
    POST   /access/requests/{id}/files               JSON {kind, filename, size, sha256, mediaType?}
    GET    /access/requests/{id}/files/{fileId}      where the upload stands (offset)
    PUT    /access/requests/{id}/files/{fileId}/chunks?offset=N   raw bytes
    POST   /access/requests/{id}/files/{fileId}/complete          JSON {}
    DELETE /access/requests/{id}/files/{fileId}

Every call carries the browser's request secret as `Authorization: Bearer <secret>`: a custom
header (so a cross-site page cannot send it without a CORS preflight) that no other browser has.
Bodies are JSON or octet-stream only, and the edge refuses cross-site unsafe requests.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Annotated, Any, TypeVar

from litestar import Controller, Request, Response, delete, get, post, put
from litestar.datastructures import State
from litestar.enums import MediaType
from litestar.params import FromPath, JSONBody, QueryParameter
from msgspec import Struct
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from access import service
from access.errors import AccessError
from access.models import AccessRequest, RequestStatus
from api.clientip import client_ip, request_meta
from api.database import begin_write, utcnow
from api.errors import DomainError
from api.settings import Settings
from auth import ratelimit
from auth.ratelimit import Limit, RateLimiter
from forms.models import FormAttachment
from forms.routes import json_only, octets_only
from forms.runtime import runtime_of
from forms.uploads import UploadError
from notifications.runtime import PushRuntime

T = TypeVar("T")
MAX_JSON_BYTES = 16 * 1024
# New requests: a household or a small office shares an address, a flood does not get far.
CREATE_PER_IP = Limit("access-create-ip", 10, 60 * 60)
# Everything else, chunks included (a 20 MB video in 512 KiB chunks is 40 calls).
CALLS_PER_IP = Limit("access-ip", 600, 15 * 60)


class DetailsInput(Struct, rename="camel"):
    full_name: str
    date_of_birth: date
    country: str
    contact_email: str
    reason: str
    customer_number: str | None = None
    language: str = "en"


class MessageInput(Struct, rename="camel"):
    message: str


class PushKeys(Struct):
    p256dh: str
    auth: str


class PushInput(Struct, rename="camel"):
    endpoint: str
    keys: PushKeys
    expiration_time: float | None = None


class FileInput(Struct, rename="camel"):
    kind: str
    filename: str
    size: int
    sha256: str
    media_type: str | None = None


def _refused(_: Request[Any, Any, Any], exc: AccessError | UploadError) -> Response[Any]:
    extensions: dict[str, Any] = {"code": exc.code, **exc.extra}
    if exc.field:
        extensions["field"] = exc.field
    return Response(
        {"errors": [{"message": exc.message, "extensions": extensions}]},
        status_code=exc.status,
        media_type=MediaType.JSON,
    )


def _secret(request: Request[Any, Any, Any]) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def _details(data: DetailsInput) -> service.Details:
    return service.clean_details(
        customer_number=data.customer_number,
        full_name=data.full_name,
        date_of_birth=data.date_of_birth,
        country=data.country,
        contact_email=data.contact_email,
        reason=data.reason,
        language=data.language,
    )


async def _unit(
    request: Request[Any, Any, State],
    work: Callable[[AsyncSession], Awaitable[T]],
    *,
    limit: Limit = CALLS_PER_IP,
) -> T:
    """One transaction; refusals are committed too (audit events, an upload reset to 0)."""
    limiter: RateLimiter = request.app.state.rate_limiter
    await ratelimit.enforce(limiter, limit, client_ip(request) or "-")
    factory: async_sessionmaker[AsyncSession] = request.app.state.session_factory
    async with factory() as db:
        await begin_write(db)  # SQLite: take the write lock first (see api.database)
        try:
            result = await work(db)
        except DomainError:
            await db.commit()
            raise
        except BaseException:
            await db.rollback()
            raise
        await db.commit()
        return result


def _file_state(row: FormAttachment, settings: Settings) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "kind": "video" if service.is_video(row) else "document",
        "filename": row.filename,
        "mediaType": row.media_type,
        "size": row.size,
        "sha256": row.sha256,
        "offset": row.received_bytes,
        "complete": row.completed_at is not None,
        "createdAt": row.created_at.isoformat(),
        "maxChunkBytes": settings.forms_upload_chunk_bytes,
    }


def _state(
    row: AccessRequest, files: list[FormAttachment], settings: Settings, public_key: str
) -> dict[str, Any]:
    """What the requesting browser sees: its own answers, the status and DUO's message."""
    now = utcnow()
    approved = (
        row.status is RequestStatus.APPROVED
        and row.approval_expires_at is not None
        and row.approval_expires_at > now
    )
    return {
        "id": str(row.id),
        "status": row.status.value,
        "digits": row.liveness_digits,
        "details": {
            "customerNumber": row.customer_number,
            "fullName": row.full_name,
            "dateOfBirth": row.date_of_birth.isoformat(),
            "country": row.country,
            "contactEmail": row.contact_email,
            "reason": row.reason.value,
            "language": row.language,
        },
        "createdAt": row.created_at.isoformat(),
        "submittedAt": row.submitted_at.isoformat() if row.submitted_at else None,
        "decidedAt": row.decided_at.isoformat() if row.decided_at else None,
        # DUO's question (more_info) or reason (refused); the person's last answer.
        "message": row.staff_message
        if row.status in (RequestStatus.MORE_INFO, RequestStatus.REFUSED)
        else None,
        "answer": row.person_message,
        "canUpload": row.status in service.UPLOAD_STATUSES,
        "canRegister": approved,
        "approvalExpiresAt": row.approval_expires_at.isoformat()
        if row.approval_expires_at
        else None,
        "files": [_file_state(f, settings) for f in files],
        "push": row.push_endpoint is not None,
        "pushPublicKey": public_key,
        "limits": {
            "documentMaxBytes": settings.forms_attachment_max_bytes,
            "videoMaxBytes": settings.access_video_max_bytes,
            "maxChunkBytes": settings.forms_upload_chunk_bytes,
            "maxFiles": service.MAX_FILES,
        },
    }


def make_access_controller(settings: Settings) -> type[Controller]:
    """Built per app: the chunk route's body limit comes from settings."""
    chunk_bytes = settings.forms_upload_chunk_bytes
    limits = service.FileLimits.from_settings(settings)

    async def state_of(
        request: Request[Any, Any, State], db: AsyncSession, row: AccessRequest
    ) -> dict[str, Any]:
        push: PushRuntime = request.app.state.push
        files = list(await service.list_files(db, row.id))
        return _state(row, files, settings, (await push.keys()).public_key)

    async def with_request(
        request: Request[Any, Any, State],
        request_id: uuid.UUID,
        work: Callable[[AsyncSession, AccessRequest], Awaitable[T]],
        *,
        lock: bool = True,
    ) -> T:
        async def unit(db: AsyncSession) -> T:
            row = await service.open_request(
                db, request_id, secret=_secret(request), meta=request_meta(request), lock=lock
            )
            return await work(db, row)

        return await _unit(request, unit)

    class AccessController(Controller):
        path = "/access/requests"
        include_in_schema = False
        request_max_body_size = MAX_JSON_BYTES
        exception_handlers = {AccessError: _refused, UploadError: _refused}

        @post("/", guards=[json_only], status_code=201)
        async def create(
            self, request: Request[Any, Any, State], data: JSONBody[DetailsInput]
        ) -> Response[Any]:
            async def work(db: AsyncSession) -> dict[str, Any]:
                row = await service.create_request(
                    db,
                    secret=service.check_secret(_secret(request)),
                    details=_details(data),
                    meta=request_meta(request),
                )
                return await state_of(request, db, row)

            body = await _unit(request, work, limit=CREATE_PER_IP)
            return Response(
                body, status_code=201, headers={"location": f"/access/requests/{body['id']}"}
            )

        @get("/{request_id:uuid}")
        async def status(
            self, request: Request[Any, Any, State], request_id: FromPath[uuid.UUID]
        ) -> dict[str, Any]:
            return await with_request(
                request, request_id, lambda db, row: state_of(request, db, row), lock=False
            )

        @put("/{request_id:uuid}", guards=[json_only])
        async def update(
            self,
            request: Request[Any, Any, State],
            request_id: FromPath[uuid.UUID],
            data: JSONBody[DetailsInput],
        ) -> dict[str, Any]:
            async def work(db: AsyncSession, row: AccessRequest) -> dict[str, Any]:
                await service.update_details(db, row, _details(data))
                return await state_of(request, db, row)

            return await with_request(request, request_id, work)

        @post("/{request_id:uuid}/submit", guards=[json_only], status_code=200)
        async def submit(
            self, request: Request[Any, Any, State], request_id: FromPath[uuid.UUID]
        ) -> dict[str, Any]:
            async def work(db: AsyncSession, row: AccessRequest) -> dict[str, Any]:
                await service.submit(db, row, meta=request_meta(request))
                return await state_of(request, db, row)

            return await with_request(request, request_id, work)

        @post("/{request_id:uuid}/respond", guards=[json_only], status_code=200)
        async def respond(
            self,
            request: Request[Any, Any, State],
            request_id: FromPath[uuid.UUID],
            data: JSONBody[MessageInput],
        ) -> dict[str, Any]:
            async def work(db: AsyncSession, row: AccessRequest) -> dict[str, Any]:
                await service.respond(db, row, message=data.message, meta=request_meta(request))
                return await state_of(request, db, row)

            return await with_request(request, request_id, work)

        @put("/{request_id:uuid}/push", guards=[json_only])
        async def push(
            self,
            request: Request[Any, Any, State],
            request_id: FromPath[uuid.UUID],
            data: JSONBody[PushInput],
        ) -> dict[str, Any]:
            async def work(db: AsyncSession, row: AccessRequest) -> dict[str, Any]:
                await service.set_push(
                    db,
                    row,
                    settings=settings,
                    endpoint=data.endpoint,
                    p256dh=data.keys.p256dh,
                    auth=data.keys.auth,
                )
                return await state_of(request, db, row)

            return await with_request(request, request_id, work)

        @delete("/{request_id:uuid}/push", status_code=204)
        async def unpush(
            self, request: Request[Any, Any, State], request_id: FromPath[uuid.UUID]
        ) -> None:
            await with_request(request, request_id, lambda db, row: service.clear_push(db, row.id))

        @post("/{request_id:uuid}/files", guards=[json_only], status_code=201)
        async def create_file(
            self,
            request: Request[Any, Any, State],
            request_id: FromPath[uuid.UUID],
            data: JSONBody[FileInput],
        ) -> Response[Any]:
            row = await with_request(
                request,
                request_id,
                lambda db, row: service.create_file(
                    db,
                    row,
                    kind=data.kind,
                    filename=data.filename,
                    size=data.size,
                    sha256=data.sha256,
                    media_type=data.media_type,
                    limits=limits,
                ),
            )
            return Response(
                _file_state(row, settings),
                status_code=201,
                headers={"location": f"/access/requests/{request_id}/files/{row.id}"},
            )

        @get("/{request_id:uuid}/files/{file_id:uuid}")
        async def file_status(
            self,
            request: Request[Any, Any, State],
            request_id: FromPath[uuid.UUID],
            file_id: FromPath[uuid.UUID],
        ) -> dict[str, Any]:
            row = await with_request(
                request,
                request_id,
                lambda db, row: service.get_file(db, row, file_id),
                lock=False,
            )
            return _file_state(row, settings)

        @put(
            "/{request_id:uuid}/files/{file_id:uuid}/chunks",
            guards=[octets_only],
            request_max_body_size=chunk_bytes,
        )
        async def chunk(
            self,
            request: Request[Any, Any, State],
            request_id: FromPath[uuid.UUID],
            file_id: FromPath[uuid.UUID],
            offset: Annotated[int, QueryParameter(ge=0)],
        ) -> dict[str, Any]:
            store = runtime_of(request.app.state).store
            body = await request.body()
            row = await with_request(
                request,
                request_id,
                lambda db, row: service.append_chunk(
                    db, store, row, file_id, offset=offset, data=body
                ),
            )
            return _file_state(row, settings)

        @post("/{request_id:uuid}/files/{file_id:uuid}/complete", guards=[json_only])
        async def complete(
            self,
            request: Request[Any, Any, State],
            request_id: FromPath[uuid.UUID],
            file_id: FromPath[uuid.UUID],
        ) -> Response[Any]:
            store = runtime_of(request.app.state).store
            row = await with_request(
                request,
                request_id,
                lambda db, row: service.complete_file(db, store, row, file_id),
            )
            return Response(_file_state(row, settings), status_code=200)

        @delete("/{request_id:uuid}/files/{file_id:uuid}", status_code=204)
        async def remove_file(
            self,
            request: Request[Any, Any, State],
            request_id: FromPath[uuid.UUID],
            file_id: FromPath[uuid.UUID],
        ) -> None:
            store = runtime_of(request.app.state).store
            key = await with_request(
                request, request_id, lambda db, row: service.delete_file(db, row, file_id)
            )
            await store.delete(key)

    return AccessController
