"""Per-request GraphQL context: one database session, its lock, and who is calling."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Concatenate, ParamSpec, TypeVar, cast

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.litestar import BaseContext

from api.clientip import client_ip
from api.database import begin_write
from api.errors import Unauthenticated
from api.outages import Outages
from api.settings import Settings
from auth.audit import RequestMeta
from auth.sessions import Principal

P = ParamSpec("P")
R = TypeVar("R")


class RequestContext(BaseContext, kw_only=True):
    settings: Settings
    db: AsyncSession
    principal: Principal | None = None
    session_token: str | None = None
    # graphql-core resolves sibling fields concurrently, but one AsyncSession must never be
    # used by two coroutines at once: every database call goes through this lock.
    db_lock: asyncio.Lock
    # This process's view of its dependencies (one warning per outage); None in bare tests.
    outages: Outages | None = None
    # Reads several resolvers need (the person, for their language): run once per request.
    once: dict[tuple[object, ...], asyncio.Future[Any]] = msgspec.field(default_factory=dict)

    def meta(self) -> RequestMeta:
        """Where this request came from, for the audit trail."""
        request = self.request
        if request is None:
            return RequestMeta()
        return RequestMeta(
            ip_address=client_ip(request),
            user_agent=request.headers.get("user-agent"),
        )

    def person_id(self) -> uuid.UUID:
        if self.principal is None:
            raise Unauthenticated()
        return self.principal.person_id

    async def read(
        self,
        fn: Callable[Concatenate[AsyncSession, P], Awaitable[R]],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> R:
        """Run a service function that only reads."""
        async with self.db_lock:
            return await fn(self.db, *args, **kwargs)

    async def read_once(
        self,
        fn: Callable[Concatenate[AsyncSession, P], Awaitable[R]],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> R:
        """Like read, but the same call in the same request runs once (siblings share it)."""
        key = (fn, *args, *sorted(kwargs.items()))
        future = self.once.get(key)
        if future is None:
            future = self.once[key] = asyncio.ensure_future(self.read(fn, *args, **kwargs))
        return cast("R", await future)

    async def write(
        self,
        fn: Callable[Concatenate[AsyncSession, P], Awaitable[R]],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> R:
        """Run a service function as one transaction: commit on success, roll back on error.

        GraphQL answers 200 even when a resolver fails, so the commit decision is explicit here.
        """
        async with self.db_lock:
            try:
                await begin_write(self.db)
                result = await fn(self.db, *args, **kwargs)
                await self.db.commit()
            except BaseException:
                await self.db.rollback()
                raise
            return result
