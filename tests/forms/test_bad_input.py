"""Text that no database can store (NUL) is a field error of its entry, never a crash."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from forms.models import FormSubmission
from tests.forms.support import QUESTION, SUBMIT_FORMS, entry
from tests.support import gql, sign_in


@pytest.mark.parametrize(
    ("content", "path"),
    [
        ({**QUESTION, "question": "Why did it\u0000 change?"}, "/question"),
        ({**QUESTION, "subject": "\u0000"}, "/subject"),
        ({**QUESTION, "note\u0000": "x"}, "/note\u0000"),
    ],
)
async def test_nul_in_content_is_a_field_error_and_the_rest_of_the_batch_goes_in(
    client: httpx.AsyncClient,
    db: AsyncSession,
    person_factory: Any,
    content: dict[str, Any],
    path: str,
) -> None:
    me = await person_factory()
    await sign_in(client, db, me.person["id"])
    bad = entry("general-question", 1, content)
    good = entry("general-question", 1, QUESTION)
    body = await gql(client, SUBMIT_FORMS, {"inputs": [bad, good]})
    assert "errors" not in body, body
    refused, accepted = body["data"]["submitForms"]
    assert refused["status"] == "INVALID"
    assert [(e["path"], e["code"]) for e in refused["errors"]] == [(path, "INVALID_CHARACTERS")]
    assert "NUL" in refused["errors"][0]["message"]
    assert accepted["status"] == "ACCEPTED"
    stored = await db.scalar(
        select(func.count()).where(FormSubmission.client_id == uuid.UUID(bad["clientId"]))
    )
    assert stored == 0
    # The same id, fixed, is accepted: the refusal kept nothing that blocks it.
    fixed = {**bad, "content": QUESTION}
    again = await gql(client, SUBMIT_FORMS, {"inputs": [fixed]})
    assert again["data"]["submitForms"][0]["status"] == "ACCEPTED", again
