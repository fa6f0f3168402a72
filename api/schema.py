"""The GraphQL schema, assembled from the feature packages' types."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import TypeVar

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.extensions import (
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
)
from strawberry.extensions.base_extension import SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext, Info

from api.connection import Connection, connection
from api.context import RequestContext
from api.gql_errors import CountOperations, DomainErrors, log_errors
from api.ids import parse_uuid
from api.persisted import PersistedDocuments
from api.settings import Settings
from auth.schema import AccountFields, AuthMutation
from extracts.schema import ExtractFields, ExtractMutation
from forms.schema import FormsFields, FormsMutation, FormsQuery
from graphql import GraphQLError
from notifications import preferences as push_preferences
from notifications import service as inbox
from notifications.schema import InboxMessage, PushFields, PushMutation
from records import service as records
from records.models import Person as PersonModel
from records.schema import (
    Deadline,
    Diploma,
    Enrolment,
    Person,
    PreferencesInput,
    StudyFinance,
)
from wallet.schema import WalletMutation

T = TypeVar("T")
Ctx = Info[RequestContext, None]


@strawberry.type(description="The signed-in person and everything DUO holds about them.")
class Viewer(AccountFields, ExtractFields, FormsFields, PushFields):
    @strawberry.field
    async def person(self, info: Ctx) -> Person:
        ctx = info.context
        return Person.from_model(await ctx.read_once(records.get_person, ctx.person_id()))

    @strawberry.field(description="Education history, most recent first.")
    async def enrolments(self, info: Ctx) -> list[Enrolment]:
        ctx = info.context
        rows = await ctx.read(records.list_enrolments, ctx.person_id())
        return [Enrolment.from_model(r) for r in rows]

    @strawberry.field(description="Diplomas with their grades, most recent first.")
    async def diplomas(self, info: Ctx) -> list[Diploma]:
        ctx = info.context
        rows = await ctx.read(records.list_diplomas, ctx.person_id())
        return [Diploma.from_model(r) for r in rows]

    @strawberry.field(description="One of the viewer's own diplomas; others' ids are not found.")
    async def diploma(self, info: Ctx, id: strawberry.ID) -> Diploma:
        ctx = info.context
        row = await ctx.read(records.get_diploma, ctx.person_id(), parse_uuid(id))
        return Diploma.from_model(row)

    @strawberry.field
    async def study_finance(self, info: Ctx) -> StudyFinance | None:
        ctx = info.context
        row = await ctx.read(records.get_study_finance, ctx.person_id())
        return StudyFinance.from_model(row) if row else None

    @strawberry.field(description="Open deadlines, soonest first.")
    async def deadlines(
        self,
        info: Ctx,
        first: int = 20,
        after: str | None = None,
        include_completed: bool = False,
    ) -> Connection[Deadline]:
        ctx = info.context
        language = (await ctx.read_once(records.get_person, ctx.person_id())).preferred_language
        page = await ctx.read(
            records.list_deadlines,
            ctx.person_id(),
            first=first,
            after=after,
            include_completed=include_completed,
        )
        return connection(page, lambda row: Deadline.from_model(row, language))

    @strawberry.field(description="Inbox messages, newest first.")
    async def inbox(
        self, info: Ctx, first: int = 20, after: str | None = None
    ) -> Connection[InboxMessage]:
        ctx = info.context
        # Rendered in the language the person chose (#16 item 1); the person is loaded once.
        language = (await ctx.read_once(records.get_person, ctx.person_id())).preferred_language
        page = await ctx.read(inbox.list_messages, ctx.person_id(), first=first, after=after)
        return connection(page, lambda row: InboxMessage.from_model(row, language))

    @strawberry.field
    async def unread_messages(self, info: Ctx) -> int:
        ctx = info.context
        return await ctx.read(inbox.count_unread, ctx.person_id())


@strawberry.type
class Query(FormsQuery):
    @strawberry.field(description="The signed-in person; UNAUTHENTICATED without a session.")
    def viewer(self, info: Ctx) -> Viewer:
        info.context.person_id()
        return Viewer()


async def _update_preferences(
    db: AsyncSession,
    person_id: uuid.UUID,
    *,
    preferred_language: str | None,
    time_zone: str | None,
    language_from_device: bool,
) -> PersonModel:
    """The profile's language and zone; a language chosen in the app is the reminders' too."""
    person = await records.update_preferences(
        db,
        person_id,
        preferred_language=preferred_language,
        time_zone=time_zone,
        language_from_device=language_from_device,
    )
    if preferred_language is not None and not language_from_device:
        await push_preferences.follow_profile_language(db, person_id)
    return person


@strawberry.type
class RecordsMutation:
    @strawberry.mutation(description="Change language and time zone (used for reminders).")
    async def update_preferences(self, info: Ctx, input: PreferencesInput) -> Person:
        ctx = info.context
        person = await ctx.write(
            _update_preferences,
            ctx.person_id(),
            preferred_language=input.preferred_language,
            time_zone=input.time_zone,
            language_from_device=input.language_from_device,
        )
        return Person.from_model(person)

    @strawberry.mutation
    async def mark_message_read(self, info: Ctx, id: strawberry.ID) -> InboxMessage:
        ctx = info.context
        message = await ctx.write(inbox.mark_read, ctx.person_id(), parse_uuid(id))
        language = (await ctx.read_once(records.get_person, ctx.person_id())).preferred_language
        return InboxMessage.from_model(message, language)


Mutation = merge_types(
    "Mutation",
    (RecordsMutation, AuthMutation, ExtractMutation, FormsMutation, PushMutation, WalletMutation),
)


class DuoSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Strawberry logs every error with a traceback; expected ones are not incidents, and
        # an outage is logged once for all the requests that meet it.
        context = execution_context.context if execution_context is not None else None
        log_errors(errors, getattr(context, "outages", None))


def build_schema(
    settings: Settings, *, persisted: PersistedDocuments | None = None
) -> strawberry.Schema:
    """Build the schema with its limits; nothing here runs at import time."""
    names = {text: doc.name for text, doc in persisted.by_text.items()} if persisted else {}
    extensions: list[Callable[[], SchemaExtension]] = [
        lambda: MaxTokensLimiter(max_token_count=settings.graphql_max_tokens),
        lambda: QueryDepthLimiter(max_depth=settings.graphql_max_depth),
        lambda: MaxAliasesLimiter(max_alias_count=settings.graphql_max_aliases),
        lambda: CountOperations(names),
        lambda: DomainErrors(verbose=settings.environment == "development"),
    ]
    if persisted is not None:
        extensions.append(persisted.extension)
    if not settings.allow_adhoc_queries:
        extensions.append(DisableIntrospection)
    return DuoSchema(
        query=Query,
        mutation=Mutation,
        extensions=extensions,
        config=StrawberryConfig(auto_camel_case=True),
    )


def schema_sdl() -> str:
    """The SDL as exported to graphql/schema.graphql (independent of runtime limits)."""
    return build_schema(Settings()).as_str() + "\n"


__all__: Sequence[str] = ("build_schema", "schema_sdl")
