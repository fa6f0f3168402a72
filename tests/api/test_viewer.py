"""The viewer API: a signed-in person reads their own records and nothing else."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.persisted import OPERATIONS_DIR
from notifications.models import InboxMessage
from tests.support import error_codes, gql, sign_in

Client = httpx.AsyncClient

DASHBOARD = (OPERATIONS_DIR / "Dashboard.graphql").read_text()
SECURITY = (OPERATIONS_DIR / "Security.graphql").read_text()
EXTRACTS = (OPERATIONS_DIR / "Extracts.graphql").read_text()
FORMS = (OPERATIONS_DIR / "FormsSubmissions.graphql").read_text()
PUSH = (OPERATIONS_DIR / "PushSettings.graphql").read_text()
OUTBOX = (OPERATIONS_DIR / "OutboxKey.graphql").read_text()


async def test_signed_out_viewer_is_unauthenticated(client: Client) -> None:
    body = await gql(client, DASHBOARD)
    assert body["data"] is None
    assert error_codes(body) == ["UNAUTHENTICATED"]


async def test_unknown_session_cookie_is_unauthenticated(client: Client) -> None:
    client.cookies.set("duo_session", "made-up-token")
    body = await gql(client, "{ viewer { person { id } } }")
    assert error_codes(body) == ["UNAUTHENTICATED"]


async def test_dashboard_shows_own_records(
    client: Client, db: AsyncSession, person_factory: Any
) -> None:
    me = await person_factory(given_names="Mei", family_name="Zhang")
    await sign_in(client, db, me.person["id"])
    body = await gql(client, DASHBOARD)
    assert "errors" not in body, body
    viewer = body["data"]["viewer"]
    assert viewer["person"]["givenNames"] == "Mei"
    assert viewer["person"]["customerNumber"] == me.person["customer_number"]
    assert {d["id"] for d in viewer["diplomas"]} == {str(d["id"]) for d in me.diplomas}
    for diploma in viewer["diplomas"]:
        expected = [r for r in me.results if str(r["diploma_id"]) == diploma["id"]]
        assert [r["subject"] for r in diploma["results"]] == [r["subject"] for r in expected]
    assert len(viewer["enrolments"]) == len(me.enrolments)
    due = [d["dueAt"] for d in viewer["deadlines"]["nodes"]]
    assert due == sorted(due), "deadlines come soonest first"
    assert viewer["unreadMessages"] == 1


async def test_other_persons_data_never_appears(
    client: Client, db: AsyncSession, person_factory: Any
) -> None:
    """Every viewer field is scoped to the session's person: nothing of B shows for A."""
    me = await person_factory()
    other = await person_factory(given_names="Zzother", family_name="Qqperson")
    await sign_in(client, db, me.person["id"])
    # B is active too: B has a session (and so audit-worthy activity of its own).
    other_client_token = await sign_in(client, db, other.person["id"])
    await sign_in(client, db, me.person["id"])
    text = ""
    for document in (DASHBOARD, SECURITY, EXTRACTS, FORMS, PUSH, OUTBOX):
        response = await client.post("/graphql", json={"query": document})
        assert "errors" not in response.json(), response.text
        text += response.text
    assert "Zzother" not in text
    assert "Qqperson" not in text
    other_ids = (
        [str(other.person["id"])]
        + [str(r["id"]) for r in other.diplomas + other.enrolments + other.deadlines]
        + [str(m["id"]) for m in other.messages]
    )
    assert not [i for i in other_ids if i in text]
    assert other_client_token not in text
    sessions = (await gql(client, "{ viewer { sessions { id } } }"))["data"]["viewer"]["sessions"]
    assert len(sessions) == 2  # my two sign-ins, not B's


async def test_every_viewer_field_is_in_an_isolation_checked_document(client: Client) -> None:
    """A new Viewer field must be in Dashboard, Security or Extracts (so in the test above)."""
    body = await gql(client, '{ __type(name: "Viewer") { fields { name } } }')
    fields = {f["name"] for f in body["data"]["__type"]["fields"]}
    # `diploma(id)` takes an id and is tested on its own below; `submission(id)` in tests/forms.
    for field in fields - {"diploma", "submission"}:
        assert any(field in d for d in (DASHBOARD, SECURITY, EXTRACTS, FORMS, PUSH, OUTBOX)), field


async def test_another_persons_diploma_is_not_found(
    client: Client, db: AsyncSession, person_factory: Any
) -> None:
    me = await person_factory()
    other = await person_factory()
    await sign_in(client, db, me.person["id"])
    query = "query($id: ID!) { viewer { diploma(id: $id) { programme } } }"
    foreign = await gql(client, query, {"id": str(other.diplomas[0]["id"])})
    assert error_codes(foreign) == ["NOT_FOUND"]
    assert foreign["data"] is None
    own = await gql(client, query, {"id": str(me.diplomas[0]["id"])})
    assert own["data"]["viewer"]["diploma"]["programme"] == me.diplomas[0]["programme"]


async def test_malformed_id_is_a_field_error(
    client: Client, db: AsyncSession, person_factory: Any
) -> None:
    me = await person_factory()
    await sign_in(client, db, me.person["id"])
    body = await gql(client, 'mutation { markMessageRead(id: "not-a-uuid") { id } }')
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "id"}


async def test_cannot_mark_another_persons_message(
    client: Client, db: AsyncSession, person_factory: Any
) -> None:
    me = await person_factory()
    other = await person_factory()
    await sign_in(client, db, me.person["id"])
    message_id = other.messages[0]["id"]
    body = await gql(
        client,
        "mutation($id: ID!) { markMessageRead(id: $id) { id read } }",
        {"id": str(message_id)},
    )
    assert error_codes(body) == ["NOT_FOUND"]
    message = await db.scalar(select(InboxMessage).where(InboxMessage.id == message_id))
    assert message is not None
    await db.refresh(message)
    assert message.read_at is None


async def test_mark_own_message_read(client: Client, db: AsyncSession, person_factory: Any) -> None:
    me = await person_factory()
    await sign_in(client, db, me.person["id"])
    body = await gql(
        client,
        "mutation($id: ID!) { markMessageRead(id: $id) { id read } }",
        {"id": str(me.messages[0]["id"])},
    )
    assert body["data"]["markMessageRead"]["read"] is True
    after = await gql(client, "{ viewer { unreadMessages } }")
    assert after["data"]["viewer"]["unreadMessages"] == 0


async def test_inbox_pagination_walks_every_message_once(
    client: Client, db: AsyncSession, person_factory: Any
) -> None:
    from notifications.models import MessageKind
    from notifications.service import post_message

    me = await person_factory()
    for n in range(4):
        await post_message(db, me.person["id"], kind=MessageKind.INFO, subject=f"m{n}", body="-")
    await sign_in(client, db, me.person["id"])
    query = """query($after: String) { viewer { inbox(first: 2, after: $after) {
        nodes { id } pageInfo { hasNextPage endCursor } } } }"""
    seen: list[str] = []
    after = None
    for _ in range(5):
        page = (await gql(client, query, {"after": after}))["data"]["viewer"]["inbox"]
        seen += [n["id"] for n in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == 5
    assert len(set(seen)) == 5


async def test_bad_page_arguments_name_the_field(
    client: Client, db: AsyncSession, person_factory: Any
) -> None:
    me = await person_factory()
    await sign_in(client, db, me.person["id"])
    too_many = await gql(client, "{ viewer { inbox(first: 1000) { nodes { id } } } }")
    assert too_many["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "first"}
    bad_cursor = await gql(client, '{ viewer { deadlines(after: "%%%") { nodes { id } } } }')
    assert bad_cursor["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "after"}
