"""Submitting forms through GraphQL: exactly once, validated, receipted, and one's own only."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from litestar import Litestar
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.app import create_app
from api.settings import Settings
from forms.models import FormSubmission
from forms.receipts import content_sha256, verify_receipt
from tests.forms.support import (
    ADDRESS_V1,
    ADDRESS_V2,
    BANK_IBAN,
    QUESTION,
    SUBMISSION,
    SUBMISSIONS,
    entry,
    submit,
    submit_many,
)
from tests.support import asgi_client, error_codes, gql, sign_in

Client = httpx.AsyncClient


async def rows(db: AsyncSession, **where: Any) -> int:
    stmt = select(func.count()).select_from(FormSubmission).filter_by(**where)
    return int(await db.scalar(stmt) or 0)


async def test_replaying_a_submission_three_times_stores_one_row_and_one_receipt(
    client: Client, db: AsyncSession, person_factory: Any
) -> None:
    me = await person_factory()
    await sign_in(client, db, me.person["id"])
    item = entry("change-of-address", 2, ADDRESS_V2)
    results = [await submit(client, item) for _ in range(3)]
    assert [r["status"] for r in results] == ["ACCEPTED"] * 3
    assert results[0]["receipt"]
    assert results[0] == results[1] == results[2], "a replay returns the original result"
    assert await rows(db, client_id=uuid.UUID(item["clientId"])) == 1
    assert await rows(db, person_id=me.person["id"]) == 1


async def test_the_receipt_is_signed_by_the_published_issuer_keys(
    client: Client, db: AsyncSession, person_factory: Any
) -> None:
    """Verifiable like an extract: against /.well-known/jwks.json, offline."""
    me = await person_factory()
    await sign_in(client, db, me.person["id"])
    item = entry("foreign-bank-account", 1, BANK_IBAN)
    result = await submit(client, item)
    jwks = (await client.get("/.well-known/jwks.json")).json()
    payload = verify_receipt(result["receipt"], jwks)
    assert payload["form"] == {"id": "foreign-bank-account", "version": 1}
    assert payload["submissionId"] == item["clientId"]
    assert payload["content"]["sha256"] == content_sha256(BANK_IBAN)
    assert payload["receivedAt"] == result["submission"]["receivedAt"].replace("+00:00", "Z")
    assert payload["attachments"] == []
    assert "customer" not in str(payload)
    assert str(me.person["id"]) not in str(payload)


async def test_a_batch_stores_the_valid_entries_and_reports_the_invalid_one(
    client: Client, db: AsyncSession, person_factory: Any
) -> None:
    me = await person_factory()
    await sign_in(client, db, me.person["id"])
    bad_bank = {**BANK_IBAN, "iban": "DE89 3704 0044 0532 0130 01", "extra": 1}
    items = [
        entry("change-of-address", 2, ADDRESS_V2),
        entry("foreign-bank-account", 1, bad_bank),
        entry("general-question", 1, QUESTION),
    ]
    results = await submit_many(client, items)
    assert [r["clientId"] for r in results] == [i["clientId"] for i in items], "input order"
    assert [r["status"] for r in results] == ["ACCEPTED", "INVALID", "ACCEPTED"]
    invalid = results[1]
    assert invalid["receipt"] is None
    assert invalid["submission"] is None
    assert [(e["path"], e["code"]) for e in invalid["errors"]] == [
        ("/extra", "UNKNOWN_FIELD"),
        ("/iban", "INVALID_IBAN"),
    ]
    assert await rows(db, person_id=me.person["id"]) == 2
    # The outbox fixes the entry and sends it again under the same id: now it is stored.
    fixed = {**items[1], "content": BANK_IBAN}
    again = await submit_many(client, [items[0], fixed, items[2]])
    assert [r["status"] for r in again] == ["ACCEPTED"] * 3
    assert again[0] == results[0]
    assert again[2] == results[2]
    assert await rows(db, person_id=me.person["id"]) == 3


async def test_an_id_twice_in_one_batch_is_stored_once(
    client: Client, db: AsyncSession, person_factory: Any
) -> None:
    me = await person_factory()
    await sign_in(client, db, me.person["id"])
    item = entry("general-question", 1, QUESTION)
    other = {**item, "content": {**QUESTION, "subject": "Changed"}}
    results = await submit_many(client, [item, item, other])
    assert results[0] == results[1]
    assert results[0]["status"] == "ACCEPTED"
    assert [e["code"] for e in results[2]["errors"]] == ["IDEMPOTENCY_CONFLICT"]
    assert await rows(db, person_id=me.person["id"]) == 1


async def test_field_errors_come_in_the_persons_language_with_json_pointers(
    client: Client, db: AsyncSession, person_factory: Any
) -> None:
    me = await person_factory(preferred_language="nl")
    await sign_in(client, db, me.person["id"])
    content = {
        "diplomaId": "not-a-uuid",
        "copies": 9,
        "apostille": True,
        "deliveryAddress": {"name": "Mei", "addressLine1": "x", "city": "Lima", "country": "XX"},
    }
    result = await submit(client, entry("certified-extract-request", 1, content))
    assert result["status"] == "INVALID"
    assert result["errors"] == [
        {"path": "/copies", "code": "TOO_LARGE", "message": "De hoogste toegestane waarde is 5."},
        {
            "path": "/deliveryAddress/country",
            "code": "INVALID_COUNTRY",
            "message": "Kies een land uit de lijst.",
        },
        {"path": "/diplomaId", "code": "INVALID_ID", "message": "Deze verwijzing is niet geldig."},
    ]


async def test_the_same_id_with_other_content_is_an_idempotency_conflict(
    client: Client, db: AsyncSession, person_factory: Any
) -> None:
    me = await person_factory()
    await sign_in(client, db, me.person["id"])
    item = entry("general-question", 1, QUESTION)
    original = await submit(client, item)
    changed = await submit(client, {**item, "content": {**QUESTION, "subject": "Other"}})
    assert changed["status"] == "INVALID"
    assert [e["code"] for e in changed["errors"]] == ["IDEMPOTENCY_CONFLICT"]
    assert changed["errors"][0]["path"] == ""
    assert await submit(client, item) == original, "the stored one is untouched"
    assert await rows(db, person_id=me.person["id"]) == 1


async def test_nobody_submits_or_reads_on_another_persons_behalf(
    app: Litestar, client: Client, db: AsyncSession, person_factory: Any
) -> None:
    me = await person_factory()
    other = await person_factory(given_names="Zzother")
    await sign_in(client, db, me.person["id"])
    mine = entry("general-question", 1, {**QUESTION, "question": "my private question"})
    await submit(client, mine)
    async with asgi_client(app) as theirs:
        await sign_in(theirs, db, other.person["id"])
        # Replaying my id with my exact content from their session: refused, nothing leaks.
        replay = await submit(theirs, mine)
        assert replay["status"] == "INVALID"
        assert replay["receipt"] is None
        assert [e["code"] for e in replay["errors"]] == ["IDEMPOTENCY_CONFLICT"]
        listed = await gql(theirs, SUBMISSIONS)
        assert listed["data"]["viewer"]["submissions"]["nodes"] == []
        single = await gql(theirs, SUBMISSION, {"id": mine["clientId"]})
        assert error_codes(single) == ["NOT_FOUND"]
        assert "my private question" not in str(replay) + str(listed) + str(single)
    assert await rows(db, person_id=other.person["id"]) == 0
    assert await rows(db, person_id=me.person["id"]) == 1
    own = await gql(client, SUBMISSION, {"id": mine["clientId"]})
    assert own["data"]["viewer"]["submission"]["content"]["question"] == "my private question"


async def test_submitting_needs_a_session(client: Client) -> None:
    body = await gql(
        client,
        "mutation($i: SubmitFormInput!) { submitForm(input: $i) { status } }",
        {"i": entry("general-question", 1, QUESTION)},
    )
    assert error_codes(body) == ["UNAUTHENTICATED"]


async def test_bad_ids_unknown_forms_and_oversized_batches_are_refused(
    client: Client, db: AsyncSession, person_factory: Any
) -> None:
    me = await person_factory()
    await sign_in(client, db, me.person["id"])
    results = await submit_many(
        client,
        [
            entry("general-question", 1, QUESTION, client_id="not-a-uuid"),
            entry("no-such-form", 1, QUESTION),
            entry("general-question", 7, QUESTION),
            entry("general-question", 1, ["not", "an", "object"]),  # type: ignore[arg-type]
        ],
    )
    codes = [[e["code"] for e in r["errors"]] for r in results]
    assert codes == [
        ["INVALID_CLIENT_ID"],
        ["FORM_NOT_FOUND"],
        ["FORM_NOT_FOUND"],
        ["INVALID_TYPE"],
    ]
    too_many = [entry("general-question", 1, QUESTION) for _ in range(101)]
    body = await gql(
        client,
        "mutation($i: [SubmitFormInput!]!) { submitForms(inputs: $i) { status } }",
        {"i": too_many},
    )
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "inputs"}
    assert await rows(db, person_id=me.person["id"]) == 0


def _app(settings: Settings, factory: async_sessionmaker[AsyncSession], days: int) -> Litestar:
    from datetime import timedelta

    return create_app(
        settings.with_overrides(forms_grace_period=timedelta(days=days)), session_factory=factory
    )


async def test_the_previous_version_is_accepted_during_the_grace_period_only(
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    db: AsyncSession,
    person_factory: Any,
) -> None:
    """change-of-address v2 is published: a v1 draft is accepted within the grace period."""
    me = await person_factory()
    within = entry("change-of-address", 1, ADDRESS_V1)
    late = entry("change-of-address", 1, ADDRESS_V1)
    async with asgi_client(_app(settings, session_factory, 36500)) as client:
        await sign_in(client, db, me.person["id"])
        accepted = await submit(client, within)
        assert accepted["status"] == "ACCEPTED", accepted
        definition = await gql(
            client,
            '{ form(id: "change-of-address", version: 1) { current acceptedUntil } }',
        )
        assert definition["data"]["form"]["current"] is False
        assert definition["data"]["form"]["acceptedUntil"].startswith("2126-")
    async with asgi_client(_app(settings, session_factory, 0)) as client:
        await sign_in(client, db, me.person["id"])
        refused = await submit(client, late)
        assert refused["status"] == "INVALID"
        assert [e["code"] for e in refused["errors"]] == ["FORM_VERSION_RETIRED"]
        # What was accepted stays accepted: its replay still gets the original receipt.
        assert await submit(client, within) == accepted
        # The draft moves to the current version and goes through.
        assert (await submit(client, entry("change-of-address", 2, ADDRESS_V2)))["receipt"]


async def test_catalogue_is_public_cacheable_and_bilingual(client: Client) -> None:
    from tests.forms.support import CATALOGUE

    response = await client.get(
        "/graphql", params={"query": CATALOGUE}, headers={"accept": "application/json"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "public, max-age=3600"
    catalogue = response.json()["data"]["formCatalogue"]
    forms = {f["formId"]: f for f in catalogue["forms"]}
    assert set(forms) == {
        "change-of-address",
        "foreign-bank-account",
        "income-statement",
        "stop-study-finance",
        "certified-extract-request",
        "general-question",
    }
    assert forms["change-of-address"]["version"] == 2
    for form in forms.values():
        assert form["current"] is True
        assert form["acceptedUntil"] is None
        assert form["jsonSchema"]["$schema"].endswith("/draft/2020-12/schema")
        assert form["title"]["en"]
        assert form["title"]["nl"]
    # Anything personal in the same document: not cacheable.
    mixed = await client.get(
        "/graphql",
        params={"query": "{ formCatalogue { revision } viewer { person { id } } }"},
        headers={"accept": "application/json"},
    )
    assert mixed.headers["cache-control"] == "no-store"


async def test_submissions_are_listed_newest_first_with_pages(
    client: Client, db: AsyncSession, person_factory: Any
) -> None:
    me = await person_factory()
    await sign_in(client, db, me.person["id"])
    ids = []
    for n in range(3):
        item = entry("general-question", 1, {**QUESTION, "subject": f"Question {n}"})
        ids.append(item["clientId"])
        await submit(client, item)
    first = (await gql(client, SUBMISSIONS, {"first": 2}))["data"]["viewer"]["submissions"]
    assert first["pageInfo"]["hasNextPage"] is True
    rest = await gql(client, SUBMISSIONS, {"first": 2, "after": first["pageInfo"]["endCursor"]})
    page = rest["data"]["viewer"]["submissions"]
    listed = [n["id"] for n in first["nodes"] + page["nodes"]]
    assert sorted(listed) == sorted(ids)
    assert page["pageInfo"]["hasNextPage"] is False
    assert all(n["status"] == "RECEIVED" for n in first["nodes"])
