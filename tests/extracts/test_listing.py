"""The Extracts document (PWA): only the viewer's own rows, in a constant number of statements."""

from __future__ import annotations

import httpx
from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from api.persisted import OPERATIONS_DIR
from tests.extracts.flows import CREATE_LINK, create_extract, holder
from tests.support import asgi_client, count_statements, gql

EXTRACTS = (OPERATIONS_DIR / "Extracts.graphql").read_text()


async def _holder_with(
    client: httpx.AsyncClient, db: AsyncSession, *, extracts: int, opens: int
) -> list[str]:
    """A signed-in holder with extracts, one share link per extract, each opened `opens` times."""
    _, diploma_id = await holder(client, db)
    ids = []
    for _ in range(extracts):
        extract = await create_extract(client, diploma_id)
        link = (await gql(client, CREATE_LINK, {"e": extract["id"], "days": 30}))["data"]
        path = link["createShareLink"]["url"].removeprefix("http://localhost:8000")
        for _ in range(opens):
            assert (await client.get(path)).status_code == 200
        ids += [extract["id"], link["createShareLink"]["shareLink"]["id"]]
    return ids


async def test_only_own_extracts_and_links_in_a_constant_number_of_statements(
    app: Litestar, client: httpx.AsyncClient, db: AsyncSession, connection: AsyncConnection
) -> None:
    mine = await _holder_with(client, db, extracts=1, opens=1)
    small, small_body = await count_statements(client, connection, EXTRACTS)
    async with asgi_client(app) as other:
        theirs = await _holder_with(other, db, extracts=6, opens=3)
        large, large_body = await count_statements(other, connection, EXTRACTS)

    viewer = large_body["data"]["viewer"]
    assert len(viewer["extracts"]) == 6
    assert [link["accessCount"] for link in viewer["shareLinks"]] == [3] * 6
    assert small == large
    assert large <= 5

    text = str(small_body)
    assert all(i in text for i in mine)
    assert not [i for i in theirs if i in text]
