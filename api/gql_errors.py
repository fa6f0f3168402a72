"""Mapping errors once at the GraphQL edge: domain errors get a code, the rest is masked."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

import structlog
from strawberry.extensions.base_extension import SchemaExtension

from api import metrics
from api.errors import DomainError, RateLimited
from api.outages import Outages, configuration_error, unavailable
from graphql import GraphQLError, ValueNode, VariableDefinitionNode

log = structlog.get_logger("api.graphql")

MASKED_MESSAGE = "Unexpected error. It has been logged; please try again later."
SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
UNAVAILABLE_MESSAGE = "The service is temporarily unavailable. Please try again in a moment."


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


# graphql-core suggests names from the schema ("Did you mean 'offsetsDays'?", "… the enum value
# 'PAYMENT'?") and names types and fields in its messages. Introspection is off outside
# development; these would otherwise enumerate the schema a guess at a time.
_SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")
_QUOTED = re.compile(r"'([^']*)'")


def _input_message(error: GraphQLError) -> str:
    """A value that does not fit, in words made only of what the client sent: the variable
    (or argument) and the path inside its value, never the expected type or missing fields."""
    match = _INVALID_VALUE.match(error.message)
    if match is None:  # pragma: no cover - input_value_field matched the same expression
        return "A value does not fit the schema."
    subject = f"Variable '${match.group(1)}'" if match.group(1) else f"Argument '{match.group(2)}'"
    where = f" at {match.group(3)}" if match.group(3) else ""
    return f"{subject} has an invalid value{where}."


def scrub(message: str, sent: str) -> str:
    """The message without suggestions, and without quoted names that `sent` does not contain."""

    def keep_if_sent(quoted: re.Match[str]) -> str:
        name = quoted.group(1).strip("$[]!")
        if name and re.search(rf"(?<!\w){re.escape(name)}(?!\w)", sent):
            return quoted.group(0)
        return "'…'"

    return _QUOTED.sub(keep_if_sent, _SUGGESTION.sub("", message))


def to_client_error(error: GraphQLError, *, sent: str | None = None) -> GraphQLError:
    """The error as the client sees it. `sent` (what the client sent: document, variables,
    operation name) is given outside development: messages then name nothing else."""
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
        message = error.message if sent is None else _input_message(error)
    elif _is_request_error(error):
        extensions = {"code": "GRAPHQL_VALIDATION_FAILED"}
        message = error.message if sent is None else scrub(error.message, sent)
    elif original is not None and (
        unavailable(original) is not None or configuration_error(original)
    ):
        # The edge turns the whole answer into a 503 (api/gql_view.py).
        extensions = {"code": SERVICE_UNAVAILABLE}
        message = UNAVAILABLE_MESSAGE
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


def log_errors(errors: list[GraphQLError], outages: Outages | None = None) -> None:
    for error in errors:
        original = error.original_error
        if (
            original is not None
            and outages is not None
            and (outages.failed(original) or outages.refused(original))
        ):
            continue  # an outage: logged once for all the requests that meet it
        if isinstance(original, DomainError):
            log.info("graphql.domain_error", code=original.code, path=error.path)
        elif input_value_field(error) is not None or _is_request_error(error):
            log.info("graphql.request_error", message=error.message)
        else:
            log.error("graphql.unexpected_error", path=error.path, exc_info=original or error)


class DomainErrors(SchemaExtension):
    """Rewrites the result's errors into client-safe errors with extensions.code.

    `verbose` (development only) keeps graphql-core's own wording, suggestions included.
    """

    def __init__(self, *, verbose: bool = False) -> None:
        self.verbose = verbose

    def on_operation(self) -> Iterator[None]:
        yield
        context = self.execution_context
        result = context.result
        if result is not None and result.errors:
            sent = None
            if not self.verbose:
                variables = json.dumps(context.variables or {}, default=str)
                sent = "\n".join((context.query or "", variables, context.operation_name or ""))
            result.errors = [to_client_error(e, sent=sent) for e in result.errors]


class CountOperations(SchemaExtension):
    """duo_graphql_operations_total: persisted operation name and outcome (listed before
    DomainErrors, so it sees the codes the client gets)."""

    def __init__(self, names: Mapping[str, str]) -> None:
        self._names = names  # document text -> persisted operation name

    def on_operation(self) -> Iterator[None]:
        yield
        context = self.execution_context
        query = context.query
        # Never the client's operationName: a free-form label would make a series per client.
        name = self._names.get(query, "adhoc") if query is not None else "adhoc"
        result = context.result
        outcome = "ok"
        if result is not None and result.errors:
            extensions = result.errors[0].extensions or {}
            outcome = str(extensions.get("code") or "INTERNAL_SERVER_ERROR")
        metrics.GRAPHQL_OPERATIONS.labels(name, outcome).inc()
