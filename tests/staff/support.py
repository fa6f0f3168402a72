"""Staff test helpers: invites, passkey ceremonies as a browser runs them, signed-in members."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.database import utcnow
from api.settings import Settings
from auth.audit import RequestMeta
from auth.models import AuditEvent
from staff import accounts, sessions
from staff.models import Role, StaffMember
from staff.web import csrf_token
from tests.webauthn_soft import SoftAuthenticator

ORIGIN = Settings().staff_public_origin  # http://localhost:8000, what the app under test expects
STAFF_COOKIE = "duo_staff"  # http origin: no __Host- prefix
_CSRF = re.compile(r'name="_csrf" value="([0-9a-f]+)"')


@dataclass
class Member:
    """A signed-in staff member as a test client holds it."""

    id: uuid.UUID
    session_id: uuid.UUID
    token: str
    csrf: str


async def invite(
    db: AsyncSession,
    name: str = "Anna de Vries",
    roles: frozenset[Role] = frozenset({Role.ADMIN}),
    *,
    by: sessions.StaffPrincipal | None = None,
    now: datetime | None = None,
    origin: str = ORIGIN,
) -> tuple[uuid.UUID, str]:
    """What `duo-abroad staff invite` does: a member and the token of their enrolment link."""
    issued = await accounts.invite(
        db, name=name, roles=roles, origin=origin, by=by, meta=RequestMeta(), now=now
    )
    await db.commit()
    return issued.member.id, issued.url.split("#", 1)[1]


async def enrol(
    client: httpx.AsyncClient,
    authenticator: SoftAuthenticator,
    token: str,
    *,
    origin: str = ORIGIN,
    **knobs: Any,
) -> httpx.Response:
    started = await client.post("/staff/auth/enrol/options", json={"token": token})
    if started.status_code != 200:
        return started
    credential = authenticator.create(started.json()["publicKey"], origin=origin, **knobs)
    return await client.post("/staff/auth/enrol", json=credential)


async def login(
    client: httpx.AsyncClient, authenticator: SoftAuthenticator, **knobs: Any
) -> httpx.Response:
    started = await client.post("/staff/auth/login/options", json={})
    assert started.status_code == 200, started.text
    assertion = authenticator.get(started.json()["publicKey"], origin=ORIGIN, **knobs)
    return await client.post("/staff/auth/login", json=assertion)


async def signed_in_member(
    db: AsyncSession,
    client: httpx.AsyncClient,
    roles: frozenset[Role],
    name: str = "Bram Jansen",
) -> Member:
    """A member who enrolled earlier and has a session in this client (service shortcut)."""
    member_id, _ = await invite(db, name, roles)
    member = await db.get(StaffMember, member_id)
    assert member is not None
    member.enrolled_at = utcnow()
    issued = await sessions.create_session(db, staff_id=member_id)
    await db.commit()
    client.cookies.set(STAFF_COOKIE, issued.token, domain="testserver.local")
    return Member(
        id=member_id,
        session_id=issued.session.id,
        token=issued.token,
        csrf=csrf_token(Settings(), issued.session.id),
    )


def csrf_from(html: str) -> str:
    """The form token of a rendered page, as a browser submits it."""
    found = _CSRF.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


async def events(db: AsyncSession, action: str) -> list[AuditEvent]:
    db.expire_all()
    rows = await db.scalars(
        select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.occurred_at)
    )
    return list(rows)
