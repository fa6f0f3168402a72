"""Outside development, GraphQL errors name no field, type or enum value the client did not send.

Introspection is off there; graphql-core's "Did you mean …?" suggestions and the type names
in its messages would otherwise let anyone enumerate the schema, one guess at a time.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.app import create_app
from api.persisted import OPERATIONS_DIR, PersistedDocuments
from api.schema import build_schema
from api.settings import Settings
from graphql import GraphQLEnumType, GraphQLInputObjectType, GraphQLObjectType
from tests.support import asgi_client, sign_in

HASHES = {d.name: d.sha256 for d in PersistedDocuments.load().by_hash.values()}


def schema_names() -> set[str]:
    """Every type, field, argument, input field and enum value name of the schema."""
    schema = build_schema(Settings())._schema
    names: set[str] = set()
    for name, kind in schema.type_map.items():
        if name.startswith("__"):
            continue
        names.add(name)
        if isinstance(kind, GraphQLEnumType):
            names.update(kind.values)
        if isinstance(kind, GraphQLObjectType | GraphQLInputObjectType):
            for field_name, field in kind.fields.items():
                names.add(field_name)
                names.update(getattr(field, "args", {}) or {})
    return names


SCHEMA_NAMES = schema_names()


# The fixed words of the server's own wording, some of which happen to be field names too.
OUR_WORDS = {"Variable", "Argument", "has", "an", "invalid", "value", "at"}


def unsent_names(message: str, sent: str) -> set[str]:
    """Schema names in `message` that do not occur in what the client sent."""
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", message)) - OUR_WORDS
    return {w for w in words & SCHEMA_NAMES if not re.search(rf"\b{re.escape(w)}\b", sent)}


@pytest.fixture
async def production_like(
    database_url: str, session_factory: async_sessionmaker[AsyncSession], db: AsyncSession
) -> AsyncIterator[httpx.AsyncClient]:
    """Persisted queries only, as in production; signed in."""
    from tests.support import add_person

    settings = Settings(environment="test", database_url=database_url, allow_adhoc_queries=False)
    async with asgi_client(create_app(settings, session_factory=session_factory)) as client:
        me = await add_person(db)
        await sign_in(client, db, me.person["id"])
        yield client


@pytest.mark.parametrize(
    ("operation", "variables"),
    [
        ("UpdateReminderPreferences", {"input": {"offsetDays": [1]}}),  # offsetsDays
        ("UpdateReminderPreferences", {"input": {"kinds": ["PAYMNT"]}}),  # PAYMENT
        ("UpdateReminderPreferences", {"input": {"kinds": ["payment"]}}),
        ("UpdateReminderPreferences", {"input": {"quietHours": {"end": "07:00"}}}),  # start
        ("UpdateReminderPreferences", {"input": {"quietHours": {"start": 7, "end": "07:00"}}}),
        ("UpdateReminderPreferences", {"input": {"offsetsDays": ["soon"]}}),  # Int
        ("UpdateReminderPreferences", {"input": {"language": ["en"]}}),
        ("UpdateReminderPreferences", {}),  # ReminderPreferencesInput!
        ("UpdatePreferences", {"input": {"preferedLanguage": "nl"}}),
        ("SubmitForms", {"inputs": [{"clientid": "x", "formId": "y", "formVersion": 1}]}),
        ("InboxPage", {"first": "twenty"}),
        ("FormsSubmissions", {"first": None}),
        ("CreateExtract", {"diplomaId": "1", "language": 5}),
        ("UnsubscribePush", {"id": ["x"]}),
    ],
)
async def test_variable_errors_of_persisted_operations_name_only_what_was_sent(
    production_like: httpx.AsyncClient, operation: str, variables: dict[str, Any]
) -> None:
    body = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": HASHES[operation]}}}
    body["variables"] = variables
    response = await production_like.post("/graphql", json=body)
    errors = response.json()["errors"]
    # The client sent a hash and these variables for the operation's variables (by name); the
    # rest of the operation's text is not what it typed.
    text = (OPERATIONS_DIR / f"{operation}.graphql").read_text()
    sent = json.dumps(variables) + " " + " ".join(re.findall(r"\$(\w+)", text))
    for error in errors:
        assert "Did you mean" not in error["message"]
        assert unsent_names(error["message"], sent) == set(), error
        assert error["extensions"]["code"] == "BAD_USER_INPUT", error
        assert "invalid value" in error["message"]


@pytest.mark.parametrize(
    "document",
    [
        "{ viewer { persn { givenNames } } }",  # Did you mean 'person'?
        "{ viewer { person { givenName } } }",  # … on type 'Person'. Did you mean 'givenNames'?
        "mutation { updateReminderPreferences(input: {kinds: [PAYMNT]}) { kinds } }",
        "mutation { updateReminderPreferences(input: {offsetDays: [1]}) { kinds } }",
        "mutation { updateReminderPreferences(input: {}) { kind } }",
        "{ viewer { inbox(frist: 2) { nodes { id } } } }",
        "query($x: Strin) { viewer { person { givenNames } } }",
        "{ viewer }",  # … of type 'Viewer!' must have a selection of subfields
        "{ viewer { person { givenNames { x } } } }",  # … since type 'String!' has none
    ],
)
async def test_validation_errors_name_only_what_the_document_says(
    client: httpx.AsyncClient, db: AsyncSession, person_factory: Any, document: str
) -> None:
    """Ad-hoc documents (test environment with GRAPHQL_ADHOC) are validated per request."""
    me = await person_factory()
    await sign_in(client, db, me.person["id"])
    errors = (await client.post("/graphql", json={"query": document})).json()["errors"]
    for error in errors:
        assert "Did you mean" not in error["message"]
        assert unsent_names(error["message"], document) == set(), error
        assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


async def test_development_keeps_the_suggestions(
    database_url: str,
    session_factory: async_sessionmaker[AsyncSession],
    db: AsyncSession,
    person_factory: Any,
) -> None:
    """Developers (DUO_ENV=development, introspection on anyway) still get the help."""
    settings = Settings(environment="development", database_url=database_url)
    document = (OPERATIONS_DIR / "UpdateReminderPreferences.graphql").read_text()
    async with asgi_client(create_app(settings, session_factory=session_factory)) as client:
        me = await person_factory()
        await sign_in(client, db, me.person["id"])
        body = {"query": document, "variables": {"input": {"offsetDays": [1]}}}
        (error,) = (await client.post("/graphql", json=body)).json()["errors"]
    assert "Did you mean 'offsetsDays'?" in error["message"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "input"}
