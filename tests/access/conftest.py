"""Access-request tests: files go to a temporary directory, never to the project's var/."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.settings import Settings


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.with_overrides(forms_attachment_dir=tmp_path / "attachments")
