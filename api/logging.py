"""Structured logs: JSON in production, readable in development, request ids everywhere.

Every line a process writes goes through one handler on the root logger: our own events, the
libraries' (uvicorn, SQLAlchemy, alembic, pgqueuer, asyncio), uncaught exceptions in any thread,
and a startup refusal. So with `LOG_JSON` on, a log shipper never meets a line it cannot parse.
"""

from __future__ import annotations

import datetime
import json as jsonlib
import logging
import os
import sys
import threading
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import structlog

from api.settings import Settings

# Logged at INFO by libraries on every run, telling an operator nothing (alembic's plugin setup,
# its dialect choice): dropped so that `migrate` prints the migrations it ran and nothing else.
_QUIET = {
    "alembic.runtime.plugins": logging.WARNING,
    "httpx": logging.WARNING,
    "hpack": logging.WARNING,
    # SQLAlchemy names a pool's logger after its class: api.database.WatchedPool's INFO lines
    # ("Pool disposed") are sqlalchemy.pool's, which stay at WARNING too.
    "api.database.WatchedPool": logging.WARNING,
}
_DROPPED_MESSAGES = ("Context impl %s.", "Will assume %s DDL.")


class _DropNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg not in _DROPPED_MESSAGES


def _shared_processors() -> list[structlog.types.Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def make_formatter(*, json: bool) -> logging.Formatter:
    """The one formatter of every handler (also the one uvicorn's dictConfig builds, by name)."""
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )


def configure_logging(settings: Settings) -> None:
    structlog.configure(
        processors=[*_shared_processors(), structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(make_formatter(json=settings.log_json))
    handler.addFilter(_DropNoise())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    # Strawberry logs every GraphQL error with a traceback; api.gql_errors logs them instead.
    logging.getLogger("strawberry.execution").setLevel(logging.CRITICAL)
    # Our own middleware writes one access line per request, with the request id.
    logging.getLogger("uvicorn.access").disabled = True
    for name, level in _QUIET.items():
        logging.getLogger(name).setLevel(level)
    # SQL_ECHO through the root handler only. SQLAlchemy's own `echo=True` adds a second
    # handler to this logger, so each statement was printed twice (once in another format).
    logging.getLogger("sqlalchemy.engine").setLevel(
        logging.INFO if settings.sql_echo else logging.WARNING
    )
    _log_uncaught_exceptions()


def uvicorn_log_config(settings: Settings) -> dict[str, Any]:
    """uvicorn's `log_config`: it applies this in every server process it starts (before our
    app is imported there), so its own lines, startup failures included, share our format."""
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "duo",
        "stream": "ext://sys.stderr",
        "filters": ["noise"],
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"duo": {"()": make_formatter, "json": settings.log_json}},
        "filters": {"noise": {"()": _DropNoise}},
        "handlers": {"default": handler},
        "root": {"handlers": ["default"], "level": settings.log_level},
        "loggers": {
            "uvicorn": {"level": "WARNING"},
            "uvicorn.error": {"level": "WARNING"},
            "uvicorn.access": {"level": "WARNING", "propagate": False},
        },
    }


def _log_uncaught_exceptions() -> None:
    """Crashes are log events too: in the main thread, in other threads, and in asyncio."""
    log = structlog.get_logger("duo.crash")

    def excepthook(
        kind: type[BaseException], value: BaseException, tb: TracebackType | None
    ) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, value, tb)
            return
        log.critical("process.crashed", exc_info=(kind, value, tb))

    def thread_excepthook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit or args.exc_value is None:
            return
        log.critical(
            "thread.crashed",
            thread=args.thread.name if args.thread else None,
            exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
        )

    sys.excepthook = excepthook
    threading.excepthook = thread_excepthook


def startup_error_line(
    message: str,
    environ: Mapping[str, str] | None = None,
    *,
    event: str = "startup.configuration_error",
    label: str = "configuration error",
) -> str:
    """A command's refusal to start or carry on (a configuration error, or a dependency it
    cannot do without), in the format the logs would have had: the settings may not have
    loaded, so `LOG_JSON` (and its default, on outside development) is read here directly."""
    env = os.environ if environ is None else environ
    default = "0" if env.get("DUO_ENV", "development") == "development" else "1"
    json = env.get("LOG_JSON", default).strip().lower() in {"1", "true", "yes", "on"}
    line = f"{label}: {message}"
    if not json:
        return line
    return jsonlib.dumps(
        {
            "event": event,
            "error": line,
            "level": "critical",
            "logger": "duo.startup",
            "timestamp": datetime.datetime.now(datetime.UTC).isoformat(),
        }
    )
