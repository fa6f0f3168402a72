"""Bad input is the client's mistake: a specific BAD_USER_INPUT naming the field, never a masked
INTERNAL_SERVER_ERROR, and nothing is stored."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from api.persisted import OPERATIONS_DIR
from tests.support import gql, sign_in

PREFERENCES = "{ viewer { person { preferredLanguage timeZone } } }"
UPDATE_PREFERENCES = (OPERATIONS_DIR / "UpdatePreferences.graphql").read_text()
UPDATE_REMINDERS = (OPERATIONS_DIR / "UpdateReminderPreferences.graphql").read_text()
REMINDERS = "{ viewer { reminderPreferences { offsetsDays quietHours { start end } } } }"
INBOX_PAGE = (OPERATIONS_DIR / "InboxPage.graphql").read_text()
SUBMISSIONS = (OPERATIONS_DIR / "FormsSubmissions.graphql").read_text()
MARK_READ = (OPERATIONS_DIR / "MarkMessageRead.graphql").read_text()
SUBMIT_FORMS = (OPERATIONS_DIR / "SubmitForms.graphql").read_text()


def only_error(body: dict[str, Any]) -> dict[str, Any]:
    assert len(body.get("errors", [])) == 1, body
    error: dict[str, Any] = body["errors"][0]
    return error


@pytest.mark.parametrize(
    ("document", "variables", "field"),
    [
        # A value of the wrong type for a variable, at any depth of an input object.
        (UPDATE_REMINDERS, {"input": {"quietHours": {"start": "25:99", "end": "07:00"}}}, "start"),
        (UPDATE_REMINDERS, {"input": {"quietHours": {"start": None, "end": "07:00"}}}, "start"),
        (UPDATE_REMINDERS, {"input": {"offsetsDays": [3, "soon"]}}, "offsetsDays"),
        (UPDATE_REMINDERS, {"input": {"kinds": ["BIRTHDAY"]}}, "kinds"),
        (UPDATE_REMINDERS, {"input": {"timeZone": 2**31}}, "timeZone"),
        (UPDATE_PREFERENCES, {"input": {"timeZone": ["Europe/Amsterdam"]}}, "timeZone"),
        (UPDATE_PREFERENCES, {"input": {"preferredLanguage": "en", "shoeSize": 44}}, "input"),
        (UPDATE_PREFERENCES, {"input": "en"}, "input"),
        (UPDATE_PREFERENCES, {"input": None}, "input"),
        (INBOX_PAGE, {"first": 2**63, "after": None}, "first"),
        (INBOX_PAGE, {"first": "20", "after": None}, "first"),
        (MARK_READ, {"id": {"id": "1"}}, "id"),
        (MARK_READ, {"id": 1.5}, "id"),
        (
            SUBMIT_FORMS,
            {
                "inputs": [
                    {
                        "clientId": str(uuid.uuid4()),
                        "formId": "general-question",
                        "formVersion": 2**31,
                        "content": {},
                    }
                ]
            },
            "formVersion",
        ),
        (
            SUBMIT_FORMS,
            {"inputs": [{"clientId": str(uuid.uuid4()), "formId": "x", "formVersion": 1}]},
            "inputs",
        ),
        # An explicit null for a variable whose default fills a non-null argument.
        (SUBMISSIONS, {"first": None}, "first"),
    ],
)
async def test_values_that_do_not_fit_the_schema_name_the_field(
    client: httpx.AsyncClient,
    db: AsyncSession,
    person_factory: Any,
    document: str,
    variables: dict[str, Any],
    field: str,
) -> None:
    me = await person_factory()
    await sign_in(client, db, me.person["id"])
    before = await gql(client, PREFERENCES), await gql(client, REMINDERS)
    error = only_error(await gql(client, document, variables))
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": field}, error
    assert error["message"] != "Unexpected error. It has been logged; please try again later."
    assert "invalid value" in error["message"]
    assert (await gql(client, PREFERENCES), await gql(client, REMINDERS)) == before


async def test_a_literal_of_the_wrong_type_is_still_a_validation_error(
    client: httpx.AsyncClient, db: AsyncSession, person_factory: Any
) -> None:
    me = await person_factory()
    await sign_in(client, db, me.person["id"])
    body = await gql(client, '{ viewer { inbox(first: "many") { nodes { id } } } }')
    assert only_error(body)["extensions"] == {"code": "GRAPHQL_VALIDATION_FAILED"}


def _cursor(moment: str) -> str:
    raw = f"{moment}|{uuid.uuid4()}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "moment",
    [
        "2026-11-01T12:00:00",  # no offset: cannot be compared with the UTC columns
        "9999-12-31T23:59:59-12:00",  # past year 9999 in UTC
        "0001-01-01T00:00:00+12:00",  # before year 1 in UTC
    ],
)
@pytest.mark.parametrize("listing", ["inbox", "deadlines", "submissions", "securityEvents"])
async def test_hand_made_cursors_are_refused_on_every_list(
    client: httpx.AsyncClient,
    db: AsyncSession,
    person_factory: Any,
    moment: str,
    listing: str,
) -> None:
    me = await person_factory()
    await sign_in(client, db, me.person["id"])
    page = f"{listing}(after: $after) {{ nodes {{ id }} }}"
    query = "query($after: String) { viewer { " + page + " } }"
    body = await gql(client, query, {"after": _cursor(moment)})
    assert only_error(body)["extensions"] == {"code": "BAD_USER_INPUT", "field": "after"}


async def test_a_cursor_from_another_time_zone_still_pages(
    client: httpx.AsyncClient, db: AsyncSession, person_factory: Any
) -> None:
    me = await person_factory()
    await sign_in(client, db, me.person["id"])
    first = (await gql(client, INBOX_PAGE, {"first": 1, "after": None}))["data"]["viewer"]
    cursor = first["inbox"]["pageInfo"]["endCursor"]
    moment, row_id = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().split("|")
    assert moment.endswith("+00:00")
    # The same instant written with another offset is the same position in the list.
    shifted = datetime.fromisoformat(moment).astimezone(timezone(timedelta(hours=7)))
    same = base64.urlsafe_b64encode(f"{shifted.isoformat()}|{row_id}".encode()).decode()
    a = await gql(client, INBOX_PAGE, {"first": 5, "after": cursor})
    b = await gql(client, INBOX_PAGE, {"first": 5, "after": same})
    assert "errors" not in b, b
    assert a["data"] == b["data"]
