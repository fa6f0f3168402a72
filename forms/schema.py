"""GraphQL for forms: the catalogue (public, cacheable), submitting, and one's own submissions.

Submitting answers a typed SubmissionResult per entry: field errors are data the outbox acts
on ("needs attention"), not GraphQL errors. Only failures of the whole request (not signed in,
too many entries) are GraphQL errors with extensions.code.
"""

from __future__ import annotations

from base64 import urlsafe_b64encode
from datetime import datetime
from enum import Enum
from typing import Annotated, Any, cast

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from api import metrics
from api.connection import Connection, connection
from api.context import RequestContext
from api.database import utcnow
from api.ids import parse_uuid
from forms import models, outbox, service
from forms.catalogue import FormVersion
from forms.runtime import FormsRuntime, runtime_of
from forms.validation import FieldError as FieldErrorData

Ctx = Info[RequestContext, None]
# Top-level fields that hold nothing personal: a GET answering only these may be cached.
PUBLIC_FIELDS = frozenset({"formCatalogue", "form", "__typename"})
CATALOGUE_MAX_AGE = 3600


def _runtime(info: Ctx) -> FormsRuntime:
    request = info.context.request
    if request is None:  # pragma: no cover - every request has one
        raise RuntimeError("no request")
    return runtime_of(request.app.state)


@strawberry.type(description="A text in every language the app speaks.")
class LocalizedText:
    en: str
    nl: str


@strawberry.type(description="One version of a form: JSON Schema (2020-12), UI hints, texts.")
class FormDefinition:
    form_id: str
    version: int
    published_at: datetime
    title: LocalizedText
    description: LocalizedText
    current: bool = strawberry.field(description="The version new drafts should start on.")
    accepted_until: datetime | None = strawberry.field(
        description="Submissions of this version are accepted until then; null: no end yet."
    )
    json_schema: JSON = strawberry.field(description="JSON Schema Draft 2020-12 of the content.")
    ui: JSON = strawberry.field(
        description="UI hints: field order and, per JSON Pointer, widget, label, help, options."
    )
    attachment_fields: list[str] = strawberry.field(
        description="JSON Pointers of the fields that hold attachment ids."
    )
    sha256: str = strawberry.field(description="SHA-256 of this version's definition file.")

    @classmethod
    def build(cls, form: FormVersion, runtime: FormsRuntime, now: datetime) -> FormDefinition:
        acceptance = runtime.catalogue.acceptance(form, now=now, grace=runtime.policy.grace)
        return cls(
            form_id=form.form_id,
            version=form.version,
            published_at=form.published_at,
            title=LocalizedText(**form.title),
            description=LocalizedText(**form.description),
            current=acceptance.current,
            accepted_until=acceptance.accepted_until,
            json_schema=cast(JSON, form.schema),
            ui=cast(JSON, form.ui),
            attachment_fields=list(form.attachment_fields),
            sha256=form.sha256,
        )


@strawberry.type
class FormCatalogue:
    revision: str = strawberry.field(
        description="Changes whenever any definition changes: refresh the offline copy then."
    )
    grace_period_days: int = strawberry.field(
        description="How long a version stays accepted after its successor is published."
    )
    forms: list[FormDefinition] = strawberry.field(description="The current version of each.")


@strawberry.enum
class SubmissionStatus(Enum):
    RECEIVED = "received"
    PROCESSED = "processed"
    REJECTED = "rejected"


@strawberry.type(description="A file attached to a submission (its bytes: GET its url).")
class Attachment:
    id: strawberry.ID
    filename: str
    media_type: str
    size: int
    sha256: str
    url: str


@strawberry.type(description="A submitted form, as DUO received it.")
class Submission:
    id: strawberry.ID = strawberry.field(description="The client-generated UUID.")
    form_id: str
    form_version: int
    status: SubmissionStatus
    status_reason: str | None = strawberry.field(description="Why it was rejected.")
    received_at: datetime
    status_changed_at: datetime
    content: JSON
    content_sha256: str
    receipt: str = strawberry.field(
        description="Signed receipt: a compact JWS, verifiable with /.well-known/jwks.json."
    )
    attachments: list[Attachment]

    @classmethod
    def build(
        cls, row: models.FormSubmission, attachments: list[models.FormAttachment]
    ) -> Submission:
        return cls(
            id=strawberry.ID(str(row.client_id)),
            form_id=row.form_id,
            form_version=row.form_version,
            status=SubmissionStatus(row.status.value),
            status_reason=row.status_reason,
            received_at=row.received_at,
            status_changed_at=row.status_changed_at,
            content=cast(JSON, row.content),
            content_sha256=row.content_sha256,
            receipt=row.receipt,
            attachments=[
                Attachment(
                    id=strawberry.ID(str(a.id)),
                    filename=a.filename,
                    media_type=a.media_type,
                    size=a.size,
                    sha256=a.sha256,
                    url=f"/forms/attachments/{a.id}/content",
                )
                for a in attachments
            ],
        )


@strawberry.type(description="Why a value was refused.")
class FieldError:
    path: str = strawberry.field(
        description="JSON Pointer (RFC 6901) into the content; empty: the submission as a whole."
    )
    code: str = strawberry.field(description="Stable, e.g. REQUIRED, INVALID_IBAN.")
    message: str = strawberry.field(description="In the person's language.")


@strawberry.enum
class SubmissionResultStatus(Enum):
    ACCEPTED = "accepted"
    INVALID = "invalid"


@strawberry.type(description="The answer to one submission; a replay gets the original one.")
class SubmissionResult:
    client_id: str
    status: SubmissionResultStatus
    receipt: str | None
    submission: Submission | None
    errors: list[FieldError]


@strawberry.input
class SubmitFormInput:
    client_id: strawberry.ID = strawberry.field(
        description="A UUID the app made when the person pressed Send: the idempotency key."
    )
    form_id: str
    form_version: int = strawberry.field(description="The version the draft was started on.")
    content: JSON


def _errors(errors: Any) -> list[FieldError]:
    items: list[FieldErrorData] = list(errors)
    return [FieldError(path=e.path, code=e.code, message=e.message) for e in items]


async def _results(
    info: Ctx, inputs: list[SubmitFormInput], owner: str | None
) -> list[SubmissionResult]:
    ctx = info.context
    person_id = ctx.person_id()
    runtime = _runtime(info)
    await ctx.read(outbox.check_owner, person_id, owner)
    entries = [
        service.SubmissionInput(
            client_id=str(i.client_id),
            form_id=i.form_id,
            form_version=i.form_version,
            content=i.content,
        )
        for i in inputs
    ]
    outcomes = await ctx.write(service.submit, person_id, entries, policy=runtime.policy)
    for o in outcomes:
        metrics.FORM_SUBMISSIONS.labels("replayed" if o.replayed else o.status).inc()
    accepted = [o.submission.id for o in outcomes if o.submission is not None]
    attachments = await ctx.read(service.attachments_of, accepted)
    return [
        SubmissionResult(
            client_id=o.client_id,
            status=SubmissionResultStatus(o.status),
            receipt=o.receipt,
            submission=Submission.build(o.submission, attachments[o.submission.id])
            if o.submission
            else None,
            errors=_errors(o.errors),
        )
        for o in outcomes
    ]


@strawberry.type
class FormsQuery:
    @strawberry.field(
        description="The current version of every form; public, and cacheable on GET."
    )
    def form_catalogue(self, info: Ctx) -> FormCatalogue:
        runtime = _runtime(info)
        now = utcnow()
        _allow_caching(info)
        return FormCatalogue(
            revision=runtime.catalogue.revision,
            grace_period_days=runtime.policy.grace.days,
            forms=[
                FormDefinition.build(f, runtime, now)
                for f in runtime.catalogue.current_versions(now)
            ],
        )

    @strawberry.field(
        description="One version of a form (a draft's pinned one); the current without version."
    )
    def form(self, info: Ctx, id: str, version: int | None = None) -> FormDefinition | None:
        runtime = _runtime(info)
        now = utcnow()
        _allow_caching(info)
        if version is None:
            found = runtime.catalogue.current(id, now)
        else:
            found = runtime.catalogue.get(id, version)
            found = found if found and found.published_at <= now else None
        return FormDefinition.build(found, runtime, now) if found else None


def _allow_caching(info: Ctx) -> None:
    """Let HTTP caches keep a GET whose every top-level field is public."""
    ctx = info.context
    request, response = ctx.request, ctx.response
    if request is None or response is None or request.method != "GET":
        return
    names = {
        getattr(getattr(s, "name", None), "value", None)
        for s in info.operation.selection_set.selections
    }
    if names <= PUBLIC_FIELDS:
        response.headers["cache-control"] = f"public, max-age={CATALOGUE_MAX_AGE}"


@strawberry.type(description="What binds forms waiting on a device to the signed-in person.")
class OutboxKey:
    owner: str = strawberry.field(
        description="Opaque and stable per person: the app keeps it with each waiting form."
    )
    key: str = strawberry.field(
        description="AES-256-GCM key (base64url, 32 bytes) the app seals waiting forms with; "
        "only ever handed to a live session of this person."
    )


OWNER_DESCRIPTION = (
    "The outbox owner the device bound these forms to (viewer.outboxKey.owner): when given and "
    "not the signed-in person's, nothing is stored (OUTBOX_OWNER_MISMATCH)."
)


@strawberry.type
class FormsFields:
    """Fields of Viewer contributed by the forms feature (Viewer inherits them)."""

    @strawberry.field(description="The outbox owner id and sealing key of the signed-in person.")
    async def outbox_key(self, info: Ctx) -> OutboxKey:
        ctx = info.context
        person_id = ctx.person_id()
        row = await ctx.read(outbox.find_outbox_key, person_id)
        if row is None:
            # Made on first use, once per person (a write inside a query, like the session
            # touch): persons created before the outbox was owner-bound have none yet.
            row = await ctx.write(outbox.ensure_outbox_key, person_id)
        return OutboxKey(owner=row.owner, key=urlsafe_b64encode(row.key).rstrip(b"=").decode())

    @strawberry.field(description="Submitted forms, most recent first.")
    async def submissions(
        self, info: Ctx, first: int = 20, after: str | None = None
    ) -> Connection[Submission]:
        ctx = info.context
        page = await ctx.read(service.list_submissions, ctx.person_id(), first=first, after=after)
        attachments = await ctx.read(service.attachments_of, [r.id for r in page.items])
        return connection(page, lambda r: Submission.build(r, attachments[r.id]))

    @strawberry.field(description="One of the viewer's submissions by its client UUID.")
    async def submission(self, info: Ctx, id: strawberry.ID) -> Submission:
        ctx = info.context
        row = await ctx.read(service.get_submission, ctx.person_id(), parse_uuid(id))
        attachments = await ctx.read(service.attachments_of, [row.id])
        return Submission.build(row, attachments[row.id])


@strawberry.type
class FormsMutation:
    @strawberry.mutation(description="Submit one form; idempotent on input.clientId.")
    async def submit_form(
        self,
        info: Ctx,
        input: SubmitFormInput,
        owner: Annotated[str | None, strawberry.argument(description=OWNER_DESCRIPTION)] = None,
    ) -> SubmissionResult:
        return (await _results(info, [input], owner))[0]

    @strawberry.mutation(
        description="Submit up to 100 forms (an outbox flush); results in input order. "
        "Valid ones are stored even when others are invalid."
    )
    async def submit_forms(
        self,
        info: Ctx,
        inputs: list[SubmitFormInput],
        owner: Annotated[str | None, strawberry.argument(description=OWNER_DESCRIPTION)] = None,
    ) -> list[SubmissionResult]:
        return await _results(info, inputs, owner)
