"""The restore drill of the README, performed: back up (pg_dump, the attachment files, the
keys), restore into a new database and directory, and what people hold from before still
works there: an extract verifies, a receipt verifies, an attachment is found, a session holds."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from litestar import Litestar
from sqlalchemy import make_url

from api.app import create_app
from api.database import create_engine, create_session_factory
from api.migrate import upgrade
from api.settings import Settings
from extracts.keys import generate_private_jwk
from forms.receipts import verify_receipt
from tests.deploy.conftest import _drop, _recreate
from tests.extracts.flows import add_diploma, create_extract, fetch_jws, verify
from tests.forms.support import entry, income, png_bytes, submit, upload
from tests.support import add_person, asgi_client, sign_in


def _run(tool: str, *args: str) -> None:
    """PostgreSQL's own client tools, as an operator runs them."""
    executable = shutil.which(tool)
    assert executable is not None, f"{tool} is not installed (postgresql-client)"
    subprocess.run([executable, *args], check=True, timeout=120, capture_output=True)  # noqa: S603


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[tuple[Litestar, httpx.AsyncClient]]:
    app = create_app(settings)
    try:
        async with asgi_client(app) as client:
            yield app, client
    finally:
        await app.state.session_factory.kw["bind"].dispose()


async def test_a_restored_backup_keeps_extracts_receipts_attachments_and_sessions(
    scratch_database: str, tmp_path: Path
) -> None:
    keys = json.dumps([generate_private_jwk()])  # EXTRACT_SIGNING_KEYS: part of the backup
    live = Settings(
        environment="test",
        allow_adhoc_queries=True,  # the tests' GraphQL helpers send documents as text
        database_url=scratch_database,
        extract_signing_keys=keys,
        forms_attachment_dir=tmp_path / "live" / "attachments",
    )
    await asyncio.to_thread(upgrade, scratch_database)
    evidence = png_bytes(padding=5000)

    # Before: a person with an extract, and a form with an attachment and its receipt.
    async with serving(live) as (_app, client):
        engine = create_engine(scratch_database)
        async with create_session_factory(engine)() as db:
            bundle = await add_person(db)
            person_id = bundle.person["id"]
            diploma_id = await add_diploma(db, person_id)
            await db.commit()
            token = await sign_in(client, db, person_id)
        await engine.dispose()
        extract = await create_extract(client, diploma_id)
        extract_jws = await fetch_jws(client, extract["id"])
        attachment_id = await upload(client, evidence)
        sent = await submit(
            client, entry("income-statement", 1, income([attachment_id]), str(uuid.uuid4()))
        )
        assert sent["status"] == "ACCEPTED", sent
        receipt = sent["receipt"]

    # Backup: the database (custom format) and the attachment files.
    backup = tmp_path / "backup"
    backup.mkdir()
    dump = backup / "db.dump"
    await asyncio.to_thread(
        _run, "pg_dump", "--format=custom", f"--file={dump}", _libpq(scratch_database)
    )
    shutil.copytree(live.forms_attachment_dir, backup / "attachments")

    # Restore into a new database and a new directory (another machine, after a disaster).
    name = f"{make_url(scratch_database).database}_restored"
    await _recreate(scratch_database, name)
    restored_url = make_url(scratch_database).set(database=name).render_as_string(False)
    try:
        await asyncio.to_thread(
            _run, "pg_restore", "--no-owner", f"--dbname={_libpq(restored_url)}", str(dump)
        )
        shutil.copytree(backup / "attachments", tmp_path / "restored" / "attachments")
        restored = Settings(
            environment="test",
            allow_adhoc_queries=True,
            database_url=restored_url,
            extract_signing_keys=keys,
            forms_attachment_dir=tmp_path / "restored" / "attachments",
        )
        async with serving(restored) as (_app, client):
            # The extract verifies online, with its status list from the restored database.
            checked = await verify(client, extract_jws)
            assert checked["result"] == "valid", checked
            # The receipt verifies with the published keys.
            jwks = (await client.get("/.well-known/jwks.json")).json()
            payload = verify_receipt(receipt, jwks)
            assert payload["attachments"][0]["id"] == attachment_id
            # The session from before still holds, and the attachment's bytes are there.
            client.cookies.set("duo_session", token, domain="testserver.local")
            content = await client.get(f"/forms/attachments/{attachment_id}/content")
            assert content.status_code == 200, content.text
            assert content.content == evidence
    finally:
        await _drop(scratch_database, name)
