"""The `duo-abroad` command: serve, migrate, seed demo data, import records, export the schema."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Sequence
from datetime import timedelta

from api.settings import PROJECT_ROOT, Settings, SettingsError, load_settings
from extracts.cli import add_extract_commands
from forms.cli import add_form_commands
from notifications.cli import add_push_commands
from records.cli import add_record_commands
from staff.cli import add_staff_commands

Command = Callable[[argparse.Namespace, Settings], int]


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import structlog
    import uvicorn

    from api.app import check_configuration
    from api.logging import uvicorn_log_config

    if args.port and "PUBLIC_ORIGIN" not in os.environ:
        # The app reads its settings again in the server process; keep the origin in step
        # with the port, or browsers' Origin headers and passkeys would not match.
        os.environ["PORT"] = str(args.port)
        settings = load_settings()
    # Here, not only in the workers: a refusal is then one line and exit code 2 (main), and
    # uvicorn's supervisor never restarts workers that cannot start.
    check_configuration(settings)
    host, port = args.host or settings.host, args.port or settings.port
    structlog.get_logger("api.cli").info(
        "serve.starting",
        listen=f"http://{host}:{port}",
        public_origin=settings.public_origin,
        workers=args.workers,
        database=_redact(settings.database_url),
    )
    uvicorn.run(
        "api.app:create_served_app",
        factory=True,
        host=host,
        port=port,
        workers=args.workers,
        # The client address comes from api.clientip (TRUSTED_PROXIES) alone: uvicorn's own
        # handling believes X-Forwarded-For from 127.0.0.1 by default, i.e. from anything on
        # this host, which could then pick the address that per-IP rate limits count.
        proxy_headers=False,
        server_header=False,
        log_config=uvicorn_log_config(settings),
        log_level="warning",
    )
    return 0


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    from api.migrate import upgrade

    applied = upgrade(settings.database_url, args.revision)
    if not applied:
        done = "nothing to apply"
    elif len(applied) == 1:
        done = f"applied migration {applied[0]}"
    else:
        done = f"applied {len(applied)} migrations, {applied[0]} to {applied[-1]}"
    database = _redact(settings.database_url)
    if settings.log_json:
        # Run by systemd (deploy/), its output goes to the journal with the logs: JSON too.
        import structlog

        structlog.get_logger("api.cli").info(
            "migrate.done", revision=args.revision, applied=applied, database=database
        )
    else:
        print(f"database at {args.revision} ({done}): {database}")
    return 0


def _seed_demo(args: argparse.Namespace, settings: Settings) -> int:
    from rich.progress import Progress

    from api.database import create_engine, create_session_factory
    from records.demo import DEMO_CUSTOMER_NUMBER, DEMO_DATE_OF_BIRTH, seed_demo

    async def run() -> int:
        engine = create_engine(settings.database_url)
        try:
            async with create_session_factory(engine)() as db:
                with Progress(transient=True, disable=args.persons < 5000) as progress:
                    task = progress.add_task("creating demo persons", total=args.persons)
                    return await seed_demo(
                        db,
                        persons=args.persons,
                        seed=args.seed,
                        on_progress=lambda n: progress.advance(task, n),
                    )
        finally:
            await engine.dispose()

    created = asyncio.run(run())
    print(f"demo data: {created} new of {args.persons} persons (seed {args.seed})")
    print(
        f"demo user: customer number {DEMO_CUSTOMER_NUMBER}, "
        f"date of birth {DEMO_DATE_OF_BIRTH.isoformat()}"
    )
    return 0


def _export_schema(args: argparse.Namespace, settings: Settings) -> int:
    from api.persisted import OPERATIONS_MODULE, operations_module
    from api.schema import schema_sdl

    if not (PROJECT_ROOT / "pyproject.toml").is_file():
        print(
            "export-schema writes into a source checkout; this is an installed package",
            file=sys.stderr,
        )
        return 2
    from api.app import create_app
    from api.openapi import DOCUMENT, document

    target = PROJECT_ROOT / "graphql" / "schema.graphql"
    target.write_text(schema_sdl(), encoding="utf-8")
    OPERATIONS_MODULE.write_text(operations_module(), encoding="utf-8")
    DOCUMENT.parent.mkdir(exist_ok=True)
    # The development app: the only one that generates the document (nothing is started).
    DOCUMENT.write_text(document(create_app(Settings())), encoding="utf-8")
    for path in (target, OPERATIONS_MODULE, DOCUMENT):
        print(f"wrote {path.relative_to(PROJECT_ROOT)}")
    return 0


def _activation_issue(args: argparse.Namespace, settings: Settings) -> int:
    from api.database import create_engine, create_session_factory
    from api.errors import NotFound
    from auth.activation import issue_code

    async def run() -> int:
        engine = create_engine(settings.database_url)
        try:
            async with create_session_factory(engine)() as db:
                try:
                    issued = await issue_code(
                        db,
                        secret_key=settings.secret_key,
                        customer_number=args.customer,
                        issued_by=f"staff:{args.issued_by}",
                        validity=timedelta(days=args.valid_days),
                    )
                except NotFound:
                    print(f"no person with customer number {args.customer}", file=sys.stderr)
                    return 1
                await db.commit()
        finally:
            await engine.dispose()
        person = issued.person
        print(f"activation code for {person.given_names} {person.family_name} ({args.customer}):")
        print(f"\n    {issued.code}\n")
        print(
            f"valid until {issued.expires_at:%Y-%m-%d %H:%M} UTC, single use; "
            "earlier unused codes for this person no longer work."
        )
        return 0

    return asyncio.run(run())


def _housekeeping(args: argparse.Namespace, settings: Settings) -> int:
    from api import housekeeping
    from api.database import create_engine, create_session_factory

    async def run() -> int:
        engine = create_engine(settings.database_url)
        try:
            purged = await housekeeping.run(create_session_factory(engine), settings)
        finally:
            await engine.dispose()
        print(
            f"purged {purged.sessions} expired session(s), {purged.uploads} expired upload(s), "
            f"{purged.deliveries} push delivery record(s) older than 90 days"
        )
        return 0

    return asyncio.run(run())


def _check_config(args: argparse.Namespace, settings: Settings) -> int:
    from api.checks import report, run_checks

    checks = asyncio.run(run_checks(settings))
    print(report(checks))
    failed = [c.name for c in checks if not c.ok]
    print(f"\n{len(failed)} problem(s): {', '.join(failed)}" if failed else "\nready to start")
    return 1 if failed else 0


def _redact(url: str) -> str:
    # Never print a database password.
    from sqlalchemy import make_url

    return make_url(url).render_as_string(hide_password=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="duo-abroad", description="DUO Abroad: server and operator commands."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="serve the API and the PWA")
    serve.add_argument("--host", help="bind address (default: HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default: PORT or 8000)")
    serve.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    serve.set_defaults(handler=_serve)

    check = sub.add_parser(
        "check-config",
        help="check settings, keys, directories, database (reachable, migrated), Redis; "
        "starts nothing (exit 0: ready, 1: problems, 2: settings unusable)",
    )
    check.set_defaults(handler=_check_config)

    migrate = sub.add_parser("migrate", help="apply database migrations")
    migrate.add_argument("--revision", default="head", help="target revision (default head)")
    migrate.set_defaults(handler=_migrate)

    seed = sub.add_parser("seed-demo", help="create synthetic demo persons (idempotent)")
    seed.add_argument("--persons", type=int, default=200, help="how many persons (default 200)")
    seed.add_argument("--seed", type=int, default=20261128, help="random seed")
    seed.set_defaults(handler=_seed_demo)

    activation = sub.add_parser("activation", help="activation codes (DUO staff)")
    activation_sub = activation.add_subparsers(dest="action", required=True, metavar="ACTION")
    issue = activation_sub.add_parser(
        "issue", help="issue a one-time activation code for a person (after an identity check)"
    )
    issue.add_argument("--customer", required=True, help="the person's DUO customer number")
    issue.add_argument("--valid-days", type=int, default=30, help="validity in days (default 30)")
    issue.add_argument(
        "--issued-by", default=os.environ.get("USER", "cli"), help="staff member (audit log)"
    )
    issue.set_defaults(handler=_activation_issue)

    add_extract_commands(sub)
    add_form_commands(sub)
    add_push_commands(sub)
    add_staff_commands(sub)
    add_record_commands(sub)

    chores = sub.add_parser(
        "housekeeping",
        help="purge expired sessions and never-submitted uploads now (workers do it daily)",
    )
    chores.set_defaults(handler=_housekeeping)

    export = sub.add_parser(
        "export-schema",
        help="write graphql/schema.graphql, the PWA's persisted-query hashes and "
        "contract/openapi.json from the code",
    )
    export.set_defaults(handler=_export_schema)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Command = args.handler
    try:
        settings = load_settings()
        from api.logging import configure_logging

        configure_logging(settings)  # logs to stderr: stdout stays for what the command prints
        return handler(args, settings)
    except SettingsError as exc:
        # Whichever command meets it, and however late (keys are read where they are used):
        # one line for the operator, exit code 2, never a traceback.
        from api.logging import startup_error_line

        print(startup_error_line(str(exc)), file=sys.stderr)
        return 2
    except Exception as exc:
        return _refused(exc)


def _refused(exc: Exception) -> int:
    """A database that does not exist or refuses our role (exit 2), or that cannot be reached
    (exit 1), ends a command with one line in the logs' format, not a traceback (issue #15
    item 4). Anything else is a bug: raised, and logged as a crash."""
    from api.logging import startup_error_line
    from api.outages import configuration_error, describe, unavailable

    if configuration_error(exc):
        print(startup_error_line(describe(exc)), file=sys.stderr)
        return 2
    dependency = unavailable(exc)
    if dependency is None:
        raise exc
    line = startup_error_line(
        describe(exc), event="startup.dependency_unavailable", label=f"{dependency} unavailable"
    )
    print(line, file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
