"""A person changes their own language and time zone; bad values are refused by field."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from records.models import Person
from tests.support import gql, sign_in

MUTATION = """mutation($input: PreferencesInput!) {
  updatePreferences(input: $input) { preferredLanguage timeZone } }"""


async def test_update_preferences(
    client: httpx.AsyncClient, db: AsyncSession, person_factory: Any
) -> None:
    me = await person_factory(preferred_language="en", time_zone="Asia/Jakarta")
    await sign_in(client, db, me.person["id"])
    body = await gql(
        client, MUTATION, {"input": {"preferredLanguage": "nl", "timeZone": "America/Lima"}}
    )
    assert body["data"]["updatePreferences"] == {
        "preferredLanguage": "nl",
        "timeZone": "America/Lima",
    }


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({"preferredLanguage": "fr"}, "preferredLanguage"),
        ({"timeZone": "Mars/Olympus"}, "timeZone"),
        ({"timeZone": "../../../etc/passwd"}, "timeZone"),
        ({"timeZone": ""}, "timeZone"),
    ],
)
async def test_bad_preferences_name_the_field_and_change_nothing(
    client: httpx.AsyncClient,
    db: AsyncSession,
    person_factory: Any,
    given: dict[str, str],
    field: str,
) -> None:
    me = await person_factory(preferred_language="en", time_zone="Asia/Jakarta")
    await sign_in(client, db, me.person["id"])
    body = await gql(client, MUTATION, {"input": {"preferredLanguage": "nl", **given}})
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": field}
    db.expire_all()
    person = await db.scalar(select(Person).where(Person.id == me.person["id"]))
    assert person is not None
    assert (person.preferred_language, person.time_zone) == ("en", "Asia/Jakarta")
