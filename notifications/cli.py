"""`duo-abroad worker` (deliver reminders) and `duo-abroad push …` (operator commands).

Heavy imports happen inside the handlers, so `duo-abroad --help` stays quick.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import Coroutine
from typing import Any

from api.settings import Settings, SettingsError


def add_push_commands(sub: Any) -> None:
    """Register `worker` and `push` on the top-level subparsers of api.cli."""
    worker = sub.add_parser(
        "worker",
        help="post due reminders and deliver them by web push; run several for more throughput",
    )
    worker.add_argument(
        "--drain", action="store_true", help="exit once no job is left (catching up, tests)"
    )
    worker.set_defaults(handler=_worker)

    push = sub.add_parser("push", help="web push: VAPID keys, delivery statistics")
    actions = push.add_subparsers(dest="action", required=True, metavar="ACTION")
    keys = actions.add_parser(
        "vapid-keys", help="print a new VAPID key pair for VAPID_PRIVATE_KEY (production)"
    )
    keys.set_defaults(handler=_vapid_keys)
    stats = actions.add_parser("stats", help="deliveries by status, from the database")
    stats.set_defaults(handler=_stats)


def _run(main: Coroutine[Any, Any, int]) -> int:
    try:
        import uvloop  # the C event loop: cheaper TLS and scheduling for many small requests
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    import structlog

    from api.database import create_engine, create_session_factory
    from api.metrics import PoolSampler
    from api.outages import Outages, Stopping, configuration_error, describe, until_available
    from notifications.jobs import memory_queuer, postgres_queuer
    from notifications.runtime import PushRuntime
    from notifications.vapid import check_configuration
    from notifications.worker import PushWorker, settle_garbage_collector

    log = structlog.get_logger("notifications.cli")

    check_configuration(settings)  # SettingsError: one line and exit code 2 (api.cli.main)

    async def run() -> int:
        # Through outages, at start too: a worker started before its database waits for it.
        # Only a signal, a configuration error or a bug ends it (issue #12).
        engine = create_engine(settings.database_url, timeouts=settings, custom_plans=True)
        outages = Outages()
        outages.watch(engine)
        factory = create_session_factory(engine)
        runtime = PushRuntime(settings, factory, outages=outages)
        stopping = asyncio.Event()
        worker: PushWorker | None = None

        def stop() -> None:
            stopping.set()
            if worker is not None:
                worker.stop()

        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop)
        # duo_db_pool_*: the workers' pools count with the app processes' (issue #15 item 3).
        sampler = PoolSampler(engine.sync_engine.pool)
        sampler.start()
        try:
            sender = await until_available(runtime.sender, outages, stopping=stopping)
            connect, queue = memory_queuer() if settings.is_sqlite else postgres_queuer(settings)
            worker = PushWorker(
                settings=settings,
                session_factory=factory,
                sender=sender,
                queue=queue,
                connect=connect,
                outages=outages,
            )
            settle_garbage_collector()
            if not stopping.is_set():
                await worker.run(drain=args.drain)
            # A log line, not a print: under systemd both go to the journal, and with
            # LOG_JSON every line there must be JSON.
            log.info("push.worker_stopped", sent=sender.metrics.snapshot())
            return 0
        except Stopping:  # stopped while it waited for the database
            log.info("push.worker_stopped", sent={})
            return 0
        except Exception as exc:
            if configuration_error(exc):
                raise SettingsError(describe(exc)) from exc  # one line, exit code 2
            raise
        finally:
            await sampler.stop()
            await runtime.close()
            await engine.dispose()

    return _run(run())


def _vapid_keys(args: argparse.Namespace, settings: Settings) -> int:
    from notifications.vapid import b64url, generate_keys

    keys = generate_keys()
    scalar = keys.private_key.private_numbers().private_value.to_bytes(32, "big")
    print("# Keep the private key secret and never change it: every subscription is bound to it.")
    print(f"VAPID_PRIVATE_KEY={b64url(scalar)}")
    print(f"# public key (served to the PWA as viewer.pushPublicKey): {keys.public_key}")
    return 0


def _stats(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy import func, select

    from api.database import create_engine, create_session_factory
    from notifications.models import PushDelivery, PushSubscription, Reminder

    async def run() -> int:
        engine = create_engine(settings.database_url)
        try:
            async with create_session_factory(engine)() as db:
                by_status = (
                    await db.execute(
                        select(PushDelivery.status, func.count()).group_by(PushDelivery.status)
                    )
                ).all()
                reminders = await db.scalar(select(func.count()).select_from(Reminder))
                devices = await db.scalar(select(func.count()).select_from(PushSubscription))
        finally:
            await engine.dispose()
        print(f"reminders: {reminders}  devices: {devices}")
        for status, count in sorted(by_status, key=lambda row: str(row[0])):
            print(f"  {status.value:<10} {count}")
        return 0

    return asyncio.run(run())
