"""JSON that is valid but absurd (nested thousands deep) is a 400 with a code on every JSON
endpoint, never a 500; JSON nested deep but decodable is refused as a field error, and stores
nothing."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from forms.models import FormSubmission
from tests.forms.support import QUESTION, SUBMIT_FORM, entry
from tests.support import sign_in

HEADERS = {"content-type": "application/json"}


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/graphql", '{"query": "{ __typename }", "variables": {"v": %s}}'),
        ("/auth/activation", '{"code": %s, "dateOfBirth": "1990-01-01"}'),
        ("/auth/login", '{"id": %s}'),
        ("/forms/attachments", '{"filename": %s}'),
        ("/extracts/verify", '{"jws": %s}'),
    ],
)
async def test_json_nested_too_deep_is_a_bad_request(
    client: httpx.AsyncClient, path: str, body: str
) -> None:
    response = await client.post(path, content=body.replace("%s", nested(5000)), headers=HEADERS)
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


async def test_the_same_in_a_get_querys_variables(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/graphql",
        params={"query": "{ __typename }", "variables": '{"v": ' + nested(5000) + "}"},
        headers={"accept": "application/json"},
    )
    assert response.status_code == 400, response.text


async def test_deep_form_content_is_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, db: AsyncSession, person_factory: Any
) -> None:
    me = await person_factory()
    await sign_in(client, db, me.person["id"])
    before = await db.scalar(select(func.count()).select_from(FormSubmission))
    item = entry("general-question", 1, {**QUESTION, "question": json.loads(nested(900))})
    response = await client.post(
        "/graphql",
        json={"query": SUBMIT_FORM, "variables": {"input": item}},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    result = (body.get("data") or {}).get("submitForm")
    codes = [e["extensions"]["code"] for e in body.get("errors", [])]
    assert (result and result["status"] == "INVALID") or codes, body
    assert "INTERNAL_SERVER_ERROR" not in codes
    assert await db.scalar(select(func.count()).select_from(FormSubmission)) == before
