"""Shared by the access-request tests: a requesting browser over HTTP, and real-shaped videos."""

from __future__ import annotations

import base64
import hashlib
import secrets
import struct
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx

from tests.forms.support import png_bytes

DETAILS: dict[str, Any] = {
    "fullName": "Mei Zhang",
    "dateOfBirth": "1994-03-15",
    "country": "AU",
    "contactEmail": "mei@example.org",
    "reason": "lost_digid",
    "language": "en",
}


def new_secret() -> str:
    """What the PWA makes with crypto.getRandomValues: 32 bytes, base64url without padding."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


# --- WebM and MP4 as MediaRecorder writes them (framing only; no real codec data) ------------


def _vint_size(n: int) -> bytes:
    """An EBML Data Size (RFC 8794 §6) in 8 octets."""
    return bytes([0x01]) + n.to_bytes(7, "big")


UNKNOWN_SIZE = bytes([0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])


def ebml(element_id: int, payload: bytes) -> bytes:
    raw_id = element_id.to_bytes((element_id.bit_length() + 7) // 8, "big")
    return raw_id + _vint_size(len(payload)) + payload


def webm_bytes(*, doc_type: bytes = b"webm", frames: int = 20, with_tracks: bool = True) -> bytes:
    header = ebml(
        0x1A45DFA3,
        ebml(0x4286, b"\x01")
        + ebml(0x42F7, b"\x01")
        + ebml(0x42F2, b"\x04")
        + ebml(0x42F3, b"\x08")
        + ebml(0x4282, doc_type)
        + ebml(0x4287, b"\x04")
        + ebml(0x4285, b"\x02"),
    )
    info = ebml(0x1549A966, ebml(0x2AD7B1, (1_000_000).to_bytes(3, "big")))
    tracks = ebml(
        0x1654AE6B,
        ebml(0xAE, ebml(0xD7, b"\x01") + ebml(0x83, b"\x01") + ebml(0x86, b"V_VP8")),
    )
    # A live recording: Segment and Cluster of unknown size (RFC 8794 §6.2).
    cluster = b"\x1f\x43\xb6\x75" + UNKNOWN_SIZE + ebml(0xE7, b"\x00")
    for i in range(frames):
        cluster += ebml(0xA3, b"\x81" + i.to_bytes(2, "big") + b"\x80" + b"\x9d" * 200)
    body = info + (tracks if with_tracks else b"") + cluster
    return header + b"\x18\x53\x80\x67" + UNKNOWN_SIZE + body


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def mp4_bytes(*, brand: bytes = b"isom", fragmented: bool = True) -> bytes:
    ftyp = box(b"ftyp", brand + b"\x00\x00\x02\x00" + b"isomiso2mp41")
    moov = box(b"moov", box(b"mvhd", b"\x00" * 100))
    if not fragmented:
        return ftyp + moov + box(b"mdat", b"\x00" * 2000)
    fragments = b"".join(
        box(b"moof", box(b"mfhd", b"\x00" * 8)) + box(b"mdat", b"\x11" * 500) for _ in range(5)
    )
    return ftyp + moov + fragments


# --- a browser that asks for access ----------------------------------------------------------


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def error(response: httpx.Response) -> tuple[int, str, str | None]:
    """(status, code, field) of a refusal."""
    extensions = response.json()["errors"][0]["extensions"]
    return response.status_code, extensions["code"], extensions.get("field")


@dataclass
class Requester:
    """One browser: its HTTP client and the secret it generated and keeps."""

    client: httpx.AsyncClient
    secret: str
    request_id: str | None = None

    @property
    def auth(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.secret}"}

    async def create(self, **changes: Any) -> httpx.Response:
        response = await self.client.post(
            "/access/requests", json={**DETAILS, **changes}, headers=self.auth
        )
        if response.status_code == 201:
            self.request_id = response.json()["id"]
        return response

    async def state(self) -> httpx.Response:
        return await self.client.get(f"/access/requests/{self.request_id}", headers=self.auth)

    async def post(self, path: str, body: Any) -> httpx.Response:
        return await self.client.post(
            f"/access/requests/{self.request_id}{path}", json=body, headers=self.auth
        )

    async def start_file(
        self, kind: str, data: bytes, filename: str, **extra: Any
    ) -> httpx.Response:
        return await self.post(
            "/files",
            {
                "kind": kind,
                "filename": filename,
                "size": len(data),
                "sha256": sha256(data),
                **extra,
            },
        )

    async def chunk(self, file_id: str, offset: int, data: bytes) -> httpx.Response:
        return await self.client.put(
            f"/access/requests/{self.request_id}/files/{file_id}/chunks",
            params={"offset": offset},
            content=data,
            headers={**self.auth, "content-type": "application/octet-stream"},
        )

    async def complete(self, file_id: str) -> httpx.Response:
        return await self.post(f"/files/{file_id}/complete", {})

    async def upload(
        self, kind: str, data: bytes, filename: str, *, chunk: int = 64 * 1024
    ) -> httpx.Response:
        """Create, send in chunks, complete; the completion's answer."""
        created = await self.start_file(kind, data, filename)
        assert created.status_code == 201, created.text
        file_id = created.json()["id"]
        for offset in range(0, len(data), chunk):
            sent = await self.chunk(file_id, offset, data[offset : offset + chunk])
            assert sent.status_code == 200, sent.text
        return await self.complete(file_id)

    async def submit_complete(self, **changes: Any) -> dict[str, Any]:
        """Details, a passport photo and a video, submitted: the request's state."""
        created = await self.create(**changes)
        assert created.status_code == 201, created.text
        assert (await self.upload("document", png_bytes(4000), "passport.png")).status_code == 200
        assert (await self.upload("video", webm_bytes(), "liveness.webm")).status_code == 200
        submitted = await self.post("/submit", {})
        assert submitted.status_code == 200, submitted.text
        state: dict[str, Any] = submitted.json()
        return state


def requester(client: httpx.AsyncClient) -> Requester:
    return Requester(client=client, secret=new_secret())


TODAY = date(2026, 12, 5)
