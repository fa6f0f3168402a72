"""The baseline for bench/dashboard.py: the Dashboard's data from a plain Litestar handler.

Same cookie, same session check, same service functions in one AsyncSession, same JSON as the
Dashboard operation's `data` (camelCase keys, enum names, ISO dates) - without GraphQL.
Deliberately bare: no middleware, compression or logging, so it is the cost floor.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime
from typing import Any

from litestar import Litestar, Request, Response, get
from litestar.datastructures import State
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.database import create_engine, create_session_factory
from api.settings import Settings
from auth import sessions
from auth.cookies import session_cookie_name
from notifications import service as inbox
from records import service as records

Json = dict[str, Any]


def _day(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _moment(value: datetime) -> str:
    # Strawberry's DateTime scalar is datetime.isoformat() ("+00:00", not msgspec's "Z").
    return value.isoformat()


async def dashboard_data(db: AsyncSession, person_id: uuid.UUID) -> Json:
    """What graphql/operations/Dashboard.graphql returns as `data`, from the same services."""
    person = await records.get_person(db, person_id)
    enrolments = await records.list_enrolments(db, person_id)
    diplomas = await records.list_diplomas(db, person_id)
    finance = await records.get_study_finance(db, person_id)
    deadlines = await records.list_deadlines(
        db, person_id, first=20, after=None, include_completed=False
    )
    messages = await inbox.list_messages(db, person_id, first=20, after=None)
    unread = await inbox.count_unread(db, person_id)
    return {
        "viewer": {
            "person": {
                "id": str(person.id),
                "customerNumber": person.customer_number,
                "givenNames": person.given_names,
                "familyName": person.family_name,
                "dateOfBirth": _day(person.date_of_birth),
                "countryOfResidence": person.country_of_residence,
                "preferredLanguage": person.preferred_language,
                "timeZone": person.time_zone,
            },
            "enrolments": [
                {
                    "id": str(e.id),
                    "institution": e.institution,
                    "programme": e.programme,
                    "level": e.level.name,
                    "startDate": _day(e.start_date),
                    "endDate": _day(e.end_date),
                    "status": e.status.name,
                }
                for e in enrolments
            ],
            "diplomas": [
                {
                    "id": str(d.id),
                    "institution": d.institution,
                    "programme": d.programme,
                    "programmeCode": d.programme_code,
                    "level": d.level.name,
                    "awardedOn": _day(d.awarded_on),
                    "results": [
                        {"subject": r.subject, "grade": r.grade, "credits": r.credits}
                        for r in d.results
                    ],
                }
                for d in diplomas
            ],
            "studyFinance": None
            if finance is None
            else {
                "debt": {"cents": finance.debt_cents, "currency": "EUR"},
                "monthlyAmount": {"cents": finance.monthly_amount_cents, "currency": "EUR"},
                "repaymentScheme": finance.repayment_scheme.name,
                "interestRatePercent": finance.interest_rate_basis_points / 100,
                "nextDueDate": _day(finance.next_due_date),
                "updatedAt": _moment(finance.updated_at),
            },
            "deadlines": {
                "nodes": [
                    {
                        "id": str(d.id),
                        "kind": d.kind.name,
                        "dueAt": _moment(d.due_at),
                        "description": d.description,
                        "completed": d.completed_at is not None,
                    }
                    for d in deadlines.items
                ],
                "pageInfo": {
                    "hasNextPage": deadlines.has_next_page,
                    "endCursor": deadlines.end_cursor,
                },
            },
            "inbox": {
                "nodes": [
                    {
                        "id": str(m.id),
                        "kind": m.kind.name,
                        "subject": m.subject,
                        "body": m.body,
                        "createdAt": _moment(m.created_at),
                        "read": m.read_at is not None,
                    }
                    for m in messages.items
                ],
                "pageInfo": {
                    "hasNextPage": messages.has_next_page,
                    "endCursor": messages.end_cursor,
                },
            },
            "unreadMessages": unread,
        }
    }


_UNAUTHENTICATED: Json = {
    "errors": [{"message": "Sign in first.", "extensions": {"code": "UNAUTHENTICATED"}}]
}


@get("/dashboard", cache=False)
async def dashboard(request: Request[Any, Any, State]) -> Response[Json]:
    """The Dashboard's data for the session cookie's person."""
    settings: Settings = request.app.state.settings
    factory: async_sessionmaker[AsyncSession] = request.app.state.session_factory
    token = request.cookies.get(request.app.state.cookie_name)
    async with factory() as db:
        principal = None
        if token:
            lookup = await sessions.resolve_session(
                db, token=token, idle_timeout=settings.session_idle_timeout
            )
            principal = lookup.principal
            if lookup.wrote:
                await db.commit()
        if principal is None:
            return Response(_UNAUTHENTICATED, status_code=401)
        return Response(await dashboard_data(db, principal.person_id))


@get("/trivial", cache=False)
async def trivial() -> Json:
    """The plain counterpart of `{ __typename }`: a constant answer."""
    return {"data": {"__typename": "Query"}}


@get("/health/live", cache=False)
async def live() -> Json:
    return {"status": "ok"}


def create_plain_app(settings: Settings) -> Litestar:
    """A bare Litestar app over the same database as the real one."""
    engine = create_engine(settings.database_url)

    @asynccontextmanager
    async def lifespan(_app: Litestar) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await engine.dispose()

    return Litestar(
        route_handlers=[dashboard, trivial, live],
        lifespan=[lifespan],
        state=State(
            {
                "settings": settings,
                "session_factory": create_session_factory(engine),
                "cookie_name": session_cookie_name(settings),
            }
        ),
        logging_config=None,
        openapi_config=None,
        debug=False,
    )
