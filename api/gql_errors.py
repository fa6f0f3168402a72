"""Mapping errors once at the GraphQL edge: domain errors get a code, the rest is masked."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import structlog
from strawberry.extensions.base_extension import SchemaExtension

from api.errors import DomainError, RateLimited
from graphql import GraphQLError, ValueNode, VariableDefinitionNode

log = structlog.get_logger("api.graphql")

MASKED_MESSAGE = "Unexpected error. It has been logged; please try again later."


# graphql-core's wording for a value it cannot coerce (execution/values.py), with the path
# inside the value, e.g. "Variable '$input' has invalid value at .quietHours.start: …".
_INVALID_VALUE = re.compile(
    r"^(?:Variable '\$(\w+)'|Argument '(\w+)') has invalid value(?: at ((?:\.\w+|\[\d+\])+))?:"
)


def _is_request_error(error: GraphQLError) -> bool:
    """Parse, validation and variable errors: about the request, safe to show as they are."""
    if error.path is not None:
        return False
    original = error.original_error
    return original is None or isinstance(original, (ValueError, TypeError))


def input_value_field(error: GraphQLError) -> str | None:
    """The input that a value sent by the client does not fit, or None for other errors.

    Two shapes, both about the request and never the server's fault: a variable's value
    (before execution, reported on the variable's definition, wrapping the scalar's or input
    object's own error), and an argument given a variable's explicit null where the variable
    had a default (during execution, e.g. `$first: Int = 20` passed to `first: Int!`). The
    field is the innermost input field on the value's path, else the variable or argument.
    """
    original = error.original_error
    nodes = error.nodes or []
    if error.path is None:
        # A variable's value: on its definition, wrapping the coercion's GraphQLError.
        if not (nodes and all(isinstance(n, VariableDefinitionNode) for n in nodes)):
            return None
        if not isinstance(original, GraphQLError):
            return None
    elif not (
        # An argument's value: a GraphQLError located at the value itself, from no exception.
        isinstance(original, GraphQLError)
        and original.original_error is None
        and nodes
        and all(isinstance(n, ValueNode) for n in nodes)
    ):
        return None
    match = _INVALID_VALUE.match(error.message)
    if match is None:
        return None
    names = re.findall(r"\.(\w+)", match.group(3) or "")
    return names[-1] if names else (match.group(1) or match.group(2))


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
    elif (field := input_value_field(error)) is not None:
        extensions = {"code": "BAD_USER_INPUT", "field": field}
        message = error.message
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
        elif input_value_field(error) is not None or _is_request_error(error):
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
