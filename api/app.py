"""The composition root: create_app(settings) wires everything, at call time."""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import NoReturn

from litestar import Litestar
from litestar.config.compression import CompressionConfig
from litestar.datastructures import CacheControlHeader, State
from litestar.exceptions import HTTPException
from litestar.middleware import DefineMiddleware
from litestar.static_files import create_static_files_router
from litestar.types import ExceptionHandlersMap
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from access.routes import make_access_controller
from api.database import create_engine, create_session_factory
from api.gql_view import make_graphql_controller_class
from api.http import ApiRequest, EdgeMiddleware, HeadAsGet, exception_handlers, live, ready
from api.logging import configure_logging, startup_error_line
from api.metrics import PoolSampler
from api.migrate import script_revisions
from api.openapi import openapi_config
from api.outages import Outages, configuration_error, describe
from api.persisted import PersistedDocuments
from api.pwa import service_worker_routes
from api.resources import bundled_dir
from api.schema import build_schema
from api.scrape import scrape
from api.settings import Settings, SettingsError, load_settings
from auth.ratelimit import (
    MemoryRateLimiter,
    RateLimiter,
    RedisRateLimiter,
    ResilientRateLimiter,
)
from auth.routes import AuthController
from extracts.issuer import ExtractIssuer
from extracts.keys import configured_ring
from extracts.routes import route_handlers as extract_routes
from forms.attachments import AttachmentStore
from forms.receipts import ReceiptSigner, RingSigner
from forms.routes import make_attachment_controller
from forms.runtime import STATE_KEY as FORMS_STATE_KEY
from forms.runtime import build_runtime as build_forms_runtime
from notifications import vapid
from notifications.runtime import PushRuntime
from records.imports.jobs import RUNNER_STATE_KEY as IMPORTS_STATE_KEY
from records.imports.jobs import ImportRunner
from staff.pages import staff_route_handlers
from staff.web import pages_or
from staff.web import template_config as staff_template_config
from wallet.routes import route_handlers as wallet_routes

PWA_DIR = bundled_dir("pwa")


def check_configuration(settings: Settings) -> None:
    """Everything that would refuse to start the server, checked without a database.

    `serve` runs it before uvicorn starts (so each refusal is one line, whatever the number of
    workers); create_app and its lifespan meet the same checks again where the keys are used.
    Raises SettingsError.
    """
    configured_ring(settings)  # EXTRACT_SIGNING_KEYS: required in production, valid JWKs
    vapid.check_configuration(settings)  # VAPID_PRIVATE_KEY/VAPID_SUBJECT
    if settings.vapid_private_key:  # signs once: a subject py_vapid refuses fails here
        vapid.VapidSigner(
            vapid.parse_private_key(settings.vapid_private_key), subject=vapid.subject(settings)
        )


def create_served_app() -> Litestar:
    """The app as `duo-abroad serve` runs it (uvicorn's factory, in each worker process).

    A configuration error found while starting, even one only the database reveals (keys kept
    there in development), ends the process with exit code 2 and one line on stderr, as every
    other command does, instead of uvicorn's traceback and exit code 3.
    """
    try:
        settings = load_settings()
        return create_app(settings, on_configuration_error=_exit_on_configuration_error)
    except SettingsError as exc:
        _exit_on_configuration_error(exc)


def _exit_on_configuration_error(error: SettingsError) -> NoReturn:
    sys.stderr.write(startup_error_line(str(error)) + "\n")
    sys.stderr.flush()
    # Not SystemExit: raised inside the lifespan, Litestar and uvicorn would catch it and log a
    # traceback. Nothing has been served yet, so there is nothing to finish.
    os._exit(2)


def _exception_handlers() -> ExceptionHandlersMap:
    """The API's handlers; Litestar's refusals on a staff page (a mistyped URL) as a page."""
    handlers = exception_handlers()
    handlers[HTTPException] = pages_or(handlers[HTTPException])
    return handlers


def create_app(
    settings: Settings | None = None,
    *,
    session_factory: async_sessionmaker[AsyncSession] | None = None,
    rate_limiter: RateLimiter | None = None,
    receipt_signer: ReceiptSigner | None = None,
    attachment_store: AttachmentStore | None = None,
    on_configuration_error: Callable[[SettingsError], NoReturn] | None = None,
) -> Litestar:
    """Build the ASGI app. Tests hand in their own session factory (bound to a transaction).

    A SettingsError while starting (the lifespan) is raised, or handed to
    `on_configuration_error` when given (`serve` ends the process with one line).
    """
    settings = settings or load_settings()
    configure_logging(settings)
    # One warning per outage of the database or Redis, however many requests meet it.
    outages = Outages()
    engine: AsyncEngine | None = None
    if session_factory is None:
        engine = create_engine(settings.database_url, timeouts=settings)  # SQL_ECHO: api.logging
        outages.watch(engine)
        session_factory = create_session_factory(engine)
    redis: Redis | None = None
    if settings.redis_url:
        redis = Redis.from_url(
            settings.redis_url,
            socket_connect_timeout=settings.redis_timeout_seconds,
            socket_timeout=settings.redis_timeout_seconds,
        )
    if rate_limiter is None:
        if redis is not None:
            rate_limiter = ResilientRateLimiter(RedisRateLimiter(redis), outage=outages.redis)
        else:
            rate_limiter = MemoryRateLimiter()

    # Refuses to start in production without configured issuer keys (SettingsError).
    extract_issuer = ExtractIssuer(settings, session_factory)
    # Form receipts are signed by the extract issuer's keys (one JWKS for every signed thing).
    forms = build_forms_runtime(
        settings,
        signer=receipt_signer or RingSigner(extract_issuer.ring),
        store=attachment_store,
    )
    push = PushRuntime(settings, session_factory, outages=outages)
    record_imports = ImportRunner(session_factory, settings.import_dir)
    persisted = PersistedDocuments.load()
    schema = build_schema(settings, persisted=persisted)
    persisted.check_against(schema, settings)
    graphql_controller = make_graphql_controller_class(
        schema=schema,
        settings=settings,
        persisted=persisted,
        session_factory=session_factory,
        outages=outages,
    )

    @asynccontextmanager
    async def lifespan(_app: Litestar) -> AsyncIterator[None]:
        try:
            await extract_issuer.warm_up()
            # Refuses to start in production without a VAPID key; on SQLite runs the push worker.
            await push.start()
        except SettingsError as exc:
            if on_configuration_error is None:
                raise
            await push.close()
            on_configuration_error(exc)
        except Exception as exc:
            # A database that does not exist, refuses our role or was never migrated: no
            # retry fixes it, so `serve` ends with one line (not uvicorn's traceback).
            if on_configuration_error is None or not configuration_error(exc):
                raise
            await push.close()
            on_configuration_error(SettingsError(describe(exc)))
        sampler = PoolSampler(engine.sync_engine.pool) if engine is not None else None
        if sampler is not None:
            sampler.start()
        # Everything built so far lives as long as the process: keep the cyclic garbage
        # collector from walking it again and again (measurable per request, bench/).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await record_imports.close()
            if sampler is not None:
                await sampler.stop()
            await push.close()
            if engine is not None:
                await engine.dispose()
            if redis is not None:
                await redis.aclose()

    pwa = create_static_files_router(
        path="/",
        directories=[PWA_DIR],
        html_mode=True,
        include_in_schema=False,
        # Revalidate every time: file names are not content-hashed, the service worker
        # provides the offline copy.
        cache_control=CacheControlHeader(no_cache=True),
    )
    app = Litestar(
        route_handlers=[
            live,
            ready,
            scrape,
            graphql_controller,
            AuthController,
            *extract_routes(),
            *wallet_routes(),
            make_attachment_controller(settings),
            *staff_route_handlers(),
            make_access_controller(settings),
            *service_worker_routes(PWA_DIR),
            pwa,
        ],
        middleware=[DefineMiddleware(EdgeMiddleware, settings=settings)],
        compression_config=CompressionConfig(
            backend="brotli", brotli_gzip_fallback=True, minimum_size=512
        ),
        request_max_body_size=settings.max_request_bytes,
        request_class=ApiRequest,
        template_config=staff_template_config(),
        lifespan=[lifespan],
        state=State(
            {
                "settings": settings,
                "session_factory": session_factory,
                "rate_limiter": rate_limiter,
                "extract_issuer": extract_issuer,
                FORMS_STATE_KEY: forms,
                "push": push,
                "outages": outages,
                "redis": redis,
                "revisions": script_revisions(),
                IMPORTS_STATE_KEY: record_imports,
            }
        ),
        exception_handlers=_exception_handlers(),
        logging_config=None,
        openapi_config=openapi_config(settings),
        debug=False,
    )
    app.asgi_handler = HeadAsGet(app.asgi_handler)
    return app
