"""The push machinery of one process: VAPID keys, the shared HTTP session and sender, and (on the
embedded SQLite default) the in-process worker. Built by create_app and by `duo-abroad worker`.
"""

from __future__ import annotations

import asyncio
import ssl

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.outages import Outages
from api.settings import Settings
from notifications import vapid
from notifications.jobs import memory_queuer
from notifications.sender import PushMetrics, PushSender
from notifications.transport import PushTransport
from notifications.webpush import WebPushClient, create_transport
from notifications.worker import PushWorker

log = structlog.get_logger("notifications.runtime")


class PushRuntime:
    """Lazily built: the first push or key lookup loads the keys and opens the HTTP session."""

    def __init__(
        self,
        settings: Settings,
        session_factory: async_sessionmaker[AsyncSession],
        *,
        ssl_context: ssl.SSLContext | None = None,
        outages: Outages | None = None,
    ) -> None:
        self.settings = settings
        self.outages = outages or Outages()
        self.session_factory = session_factory
        self.metrics = PushMetrics()
        self._ssl_context = ssl_context
        self._keys: vapid.VapidKeys | None = None
        self._http: PushTransport | None = None
        self._sender: PushSender | None = None
        self._lock = asyncio.Lock()
        self._worker: PushWorker | None = None
        self._worker_task: asyncio.Task[None] | None = None

    async def keys(self) -> vapid.VapidKeys:
        if self._keys is None:
            async with self._lock:
                if self._keys is None:
                    async with self.session_factory() as db:
                        keys = await vapid.load_keys(db, self.settings)
                        await db.commit()  # a key made now must be the key from now on
                    self._keys = keys
        return self._keys

    async def sender(self) -> PushSender:
        if self._sender is None:
            keys = await self.keys()
            async with self._lock:
                if self._sender is None:
                    self._http = create_transport(
                        timeout_seconds=self.settings.push_timeout_seconds,
                        public_only=self.settings.is_production,
                        ssl_context=self._ssl_context,
                    )
                    self._sender = PushSender(
                        WebPushClient(self._http),
                        vapid.VapidSigner(keys, subject=vapid.subject(self.settings)),
                        concurrency=self.settings.push_concurrency,
                        metrics=self.metrics,
                    )
        return self._sender

    async def start(self) -> None:
        """At server start: refuse to run in production without a VAPID key pair (SettingsError);
        on SQLite (one process, no PostgreSQL queue) deliver reminders in this process."""
        vapid.check_configuration(self.settings)
        try:
            await self.keys()  # an unreadable configured key fails now, not at the first push
        except Exception as exc:
            # A database that is out at start (keys kept there outside production): serve
            # anyway, 503s until it is back; the keys load at the first push.
            if self.outages.failed(exc, during="startup") is None:
                raise
        if self.settings.is_sqlite:
            await self.start_embedded_worker()

    async def start_embedded_worker(self) -> None:
        if self._worker_task is not None:
            return
        connect, queue = memory_queuer()
        self._worker = PushWorker(
            settings=self.settings,
            session_factory=self.session_factory,
            sender=await self.sender(),
            queue=queue,
            connect=connect,
            outages=self.outages,
        )
        self._worker_task = asyncio.create_task(self._worker.run(), name="push-worker")
        log.info("push.embedded_worker_started")

    async def close(self) -> None:
        if self._worker is not None and self._worker_task is not None:
            self._worker.stop()
            try:
                await asyncio.wait_for(self._worker_task, timeout=10)
            except (asyncio.CancelledError, TimeoutError):
                pass
            except Exception:
                log.exception("push.embedded_worker_failed")
            if not self._worker_task.done():
                self._worker_task.cancel()
            self._worker = self._worker_task = None
        if self._http is not None:
            await self._http.close()
            self._http = None
            self._sender = None
