"""Attachments: resumable upload, type by content, size limits, owner-only, linked once."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from litestar import Litestar
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.app import create_app
from api.settings import Settings
from forms.models import FormAttachment
from forms.receipts import verify_receipt
from tests.forms.support import (
    HTML,
    SUBMISSION,
    complete,
    entry,
    error_code,
    income,
    jpeg_bytes,
    pdf_bytes,
    png_bytes,
    put_chunk,
    sha256,
    start_upload,
    submit,
    upload,
)
from tests.support import asgi_client, gql, sign_in

Client = httpx.AsyncClient


async def test_evidence_is_uploaded_in_chunks_resumed_and_receipted(
    client: Client, db: AsyncSession, person_factory: Any, settings: Settings
) -> None:
    me = await person_factory()
    await sign_in(client, db, me.person["id"])
    data = png_bytes(padding=3 * 1024 * 1024)  # larger than the app-wide 1 MB request limit
    created = await start_upload(client, data, "loonstrook.PNG", mediaType="image/png")
    assert created.status_code == 201, created.text
    upload_id = created.json()["id"]
    assert created.json()["offset"] == 0
    chunk = 1536 * 1024  # over MAX_REQUEST_BYTES, under the chunk route's own limit
    assert (await put_chunk(client, upload_id, 0, data[:chunk])).status_code == 200

    # The connection dropped: the app asks where to resume, and a stale offset is refused.
    status = await client.get(f"/forms/attachments/{upload_id}")
    assert status.json()["offset"] == chunk
    assert status.json()["complete"] is False
    stale = await put_chunk(client, upload_id, 0, data[:chunk])
    assert stale.status_code == 409
    assert stale.json()["errors"][0]["extensions"] == {
        "code": "UPLOAD_OFFSET_MISMATCH",
        "offset": chunk,
    }
    early = await complete(client, upload_id)
    assert (early.status_code, error_code(early)) == (409, "UPLOAD_INCOMPLETE")
    for offset in range(chunk, len(data), chunk):
        sent = await put_chunk(client, upload_id, offset, data[offset : offset + chunk])
        assert sent.status_code == 200, sent.text
    done = await complete(client, upload_id)
    assert done.status_code == 200
    assert done.json()["complete"] is True
    assert (await complete(client, upload_id)).json() == done.json(), "completing is repeatable"

    # Stored outside the database, under the configured directory.
    files = [p for p in settings.forms_attachment_dir.rglob("*") if p.is_file()]
    assert [p.read_bytes() == data for p in files] == [True]

    second = await upload(client, pdf_bytes(), "aanslag.pdf")
    item = entry("income-statement", 1, income([upload_id, second]))
    result = await submit(client, item)
    assert result["status"] == "ACCEPTED", result
    jwks = (await client.get("/.well-known/jwks.json")).json()
    receipt = verify_receipt(result["receipt"], jwks)
    assert receipt["attachments"] == [
        {"id": upload_id, "sha256": sha256(data), "size": len(data), "mediaType": "image/png"},
        {
            "id": second,
            "sha256": sha256(pdf_bytes()),
            "size": len(pdf_bytes()),
            "mediaType": "application/pdf",
        },
    ]
    shown = await gql(client, SUBMISSION, {"id": item["clientId"]})
    attachments = shown["data"]["viewer"]["submission"]["attachments"]
    assert [a["filename"] for a in attachments] == ["loonstrook.PNG", "aanslag.pdf"]

    download = await client.get(attachments[0]["url"])
    assert download.status_code == 200
    assert download.content == data
    assert download.headers["content-type"] == "image/png"
    assert download.headers["content-disposition"].startswith("attachment;")
    assert "no-store" in download.headers["cache-control"]


async def test_a_file_whose_content_is_not_what_its_name_says_is_refused(
    client: Client, db: AsyncSession, person_factory: Any
) -> None:
    me = await person_factory()
    await sign_in(client, db, me.person["id"])
    for data, name in [(png_bytes(), "payslip.pdf"), (HTML, "photo.jpg"), (pdf_bytes(), "a.png")]:
        created = await start_upload(client, data, name)
        assert created.status_code == 201, created.text
        refused = await put_chunk(client, created.json()["id"], 0, data)
        assert refused.status_code == 415, (name, refused.text)
        assert error_code(refused) == "ATTACHMENT_TYPE"
        assert "not a" in refused.json()["errors"][0]["message"]
        # Nothing of it was stored, and it cannot be completed or used.
        after = await client.get(f"/forms/attachments/{created.json()['id']}")
        assert after.json()["offset"] == 0
    for name, extra in [
        ("notes.html", {}),
        ("scan.gif", {}),
        ("a.pdf", {"mediaType": "image/png"}),
    ]:
        refused = await start_upload(client, b"x" * 20, name, **extra)
        assert (refused.status_code, error_code(refused)) == (415, "ATTACHMENT_TYPE"), name
    # A real JPEG passes.
    assert await upload(client, jpeg_bytes(), "photo.jpeg")


async def test_a_truncated_png_is_refused_at_completion(
    client: Client, db: AsyncSession, person_factory: Any
) -> None:
    me = await person_factory()
    await sign_in(client, db, me.person["id"])
    data = png_bytes()[:-12]  # no IEND: not a whole PNG
    created = await start_upload(client, data, "half.png")
    await put_chunk(client, created.json()["id"], 0, data)
    refused = await complete(client, created.json()["id"])
    assert (refused.status_code, error_code(refused)) == (415, "ATTACHMENT_TYPE")


async def test_too_large_files_are_refused(
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    db: AsyncSession,
    person_factory: Any,
) -> None:
    small = settings.with_overrides(forms_attachment_max_bytes=100_000)
    me = await person_factory()
    async with asgi_client(create_app(small, session_factory=session_factory)) as client:
        await sign_in(client, db, me.person["id"])
        data = png_bytes(padding=200_000)
        declared = await start_upload(client, data, "big.png")
        assert declared.status_code == 413
        assert declared.json()["errors"][0]["extensions"]["code"] == "ATTACHMENT_TOO_LARGE"
        # Declaring a small size and sending more is refused too.
        small_one = png_bytes()
        created = await start_upload(client, small_one, "small.png")
        overflow = await put_chunk(client, created.json()["id"], 0, small_one + b"\0" * 10)
        assert (overflow.status_code, error_code(overflow)) == (413, "ATTACHMENT_TOO_LARGE")
    # The default limit is 10 MiB; a chunk above the route's own limit gets 413 at the edge.
    assert settings.forms_attachment_max_bytes == 10 * 1024 * 1024


async def test_a_chunk_above_the_route_limit_is_refused(
    client: Client, db: AsyncSession, person_factory: Any, settings: Settings
) -> None:
    me = await person_factory()
    await sign_in(client, db, me.person["id"])
    data = png_bytes(padding=settings.forms_upload_chunk_bytes + 10)
    created = await start_upload(client, data, "big.png")
    refused = await put_chunk(client, created.json()["id"], 0, data)
    assert refused.status_code == 413


async def test_a_damaged_upload_fails_its_checksum_and_starts_again(
    client: Client, db: AsyncSession, person_factory: Any
) -> None:
    me = await person_factory()
    await sign_in(client, db, me.person["id"])
    data = png_bytes(padding=100)
    created = await client.post(
        "/forms/attachments",
        json={"filename": "x.png", "size": len(data), "sha256": sha256(data + b"!")},
    )
    upload_id = created.json()["id"]
    await put_chunk(client, upload_id, 0, data)
    refused = await complete(client, upload_id)
    assert (refused.status_code, error_code(refused)) == (422, "ATTACHMENT_CHECKSUM")
    assert (await client.get(f"/forms/attachments/{upload_id}")).json()["offset"] == 0


async def test_attachments_are_their_owners_only(
    app: Litestar, client: Client, db: AsyncSession, person_factory: Any
) -> None:
    me = await person_factory()
    other = await person_factory()
    await sign_in(client, db, me.person["id"])
    mine = await upload(client, pdf_bytes(), "mine.pdf")
    async with asgi_client(app) as theirs:
        await sign_in(theirs, db, other.person["id"])
        for response in [
            await theirs.get(f"/forms/attachments/{mine}"),
            await theirs.get(f"/forms/attachments/{mine}/content"),
            await put_chunk(theirs, mine, 0, b"%PDF-1.4 overwrite attempt"),
            await complete(theirs, mine),
            await theirs.delete(f"/forms/attachments/{mine}"),
        ]:
            assert (response.status_code, error_code(response)) == (404, "NOT_FOUND")
        # Nor can they put my file into their submission.
        stolen = await submit(theirs, entry("income-statement", 1, income([mine])))
        assert stolen["status"] == "INVALID"
        assert [(e["path"], e["code"]) for e in stolen["errors"]] == [
            ("/evidence/0", "ATTACHMENT_NOT_FOUND")
        ]
    async with asgi_client(app) as nobody:
        anonymous = await nobody.get(f"/forms/attachments/{mine}/content")
        assert (anonymous.status_code, error_code(anonymous)) == (401, "UNAUTHENTICATED")
    assert (await client.get(f"/forms/attachments/{mine}/content")).content == pdf_bytes()


async def test_an_attachment_belongs_to_one_submission_and_then_stays(
    client: Client, db: AsyncSession, person_factory: Any
) -> None:
    me = await person_factory()
    await sign_in(client, db, me.person["id"])
    evidence = await upload(client, pdf_bytes(), "aanslag.pdf")
    unfinished = (await start_upload(client, png_bytes(), "later.png")).json()["id"]
    first = await submit(client, entry("income-statement", 1, income([evidence])))
    assert first["status"] == "ACCEPTED"
    second = await submit(
        client, entry("income-statement", 1, income([evidence, unfinished, str(uuid.uuid4())]))
    )
    assert [(e["path"], e["code"]) for e in second["errors"]] == [
        ("/evidence/0", "ATTACHMENT_IN_USE"),
        ("/evidence/1", "ATTACHMENT_INCOMPLETE"),
        ("/evidence/2", "ATTACHMENT_NOT_FOUND"),
    ]
    kept = await client.delete(f"/forms/attachments/{evidence}")
    assert (kept.status_code, error_code(kept)) == (409, "ATTACHMENT_IN_USE")
    removed = await client.delete(f"/forms/attachments/{unfinished}")
    assert removed.status_code == 204
    row = await db.scalar(select(FormAttachment).where(FormAttachment.id == uuid.UUID(evidence)))
    assert row is not None
    assert row.submission_id is not None


async def test_uploads_accept_only_json_or_raw_bytes(
    client: Client, db: AsyncSession, person_factory: Any
) -> None:
    """A cross-site <form> can send neither (no CORS preflight for form types)."""
    me = await person_factory()
    await sign_in(client, db, me.person["id"])
    form_post = await client.post(
        "/forms/attachments", data={"filename": "a.pdf", "size": "10", "sha256": "0" * 64}
    )
    assert form_post.status_code == 415
    created = (await start_upload(client, pdf_bytes(), "a.pdf")).json()["id"]
    for content_type in ("text/plain", "multipart/form-data; boundary=x"):
        chunk = await client.put(
            f"/forms/attachments/{created}/chunks?offset=0",
            content=pdf_bytes(),
            headers={"content-type": content_type},
        )
        assert chunk.status_code == 415, content_type
    cross_site = await client.put(
        f"/forms/attachments/{created}/chunks?offset=0",
        content=pdf_bytes(),
        headers={"content-type": "application/octet-stream", "sec-fetch-site": "cross-site"},
    )
    assert cross_site.status_code == 403
