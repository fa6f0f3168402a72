"""Driving the passkey ceremonies over HTTP with a software authenticator, as a browser would."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.settings import Settings
from auth.activation import issue_code
from auth.models import AuditEvent, Passkey
from tests.webauthn_soft import SoftAuthenticator

ORIGIN = Settings().public_origin  # what the app under test expects (http://localhost:8000)
SECRET = Settings().secret_key


async def new_code(db: AsyncSession, customer_number: str) -> str:
    issued = await issue_code(
        db, secret_key=SECRET, customer_number=customer_number, issued_by="staff:test"
    )
    await db.commit()
    return issued.code


async def post(client: httpx.AsyncClient, path: str, body: Any) -> httpx.Response:
    return await client.post(path, json=body)


async def activate(
    client: httpx.AsyncClient, authenticator: SoftAuthenticator, code: str, dob: date, **knobs: Any
) -> httpx.Response:
    """Activation code + birth date, then create a passkey; returns the finish response."""
    started = await post(client, "/auth/activation", {"code": code, "dateOfBirth": dob.isoformat()})
    assert started.status_code == 200, started.text
    credential = authenticator.create(started.json()["publicKey"], origin=ORIGIN, **knobs)
    return await post(client, "/auth/passkeys", credential)


async def login(
    client: httpx.AsyncClient, authenticator: SoftAuthenticator, **knobs: Any
) -> httpx.Response:
    started = await post(client, "/auth/login/options", {})
    assert started.status_code == 200, started.text
    assertion = authenticator.get(started.json()["publicKey"], origin=ORIGIN, **knobs)
    return await post(client, "/auth/login", assertion)


async def viewer_name(client: httpx.AsyncClient) -> str | None:
    body = (
        await client.post("/graphql", json={"query": "{ viewer { person { givenNames } } }"})
    ).json()
    if body.get("errors"):
        return None
    return str(body["data"]["viewer"]["person"]["givenNames"])


async def failures(db: AsyncSession, action: str) -> list[str | None]:
    db.expire_all()
    rows = await db.scalars(
        select(AuditEvent.reason)
        .where(AuditEvent.action == action, AuditEvent.outcome == "failure")
        .order_by(AuditEvent.occurred_at)
    )
    return list(rows.all())


async def passkey_count(db: AsyncSession, person_id: uuid.UUID) -> int:
    return int(
        await db.scalar(
            select(func.count()).where(Passkey.person_id == person_id, Passkey.revoked_at.is_(None))
        )
        or 0
    )


def error_code(response: httpx.Response) -> str:
    return str(response.json()["errors"][0]["extensions"]["code"])
