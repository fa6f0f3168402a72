"""Mapping errors once at the GraphQL edge: domain errors get a code, the rest is masked."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import structlog
from strawberry.extensions.base_extension import SchemaExtension

from api.errors import DomainError, RateLimited
from graphql import GraphQLError

log = structlog.get_logger("api.graphql")

MASKED_MESSAGE = "Unexpected error. It has been logged; please try again later."


def _is_request_error(error: GraphQLError) -> bool:
    """Parse, validation and variable errors: about the request, safe to show as they are."""
    if error.path is not None:
        return False
    original = error.original_error
    return original is None or isinstance(original, (ValueError, TypeError))


def to_client_error(error: GraphQLError) -> GraphQLError:
    original = error.original_error
    extensions: dict[str, Any]
    if isinstance(original, DomainError):
        extensions = {"code": original.code}
        if original.field:
            extensions["field"] = original.field
        if isinstance(original, RateLimited):
            extensions["retryAfter"] = original.retry_after_seconds
        message = original.message
    elif _is_request_error(error):
        extensions = {"code": "GRAPHQL_VALIDATION_FAILED"}
        message = error.message
    else:
        extensions = {"code": "INTERNAL_SERVER_ERROR"}
        message = MASKED_MESSAGE
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions=extensions,
    )


def log_errors(errors: list[GraphQLError]) -> None:
    for error in errors:
        original = error.original_error
        if isinstance(original, DomainError):
            log.info("graphql.domain_error", code=original.code, path=error.path)
        elif _is_request_error(error):
            log.info("graphql.request_error", message=error.message)
        else:
            log.error("graphql.unexpected_error", path=error.path, exc_info=original or error)


class DomainErrors(SchemaExtension):
    """Rewrites the result's errors into client-safe errors with extensions.code."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is not None and result.errors:
            result.errors = [to_client_error(e) for e in result.errors]
