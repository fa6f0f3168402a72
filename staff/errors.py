"""Refusals of staff actions: a stable text key (shown in the member's language) and a code."""

from __future__ import annotations

from api.errors import DomainError
from staff.texts import Translator, english


class StaffError(DomainError):
    """A staff action refused; `key` names its text in staff/locales, `code` its kind."""

    def __init__(
        self, key: str, *, field: str | None = None, code: str = "BAD_USER_INPUT", **params: object
    ) -> None:
        super().__init__(english(key, **params), field=field)
        self.code = code
        self.key = key
        self.params = params

    def text(self, t: Translator) -> str:
        return t(self.key, **self.params)


def invalid(key: str, *, field: str | None = None, **params: object) -> StaffError:
    error = StaffError(key, field=field)
    return _with(error, params)


def forbidden(key: str, **params: object) -> StaffError:
    return _with(StaffError(key, code="FORBIDDEN"), params)


def conflict(key: str, **params: object) -> StaffError:
    """Someone else holds or already decided the item (HTTP 409)."""
    return _with(StaffError(key, code="CONFLICT"), params)


def _with(error: StaffError, params: dict[str, object]) -> StaffError:
    if params:
        error.params = params
        error.message = english(error.key, **params)
        error.args = (error.message,)
    return error


def not_found(key: str = "error.notFound") -> StaffError:
    return StaffError(key, code="NOT_FOUND", field="id")
