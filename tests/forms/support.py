"""Shared by the forms tests: valid contents, real file bytes, upload and submit calls."""

from __future__ import annotations

import hashlib
import struct
import uuid
import zlib
from typing import Any

import httpx

from api.persisted import OPERATIONS_DIR
from tests.support import gql

SUBMIT_FORM = (OPERATIONS_DIR / "SubmitForm.graphql").read_text()
SUBMIT_FORMS = (OPERATIONS_DIR / "SubmitForms.graphql").read_text()
SUBMISSIONS = (OPERATIONS_DIR / "FormsSubmissions.graphql").read_text()
SUBMISSION = (OPERATIONS_DIR / "FormsSubmission.graphql").read_text()
CATALOGUE = (OPERATIONS_DIR / "FormsCatalogue.graphql").read_text()
DEFINITION = (OPERATIONS_DIR / "FormsDefinition.graphql").read_text()

ADDRESS_V1 = {
    "addressLine1": "Jalan Merdeka 12",
    "postalCode": "10110",
    "city": "Jakarta",
    "country": "ID",
    "movedOn": "2026-10-01",
}
ADDRESS_V2 = {
    "addressLine1": "Jalan Merdeka 12",
    "city": "Jakarta",
    "region": "DKI Jakarta",
    "country": "ID",
    "movedOn": "2026-10-01",
}
BANK_IBAN = {
    "accountHolder": "Mei Zhang",
    "accountType": "iban",
    "iban": "DE89 3704 0044 0532 0130 00",
    "startsOn": "2026-12-01",
}
QUESTION = {"topic": "repayment", "subject": "Monthly amount", "question": "Why did it change?"}


def entry(form_id: str, version: int, content: dict[str, Any], client_id: str | None = None) -> Any:
    return {
        "clientId": client_id or str(uuid.uuid4()),
        "formId": form_id,
        "formVersion": version,
        "content": content,
    }


async def submit(client: httpx.AsyncClient, item: dict[str, Any]) -> dict[str, Any]:
    body = await gql(client, SUBMIT_FORM, {"input": item})
    assert "errors" not in body, body
    result: dict[str, Any] = body["data"]["submitForm"]
    return result


async def submit_many(client: httpx.AsyncClient, items: list[dict[str, Any]]) -> list[Any]:
    body = await gql(client, SUBMIT_FORMS, {"inputs": items})
    assert "errors" not in body, body
    results: list[Any] = body["data"]["submitForms"]
    return results


# --- real files -----------------------------------------------------------------------------


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(padding: int = 0) -> bytes:
    """A valid 1x1 RGB PNG; `padding` adds an ancillary text chunk to make it larger."""
    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    chunks = [_png_chunk(b"IHDR", ihdr)]
    if padding:
        chunks.append(_png_chunk(b"tEXt", b"Comment\x00" + b"x" * padding))
    chunks.append(_png_chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")))
    chunks.append(_png_chunk(b"IEND", b""))
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks)


def jpeg_bytes() -> bytes:
    """SOI, a JFIF APP0 segment, and EOI: what the type check looks at."""
    app0 = b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    return b"\xff\xd8\xff\xe0" + struct.pack(">H", len(app0) + 2) + app0 + b"\xff\xd9"


def pdf_bytes() -> bytes:
    return (
        b"%PDF-1.4\n1 0 obj <</Type /Catalog /Pages 2 0 R>> endobj\n"
        b"2 0 obj <</Type /Pages /Kids [] /Count 0>> endobj\n"
        b"trailer <</Root 1 0 R>>\n%%EOF\n"
    )


HTML = b"<!doctype html><html><script>alert(document.cookie)</script></html>"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def start_upload(
    client: httpx.AsyncClient, data: bytes, filename: str, **extra: Any
) -> httpx.Response:
    return await client.post(
        "/forms/attachments",
        json={"filename": filename, "size": len(data), "sha256": sha256(data), **extra},
    )


async def put_chunk(
    client: httpx.AsyncClient, attachment_id: str, offset: int, chunk: bytes
) -> httpx.Response:
    return await client.put(
        f"/forms/attachments/{attachment_id}/chunks",
        params={"offset": offset},
        content=chunk,
        headers={"content-type": "application/octet-stream"},
    )


async def complete(client: httpx.AsyncClient, attachment_id: str) -> httpx.Response:
    return await client.post(f"/forms/attachments/{attachment_id}/complete", json={})


async def upload(
    client: httpx.AsyncClient, data: bytes, filename: str = "evidence.png", chunk: int = 1 << 20
) -> str:
    """Create, send in chunks, complete; the attachment id."""
    created = await start_upload(client, data, filename)
    assert created.status_code == 201, created.text
    attachment_id: str = created.json()["id"]
    for offset in range(0, len(data), chunk):
        sent = await put_chunk(client, attachment_id, offset, data[offset : offset + chunk])
        assert sent.status_code == 200, sent.text
    done = await complete(client, attachment_id)
    assert done.status_code == 200, done.text
    assert done.json()["complete"] is True
    return attachment_id


def income(evidence: list[str]) -> dict[str, Any]:
    return {
        "year": 2025,
        "country": "AU",
        "incomeType": "employment",
        "income": 82000,
        "currency": "AUD",
        "evidence": evidence,
    }


def error_code(response: httpx.Response) -> str:
    code: str = response.json()["errors"][0]["extensions"]["code"]
    return code
