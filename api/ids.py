"""Turning client-supplied ids into UUIDs with a clear, field-specific error."""

from __future__ import annotations

import uuid

from api.errors import InvalidInput


def parse_uuid(value: str, *, field: str = "id") -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError, TypeError) as exc:
        raise InvalidInput("This id is not valid.", field=field) from exc
