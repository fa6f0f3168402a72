"""Record imports in the staff UI (admin): upload a file, the import runs in the background, the
page shows how it went, the report of rejected lines downloads; every step is audited."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.app import create_app
from api.database import utcnow
from api.settings import Settings
from records.imports import jobs
from records.models import ImportStatus, Person, RecordImport
from staff.models import Role
from tests.records.import_support import deadline, jsonl, new_customer, person
from tests.staff.support import Member, events, signed_in_member
from tests.support import asgi_client

NDJSON = {"content-type": "application/x-ndjson"}


@pytest.fixture
def import_dir(tmp_path: Path) -> Path:
    return tmp_path / "imports"


@pytest.fixture
def app(
    database_url: str, session_factory: async_sessionmaker[AsyncSession], import_dir: Path
) -> Litestar:
    settings = Settings(
        environment="test",
        database_url=database_url,
        import_dir=import_dir,
        import_max_bytes=64 * 1024,
    )
    return create_app(settings, session_factory=session_factory)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app) as c:
        yield c


def _names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def _runner(app: Litestar) -> jobs.ImportRunner:
    runner: jobs.ImportRunner = app.state[jobs.RUNNER_STATE_KEY]
    return runner


async def _upload(
    client: httpx.AsyncClient, member: Member, body: bytes, **headers: str
) -> httpx.Response:
    return await client.post(
        "/staff/imports",
        content=body,
        headers={**NDJSON, "x-csrf-token": member.csrf, "x-file-name": "register%202026.jsonl"}
        | headers,
    )


async def test_an_admin_imports_a_file_and_downloads_its_report(
    app: Litestar, client: httpx.AsyncClient, db: AsyncSession, import_dir: Path
) -> None:
    member = await signed_in_member(db, client, frozenset({Role.ADMIN}))
    customer = new_customer()
    body = jsonl(
        person(customer), b"{oops", {"=HYPERLINK(1)": 1, "type": "person"}, deadline(customer)
    )

    answer = await _upload(client, member, body)
    assert answer.status_code == 201, answer.text
    url = answer.json()["url"]
    await _runner(app).wait()

    assert await db.scalar(select(Person.id).where(Person.customer_number == customer))
    shown = await client.get(url)
    assert shown.status_code == 200
    assert "Klaar" in shown.text  # Dutch first
    assert "register 2026.jsonl" in shown.text
    assert "INVALID_JSON" in shown.text
    assert "Personen" in shown.text

    listed = await client.get("/staff/imports")
    assert "register 2026.jsonl" in listed.text
    assert "Bram Jansen" in listed.text

    report = await client.get(f"{url}/report.csv")
    assert report.status_code == 200
    assert report.headers["content-disposition"].startswith("attachment")
    assert report.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(report.text)))
    assert rows[0] == ["line", "type", "field", "code", "detail"]
    assert [row[:4] for row in rows[1:]] == [
        ["2", "", "", "INVALID_JSON"],
        ["3", "person", "'=HYPERLINK(1)", "UNKNOWN_FIELD"],  # no formula for a spreadsheet
    ]

    started = [(e.staff_id, e.details) for e in await events(db, "records.import.started")]
    downloaded = [e.staff_id for e in await events(db, "records.import.report_downloaded")]
    assert [staff_id for staff_id, _ in started] == downloaded == [member.id]
    assert started[0][1]["fileName"] == "register 2026.jsonl"
    assert started[0][1]["size"] == len(body)
    row = await db.scalar(select(RecordImport).execution_options(populate_existing=True))
    assert row is not None
    assert (row.status, row.lines, row.changed, row.rejected) == (ImportStatus.DONE, 4, 2, 2)
    assert row.counts is not None
    assert row.counts["person"]["inserted"] == 1
    row_id = row.id
    assert _names(import_dir) == [
        f"{row_id}-rejected.csv",
        f"{row_id}.jsonl",
    ]

    again = await client.post(f"{url}/again", data={"_csrf": member.csrf})
    assert again.status_code == 303
    await _runner(app).wait()
    rerun = await db.get(RecordImport, row_id, populate_existing=True)
    assert rerun is not None
    assert (rerun.status, rerun.changed, rerun.rejected) == (ImportStatus.DONE, 0, 2)


async def test_only_admins_import(
    client: httpx.AsyncClient, db: AsyncSession, import_dir: Path
) -> None:
    member = await signed_in_member(db, client, frozenset(Role) - {Role.ADMIN})
    answer = await _upload(client, member, jsonl(person(new_customer())))
    assert answer.status_code == 403
    assert [e.details["path"] for e in await events(db, "staff.forbidden")] == ["/staff/imports"]
    assert _names(import_dir) == []
    assert (await client.get("/staff/imports")).status_code == 403


async def test_uploads_that_cannot_be_imported_are_refused(
    client: httpx.AsyncClient, db: AsyncSession, import_dir: Path
) -> None:
    member = await signed_in_member(db, client, frozenset({Role.ADMIN}))
    good = jsonl(person(new_customer()))

    no_token = await client.post("/staff/imports", content=good, headers=NDJSON)
    assert no_token.status_code == 403
    wrong_type = await _upload(client, member, good, **{"content-type": "image/png"})
    assert (wrong_type.status_code, wrong_type.json()["code"]) == (415, "IMPORT_TYPE")
    empty = await _upload(client, member, b"")
    assert (empty.status_code, empty.json()["code"]) == (400, "IMPORT_EMPTY")
    huge = await _upload(client, member, b'{"type": "person"}\n' * 5000)  # > 64 KiB
    assert (huge.status_code, huge.json()["code"]) == (413, "IMPORT_TOO_LARGE")
    assert "groter" in huge.json()["message"]  # in the member's language
    assert _names(import_dir) == []  # nothing half-written is kept
    assert await db.scalar(select(func.count()).select_from(RecordImport)) == 0


async def test_an_interrupted_import_can_run_again_a_running_one_cannot(
    app: Litestar, client: httpx.AsyncClient, db: AsyncSession, import_dir: Path
) -> None:
    member = await signed_in_member(db, client, frozenset({Role.ADMIN}))
    answer = await _upload(client, member, jsonl(person(new_customer())))
    await _runner(app).wait()
    import_id = uuid.UUID(answer.json()["id"])
    await db.execute(
        update(RecordImport)
        .where(RecordImport.id == import_id)
        .values(status=ImportStatus.RUNNING, heartbeat_at=utcnow())
    )
    await db.commit()

    busy = await client.post(f"/staff/imports/{import_id}/again", data={"_csrf": member.csrf})
    assert busy.headers["location"].endswith("?notice=importRunning")

    await db.execute(
        update(RecordImport)
        .where(RecordImport.id == import_id)
        .values(heartbeat_at=utcnow() - jobs.STALE_AFTER - timedelta(minutes=1))
    )
    await db.commit()
    shown = await client.get(f"/staff/imports/{import_id}")
    assert "Onderbroken" in shown.text
    again = await client.post(f"/staff/imports/{import_id}/again", data={"_csrf": member.csrf})
    assert again.headers["location"].endswith("?notice=importAgain")
    await _runner(app).wait()
    row = await db.get(RecordImport, import_id, populate_existing=True)
    assert row is not None
    assert row.status == ImportStatus.DONE


async def test_a_lost_file_fails_the_import_with_a_reason(
    app: Litestar, client: httpx.AsyncClient, db: AsyncSession, import_dir: Path
) -> None:
    member = await signed_in_member(db, client, frozenset({Role.ADMIN}))
    answer = await _upload(client, member, jsonl(person(new_customer())))
    await _runner(app).wait()
    import_id = uuid.UUID(answer.json()["id"])
    (import_dir / f"{import_id}.jsonl").unlink()
    await client.post(f"/staff/imports/{import_id}/again", data={"_csrf": member.csrf})
    await _runner(app).wait()
    row = await db.get(RecordImport, import_id, populate_existing=True)
    assert row is not None
    assert row.status == ImportStatus.FAILED
    assert row.error is not None
    assert row.error.startswith("file:")
    shown = await client.get(f"/staff/imports/{import_id}")
    assert "Gestopt" in shown.text
