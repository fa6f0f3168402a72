"""The person's side over HTTP: make a request, upload the files, submit, follow it."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from access.models import AccessRequest, RequestStatus
from api.settings import Settings
from auth.models import AuditEvent
from tests.access.support import DETAILS, error, mp4_bytes, requester, webm_bytes
from tests.forms.support import HTML, jpeg_bytes, pdf_bytes, png_bytes

Client = httpx.AsyncClient


async def test_a_request_is_made_uploaded_and_submitted_from_one_browser(
    client: Client, db: AsyncSession, settings: Settings
) -> None:
    me = requester(client)
    created = await me.create(customerNumber=" da-0000001 ")
    assert created.status_code == 201, created.text
    state = created.json()
    assert state["status"] == "draft"
    assert len(state["digits"]) == 4
    assert state["digits"].isdigit()
    assert state["details"]["customerNumber"] == "DA0000001"
    assert state["canUpload"] is True
    assert state["pushPublicKey"]

    # The passport photo in small chunks (a slow network), resumed after a lost connection.
    photo = png_bytes(200_000)
    started = await me.start_file("document", photo, "passport.png", mediaType="image/png")
    assert started.status_code == 201, started.text
    file_id = started.json()["id"]
    assert (await me.chunk(file_id, 0, photo[:50_000])).status_code == 200
    where = await client.get(f"/access/requests/{me.request_id}/files/{file_id}", headers=me.auth)
    assert where.json()["offset"] == 50_000
    stale = await me.chunk(file_id, 0, photo[:50_000])
    assert error(stale)[:2] == (409, "UPLOAD_OFFSET_MISMATCH")
    for offset in range(50_000, len(photo), 50_000):
        assert (await me.chunk(file_id, offset, photo[offset : offset + 50_000])).status_code == 200
    done = await me.complete(file_id)
    assert done.status_code == 200
    assert done.json()["complete"] is True
    assert done.json()["kind"] == "document"

    # Submitting without the video says what is missing.
    early = await me.post("/submit", {})
    assert error(early) == (422, "VIDEO_MISSING", "video")

    video = await me.upload("video", webm_bytes(), "liveness.webm")
    assert video.status_code == 200, video.text
    assert video.json()["kind"] == "video"
    submitted = await me.post("/submit", {})
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["status"] == "submitted"
    assert submitted.json()["canUpload"] is False
    assert [f["kind"] for f in submitted.json()["files"]] == ["document", "video"]

    # Files are stored outside the database; the request row knows only the secret's hash.
    stored = [p for p in settings.forms_attachment_dir.rglob("*") if p.is_file()]
    assert len(stored) == 2
    row = await db.scalar(select(AccessRequest).where(AccessRequest.id == uuid.UUID(me.request_id)))
    assert row is not None
    assert row.status is RequestStatus.SUBMITTED
    assert me.secret.encode() not in row.secret_hash
    assert len(row.secret_hash) == 32

    # Submitted means submitted: no second submit, no new files.
    again = await me.post("/submit", {})
    assert error(again)[:2] == (409, "REQUEST_NOT_EDITABLE")
    late = await me.start_file("document", jpeg_bytes(), "other.jpg")
    assert error(late)[:2] == (409, "REQUEST_NOT_EDITABLE")


async def test_another_browsers_secret_gets_nothing(client: Client, db: AsyncSession) -> None:
    mine, theirs = requester(client), requester(client)
    await mine.submit_complete()
    assert (await theirs.create(fullName="Someone Else")).status_code == 201
    theirs.request_id, own = mine.request_id, theirs.request_id
    peeked = await theirs.state()
    assert error(peeked) == (404, "NOT_FOUND", "id")
    assert "digits" not in peeked.text
    assert "Mei" not in peeked.text
    changed = await theirs.post("/respond", {"message": "hi"})
    assert error(changed)[:2] == (404, "NOT_FOUND")
    no_secret = await client.get(f"/access/requests/{mine.request_id}")
    assert error(no_secret) == (400, "INVALID_SECRET", "secret")
    unknown = await client.get(f"/access/requests/{uuid.uuid4()}", headers=mine.auth)
    assert error(unknown)[:2] == (404, "NOT_FOUND")
    reasons = (
        await db.scalars(
            select(AuditEvent.reason).where(
                AuditEvent.action == "access_request.open", AuditEvent.outcome == "failure"
            )
        )
    ).all()
    assert set(reasons) == {"wrong_secret", "unknown_request"}
    theirs.request_id = own
    assert (await theirs.state()).status_code == 200


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"fullName": " "}, "fullName"),
        ({"fullName": "Mei\x00Zhang"}, "fullName"),
        ({"dateOfBirth": "2999-01-01"}, "dateOfBirth"),
        ({"dateOfBirth": "15-03-1994"}, "dateOfBirth"),
        ({"country": "XX"}, "country"),
        ({"contactEmail": "mei at example"}, "contactEmail"),
        ({"reason": "bored"}, "reason"),
        ({"customerNumber": "D!"}, "customerNumber"),
    ],
)
async def test_bad_details_are_refused_field_by_field(
    client: Client, change: dict[str, str], field: str
) -> None:
    response = await requester(client).create(**change)
    status, code, named = error(response)
    assert (status, named) == (400, field), response.text
    assert code in ("BAD_USER_INPUT", "BAD_REQUEST")


@pytest.mark.parametrize(
    "missing", ["fullName", "dateOfBirth", "country", "contactEmail", "reason"]
)
async def test_missing_fields_are_named(client: Client, missing: str) -> None:
    body = {k: v for k, v in DETAILS.items() if k != missing}
    me = requester(client)
    response = await client.post("/access/requests", json=body, headers=me.auth)
    assert response.status_code == 400
    assert missing in response.text


async def test_a_malformed_or_reused_secret_is_refused(client: Client) -> None:
    bad = requester(client)
    bad.secret = "short"
    assert error(await bad.create()) == (400, "INVALID_SECRET", "secret")
    first = requester(client)
    assert (await first.create()).status_code == 201
    assert error(await first.create())[:2] == (409, "SECRET_IN_USE")


async def test_files_are_checked_by_type_content_and_size(
    client: Client, settings: Settings
) -> None:
    me = requester(client)
    assert (await me.create()).status_code == 201
    # A video is not a document, a document not a video, and names must say what they are.
    assert error(await me.start_file("document", webm_bytes(), "clip.webm")) == (
        415,
        "ATTACHMENT_TYPE",
        "filename",
    )
    wrong_kind = await me.start_file("video", png_bytes(), "passport.png")
    assert error(wrong_kind)[:2] == (415, "ATTACHMENT_TYPE")
    assert "WebM and MP4" in wrong_kind.json()["errors"][0]["message"]
    assert error(await me.start_file("photo", png_bytes(), "a.png")) == (
        400,
        "BAD_USER_INPUT",
        "kind",
    )
    # Content decides: an HTML page named .webm is refused before a byte is stored.
    page = await me.start_file("video", HTML, "liveness.webm")
    assert page.status_code == 201
    refused = await me.chunk(page.json()["id"], 0, HTML)
    assert error(refused)[:2] == (415, "ATTACHMENT_TYPE")
    # A file that starts like WebM but is no WebM container is refused at completion.
    fake = b"\x1a\x45\xdf\xa3" + b"\x00" * 300
    assert error(await me.upload("video", fake, "liveness.webm"))[:2] == (415, "ATTACHMENT_TYPE")
    not_webm = webm_bytes(doc_type=b"matroska")
    assert error(await me.upload("video", not_webm, "liveness.webm"))[:2] == (
        415,
        "ATTACHMENT_TYPE",
    )
    no_tracks = webm_bytes(with_tracks=False)
    assert error(await me.upload("video", no_tracks, "liveness.webm"))[:2] == (
        415,
        "ATTACHMENT_TYPE",
    )
    truncated = mp4_bytes()[:-100]
    assert error(await me.upload("video", truncated, "liveness.mp4"))[:2] == (
        415,
        "ATTACHMENT_TYPE",
    )
    quicktime = mp4_bytes(brand=b"qt  ")  # a QuickTime movie, not an MP4
    movie = await me.start_file("video", quicktime, "liveness.mp4")
    assert error(await me.chunk(movie.json()["id"], 0, quicktime))[:2] == (415, "ATTACHMENT_TYPE")
    # Sizes: each kind has its cap, announced before any byte is sent.
    huge_video = await me.post(
        "/files",
        {
            "kind": "video",
            "filename": "liveness.webm",
            "size": settings.access_video_max_bytes + 1,
            "sha256": "0" * 64,
        },
    )
    assert error(huge_video) == (413, "ATTACHMENT_TOO_LARGE", "size")
    huge_photo = await me.post(
        "/files",
        {
            "kind": "document",
            "filename": "passport.pdf",
            "size": settings.forms_attachment_max_bytes + 1,
            "sha256": "0" * 64,
        },
    )
    assert error(huge_photo) == (413, "ATTACHMENT_TOO_LARGE", "size")
    # The good ones still go through: both video containers, all document types.
    for kind, data, name in [
        ("video", mp4_bytes(), "liveness.mp4"),
        ("video", mp4_bytes(fragmented=False), "liveness2.mp4"),
        ("document", pdf_bytes(), "id.pdf"),
        ("document", jpeg_bytes(), "id.jpg"),
    ]:
        assert (await me.upload(kind, data, name)).status_code == 200, name


async def test_files_per_request_are_capped(client: Client) -> None:
    me = requester(client)
    await me.create()
    for i in range(12):
        assert (await me.start_file("document", png_bytes(), f"p{i}.png")).status_code == 201
    assert error(await me.start_file("document", png_bytes(), "one-more.png"))[:2] == (
        429,
        "TOO_MANY_UPLOADS",
    )


async def test_a_flood_of_new_requests_from_one_address_is_rate_limited(client: Client) -> None:
    answers = [(await requester(client).create()).status_code for _ in range(11)]
    assert answers == [201] * 10 + [429]
    limited = await requester(client).create()
    assert limited.headers["retry-after"].isdigit()
    assert error(limited)[:2] == (429, "RATE_LIMITED")


async def test_details_can_be_corrected_while_a_draft(client: Client) -> None:
    me = requester(client)
    await me.create()
    fixed = await client.put(
        f"/access/requests/{me.request_id}",
        json={**DETAILS, "fullName": "Mei Ling Zhang"},
        headers=me.auth,
    )
    assert fixed.status_code == 200, fixed.text
    assert fixed.json()["details"]["fullName"] == "Mei Ling Zhang"


async def test_a_file_can_be_removed_before_submitting(client: Client, settings: Settings) -> None:
    me = requester(client)
    await me.create()
    done = await me.upload("document", png_bytes(), "blurry.png")
    removed = await client.delete(
        f"/access/requests/{me.request_id}/files/{done.json()['id']}", headers=me.auth
    )
    assert removed.status_code == 204
    assert (await me.state()).json()["files"] == []
    assert not [p for p in settings.forms_attachment_dir.rglob("*") if p.is_file()]
