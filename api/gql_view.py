"""The /graphql endpoint: Strawberry's Litestar controller, persisted queries, JSON errors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import msgspec
import structlog
from cross_web import HTTPException as StrawberryHTTPException
from litestar import Controller, Request, Response
from litestar.enums import MediaType
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.litestar import make_graphql_controller
from strawberry.schema import BaseSchema
from strawberry.types import ExecutionResult

from api.context import RequestContext
from api.gql_errors import SERVICE_UNAVAILABLE
from api.http import CODES
from api.outages import DependencyUnavailable, Outages
from api.persisted import PersistedDocuments, PersistedQueryError
from api.settings import Settings
from auth import sessions
from auth.cookies import session_cookie_name

log = structlog.get_logger("api.graphql")


def error_body(code: str, message: str) -> dict[str, Any]:
    """The GraphQL-over-HTTP error shape, also for errors before execution."""
    return {"errors": [{"message": message, "extensions": {"code": code}}]}


def make_context_getter(
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    outages: Outages | None = None,
) -> Callable[[Request[Any, Any, Any]], AsyncIterator[RequestContext]]:
    cookie_name = session_cookie_name(settings)

    async def get_context(request: Request[Any, Any, Any]) -> AsyncIterator[RequestContext]:
        async with session_factory() as db:
            token = request.cookies.get(cookie_name) or None
            principal = None
            wrote = False
            if token:
                lookup = await sessions.resolve_session(
                    db, token=token, idle_timeout=settings.session_idle_timeout
                )
                principal, wrote = lookup.principal, lookup.wrote
            # End the lookup's transaction either way: a read snapshot held open for the whole
            # request would stop a later mutation from writing on SQLite.
            if wrote:
                await db.commit()
            elif settings.is_sqlite:
                # Only SQLite needs this; on PostgreSQL the open snapshot blocks nobody and
                # ending it would cost a second connection checkout per request.
                await db.rollback()
            yield RequestContext(
                settings=settings,
                db=db,
                principal=principal,
                session_token=token if principal else None,
                db_lock=asyncio.Lock(),
                outages=outages,
            )

    return get_context


def make_graphql_controller_class(
    *,
    schema: BaseSchema,
    settings: Settings,
    persisted: PersistedDocuments,
    session_factory: async_sessionmaker[AsyncSession],
    outages: Outages | None = None,
) -> type[Controller]:
    base = make_graphql_controller(
        schema,
        path="/graphql",
        graphql_ide="graphiql" if settings.allow_adhoc_queries else None,
        allow_queries_via_get=True,
        context_getter=make_context_getter(settings, session_factory, outages),
        subscription_protocols=(),
        # Multipart would let a cross-site <form> POST run a mutation (no preflight).
        multipart_uploads_enabled=False,
    )

    class GraphQLController(base):  # type: ignore[valid-type,misc]
        # No subscriptions: drop Strawberry's WebSocket route (its context would be a Request).
        websocket_endpoint = None
        # GraphQL's contract is its SDL (graphql/schema.graphql), not the REST OpenAPI document.
        include_in_schema = False

        def decode_json(self, data: str | bytes) -> object:
            # Bodies and the GET's variables/extensions. msgspec is faster than json.loads, and a
            # nesting too deep (RecursionError in either) must be a 400, never a 500.
            try:
                return msgspec.json.decode(data)
            except (msgspec.DecodeError, RecursionError) as exc:
                raise json.JSONDecodeError(str(exc), "", 0) from exc

        async def parse_http_body(self, request: Any) -> GraphQLRequestData:
            data: GraphQLRequestData | list[GraphQLRequestData] = await super().parse_http_body(
                request
            )
            if isinstance(data, list):  # batching is off; Strawberry refuses first
                raise StrawberryHTTPException(400, "Batching is not enabled")
            try:
                data.query = persisted.resolve(
                    query=data.query,
                    extensions=data.extensions,
                    allow_adhoc=settings.allow_adhoc_queries,
                )
            except PersistedQueryError as exc:
                log.info("graphql.persisted_query_refused", code=exc.code)
                raise _CodedHTTPException(400, exc.message, exc.code) from exc
            return data

        async def process_result(
            self, request: Request[Any, Any, Any], result: ExecutionResult
        ) -> GraphQLHTTPResponse:
            # A resolver met a database or Redis outage: not a 200 with a masked error but the
            # same 503 as every other endpoint (the edge's handler answers it).
            if any(
                (error.extensions or {}).get("code") == SERVICE_UNAVAILABLE
                for error in result.errors or ()
            ):
                raise DependencyUnavailable("a dependency")
            return await super().process_result(request, result)  # type: ignore[no-any-return]

        async def execute_request(
            self, request: Request[Any, Any, Any], context: Any, root_value: Any
        ) -> Response[Any]:
            try:
                return await self.run(request, context=context, root_value=root_value)  # type: ignore[no-any-return]
            except StrawberryHTTPException as exc:
                # Strawberry answers 404 for a GET that is neither a query nor the IDE (e.g.
                # Accept: text/html without the IDE): NOT_FOUND, like every other 404.
                code = (
                    exc.code
                    if isinstance(exc, _CodedHTTPException)
                    else CODES.get(exc.status_code, "BAD_REQUEST")
                )
                return Response(
                    error_body(code, exc.reason),
                    status_code=exc.status_code,
                    media_type=MediaType.JSON,
                )

    return GraphQLController


class _CodedHTTPException(StrawberryHTTPException):
    def __init__(self, status_code: int, reason: str, code: str) -> None:
        super().__init__(status_code, reason)
        self.code = code
