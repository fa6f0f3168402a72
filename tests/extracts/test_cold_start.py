"""First use of a fresh development database, on separate connections as in a real server."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from api.app import create_app
from api.database import create_engine, create_session_factory
from api.migrate import upgrade_connection
from api.persisted import OPERATIONS_DIR
from api.settings import Settings
from auth.sessions import create_session
from tests.extracts.flows import add_diploma
from tests.support import add_person, asgi_client, gql

CREATE_EXTRACT = (OPERATIONS_DIR / "CreateExtract.graphql").read_text()


async def test_first_extract_on_a_fresh_sqlite_database(tmp_path: Path) -> None:
    """The dev key is created mid-request (no startup warm-up) without 'database is locked'.

    The suite's shared connection hides this: SQLite cannot upgrade a read snapshot taken
    before another connection's commit, which is what the key's own transaction is.
    """
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.sqlite3'}"
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await upgrade_connection(conn)
        factory = create_session_factory(engine)
        async with factory() as db:
            person = await add_person(db)
            diploma_id = await add_diploma(db, person.person["id"])
            issued = await create_session(
                db, person_id=person.person["id"], absolute_timeout=timedelta(hours=1)
            )
            await db.commit()
        app = create_app(Settings(environment="test", database_url=url), session_factory=factory)
        async with asgi_client(app) as client:
            client.cookies.set("duo_session", issued.token, domain="testserver.local")
            # The PWA's persisted document (this app, like production, runs no other).
            body = await gql(
                client, CREATE_EXTRACT, {"diplomaId": str(diploma_id), "language": "en"}
            )
            assert "errors" not in body, body
            extract_id = body["data"]["createExtract"]["id"]
            token = (await client.get(f"/extracts/{extract_id}.jws")).text
            verdict = await client.post("/extracts/verify", json={"jws": token})
            assert verdict.json()["result"] == "valid"
    finally:
        await engine.dispose()
