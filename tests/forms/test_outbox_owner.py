"""The outbox owner: one opaque id and sealing key per person, and forms bound to it.

The PWA keeps forms that wait on a device bound to the person who filled them in (issue 10):
the server hands the owner id and key to that person's live sessions only, and refuses to
store forms bound to someone else, whoever's session sends them.
"""

from __future__ import annotations

import uuid
from base64 import urlsafe_b64decode
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.persisted import OPERATIONS_DIR
from forms.models import FormAttachment, FormSubmission, OutboxKey
from tests.forms.support import (
    ADDRESS_V2,
    SUBMIT_FORM,
    SUBMIT_FORMS,
    entry,
    png_bytes,
    start_upload,
)
from tests.support import error_codes, gql, sign_in

OUTBOX_KEY = (OPERATIONS_DIR / "OutboxKey.graphql").read_text()


async def outbox_key(client: httpx.AsyncClient) -> dict[str, str]:
    body = await gql(client, OUTBOX_KEY)
    assert "errors" not in body, body
    key: dict[str, str] = body["data"]["viewer"]["outboxKey"]
    return key


async def count(db: AsyncSession, model: Any, **where: Any) -> int:
    return int(await db.scalar(select(func.count()).select_from(model).filter_by(**where)) or 0)


async def test_each_person_gets_one_stable_opaque_owner_and_key(
    client: httpx.AsyncClient, db: AsyncSession, person_factory: Any
) -> None:
    ayu, budi = await person_factory(), await person_factory()
    await sign_in(client, db, ayu.person["id"])
    first = await outbox_key(client)
    # Another session of the same person (sign in again): the same owner and key.
    await sign_in(client, db, ayu.person["id"])
    assert await outbox_key(client) == first
    assert len(urlsafe_b64decode(first["key"] + "=")) == 32
    # The owner id names nobody: neither the person's id nor their customer number.
    assert str(ayu.person["id"]) not in first["owner"]
    assert ayu.person["customer_number"] not in first["owner"]

    await sign_in(client, db, budi.person["id"])
    other = await outbox_key(client)
    assert other["owner"] != first["owner"]
    assert other["key"] != first["key"]
    assert await count(db, OutboxKey) == 2


async def test_without_a_session_there_is_no_key(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    body = await gql(client, OUTBOX_KEY)
    assert error_codes(body) == ["UNAUTHENTICATED"]
    assert body["data"] is None
    assert await count(db, OutboxKey) == 0


async def test_forms_bound_to_someone_else_are_not_stored_under_the_signed_in_person(
    client: httpx.AsyncClient, db: AsyncSession, person_factory: Any
) -> None:
    """A shared device: Ayu's kept form must not go out when Budi's session replays it."""
    ayu, budi = await person_factory(), await person_factory()
    await sign_in(client, db, ayu.person["id"])
    ayus = (await outbox_key(client))["owner"]
    await sign_in(client, db, budi.person["id"])
    budis = (await outbox_key(client))["owner"]

    kept = entry("change-of-address", 2, ADDRESS_V2)
    single = await gql(client, SUBMIT_FORM, {"input": kept, "owner": ayus})
    batch = await gql(client, SUBMIT_FORMS, {"inputs": [kept], "owner": ayus})
    for body in (single, batch):
        assert error_codes(body) == ["OUTBOX_OWNER_MISMATCH"]
        assert body["errors"][0]["extensions"]["field"] == "owner"
    # An owner that belongs to nobody is refused the same way.
    unknown = await gql(client, SUBMIT_FORM, {"input": kept, "owner": "not-an-owner"})
    assert error_codes(unknown) == ["OUTBOX_OWNER_MISMATCH"]
    # Nor are the form's files taken in: the upload is refused before any byte is stored.
    data = png_bytes()
    refused = await start_upload(client, data, "evidence.png", owner=ayus)
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["extensions"]["code"] == "OUTBOX_OWNER_MISMATCH"
    assert await count(db, FormSubmission, client_id=uuid.UUID(kept["clientId"])) == 0
    assert await count(db, FormAttachment, person_id=budi.person["id"]) == 0

    # Budi's own forms, bound to Budi, go through; so do forms sent without an owner.
    own = await gql(client, SUBMIT_FORM, {"input": kept, "owner": budis})
    assert own["data"]["submitForm"]["status"] == "ACCEPTED", own
    assert (await start_upload(client, data, "evidence.png", owner=budis)).status_code == 201
    assert await count(db, FormSubmission, person_id=budi.person["id"]) == 1
    assert await count(db, FormSubmission, person_id=ayu.person["id"]) == 0
