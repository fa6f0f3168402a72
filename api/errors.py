"""Domain errors: services raise these; each edge (GraphQL, HTTP) maps them once."""

from __future__ import annotations


class DomainError(Exception):
    """An expected failure the user can act on; its message is safe to show."""

    code = "BAD_REQUEST"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class Unauthenticated(DomainError):
    code = "UNAUTHENTICATED"

    def __init__(self, message: str = "Sign in to continue.") -> None:
        super().__init__(message)


class Forbidden(DomainError):
    code = "FORBIDDEN"


class NotFound(DomainError):
    """Also used for other people's records: existence is never revealed."""

    code = "NOT_FOUND"


class InvalidInput(DomainError):
    code = "BAD_USER_INPUT"


class RateLimited(DomainError):
    code = "RATE_LIMITED"

    def __init__(self, message: str, *, retry_after_seconds: int) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds
