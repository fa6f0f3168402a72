"""Access-request tests: files go to a temporary directory, never to the project's var/; the
app's push machinery (VAPID key, HTTP session) is made as at server start and closed after."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.app import create_app
from api.settings import Settings
from tests.notifications.conftest import push_receiver

__all__ = ["push_receiver"]  # the real Web Push receiver, shared with tests/notifications


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.with_overrides(forms_attachment_dir=tmp_path / "attachments")


@pytest.fixture
async def app(
    settings: Settings, session_factory: async_sessionmaker[AsyncSession]
) -> AsyncIterator[Litestar]:
    application = create_app(settings, session_factory=session_factory)
    await application.state["push"].keys()
    yield application
    await application.state["push"].close()
