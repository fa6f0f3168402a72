"""Refusals of the access-request flow, each with its HTTP status and a stable code."""

from __future__ import annotations

from api.errors import DomainError


class AccessError(DomainError):
    """A refused step; access/routes.py answers with `status` and `code` (plus `extra`)."""

    def __init__(
        self, status: int, code: str, message: str, *, field: str | None = None, **extra: object
    ) -> None:
        super().__init__(message, field=field)
        self.status = status
        self.code = code
        self.extra = extra


def not_editable(status: str) -> AccessError:
    return AccessError(
        409,
        "REQUEST_NOT_EDITABLE",
        "This request cannot be changed now.",
        requestStatus=status.upper(),
    )


def already_decided(status: str) -> AccessError:
    return AccessError(
        409,
        "ALREADY_DECIDED",
        f"This request was already decided ({status}).",
        requestStatus=status.upper(),
    )
