"""Server-side sessions: expiry, sign-out, and the cookie's attributes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.database import utcnow
from api.settings import Settings
from auth import sessions
from auth.cookies import expired_session_cookie, session_cookie, session_cookie_name
from auth.models import AuditEvent, WebSession
from tests.support import error_codes, gql, sign_in

IDLE = timedelta(minutes=30)


async def test_token_is_stored_only_as_a_hash(db: AsyncSession, person_factory: Any) -> None:
    me = await person_factory()
    issued = await sessions.create_session(
        db, person_id=me.person["id"], absolute_timeout=timedelta(hours=12)
    )
    stored = await db.scalar(select(WebSession).where(WebSession.id == issued.session.id))
    assert stored is not None
    assert issued.token.encode() not in stored.token_hash
    assert stored.token_hash == sessions.hash_token(issued.token)
    assert len(issued.token) >= 43  # 32 random bytes


async def test_idle_session_expires_and_is_deleted(db: AsyncSession, person_factory: Any) -> None:
    me = await person_factory()
    start = utcnow()
    issued = await sessions.create_session(
        db, person_id=me.person["id"], absolute_timeout=timedelta(hours=12), now=start
    )
    fresh = await sessions.resolve_session(
        db, token=issued.token, idle_timeout=IDLE, now=start + timedelta(minutes=29)
    )
    assert fresh.principal is not None
    # Activity at minute 29 moved last_seen_at: minute 58 is still within the idle window.
    still = await sessions.resolve_session(
        db, token=issued.token, idle_timeout=IDLE, now=start + timedelta(minutes=58)
    )
    assert still.principal is not None
    idle = await sessions.resolve_session(
        db, token=issued.token, idle_timeout=IDLE, now=start + timedelta(minutes=90)
    )
    assert idle.principal is None
    count = await db.scalar(select(func.count()).where(WebSession.id == issued.session.id))
    assert count == 0


async def test_absolute_timeout_ends_an_active_session(
    db: AsyncSession, person_factory: Any
) -> None:
    me = await person_factory()
    start = utcnow()
    issued = await sessions.create_session(
        db, person_id=me.person["id"], absolute_timeout=timedelta(hours=12), now=start
    )
    moment = start
    while moment + timedelta(minutes=20) < start + timedelta(hours=12):
        moment += timedelta(minutes=20)  # always active, never idle
        lookup = await sessions.resolve_session(
            db, token=issued.token, idle_timeout=IDLE, now=moment
        )
        assert lookup.principal is not None
    late = await sessions.resolve_session(
        db, token=issued.token, idle_timeout=IDLE, now=start + timedelta(hours=12, minutes=1)
    )
    assert late.principal is None


async def test_login_rotation_ends_the_previous_session(
    db: AsyncSession, person_factory: Any
) -> None:
    me = await person_factory()
    old = await sessions.create_session(
        db, person_id=me.person["id"], absolute_timeout=timedelta(hours=1)
    )
    new = await sessions.create_session(
        db,
        person_id=me.person["id"],
        absolute_timeout=timedelta(hours=1),
        replaces_token=old.token,
    )
    assert new.token != old.token
    gone = await sessions.resolve_session(db, token=old.token, idle_timeout=IDLE)
    assert gone.principal is None


async def test_sign_out_ends_the_session_and_clears_the_cookie(
    client: httpx.AsyncClient, db: AsyncSession, person_factory: Any
) -> None:
    me = await person_factory()
    token = await sign_in(client, db, me.person["id"])
    response = await client.post("/graphql", json={"query": "mutation { signOut }"})
    assert response.json()["data"]["signOut"] is True
    set_cookie = response.headers["set-cookie"]
    assert "duo_session=" in set_cookie
    assert "Max-Age=0" in set_cookie
    audited = await db.scalar(
        select(func.count()).where(
            AuditEvent.person_id == me.person["id"], AuditEvent.action == "sign_out"
        )
    )
    assert audited == 1
    # Even a client that ignores the cleared cookie is signed out server-side.
    client.cookies.set("duo_session", token)
    body = await gql(client, "{ viewer { person { id } } }")
    assert error_codes(body) == ["UNAUTHENTICATED"]


async def test_sign_out_everywhere_ends_every_session_of_the_person(
    client: httpx.AsyncClient, db: AsyncSession, person_factory: Any
) -> None:
    me = await person_factory()
    other_person = await person_factory()
    phone = await sessions.create_session(
        db, person_id=me.person["id"], absolute_timeout=timedelta(hours=1)
    )
    theirs = await sessions.create_session(
        db, person_id=other_person.person["id"], absolute_timeout=timedelta(hours=1)
    )
    await sign_in(client, db, me.person["id"])
    body = await gql(client, "mutation { signOutEverywhere }")
    assert body["data"]["signOutEverywhere"] == 2
    assert (
        await sessions.resolve_session(db, token=phone.token, idle_timeout=IDLE)
    ).principal is None
    survivor = await sessions.resolve_session(db, token=theirs.token, idle_timeout=IDLE)
    assert survivor.principal is not None


async def test_sign_out_requires_a_session(client: httpx.AsyncClient) -> None:
    body = await gql(client, "mutation { signOut }")
    assert error_codes(body) == ["UNAUTHENTICATED"]


def test_cookie_attributes_on_https() -> None:
    settings = Settings(public_origin="https://abroad.duo.example")
    cookie = session_cookie(settings, "token")
    header = cookie.to_header(header="")
    assert cookie.key == "__Host-duo_session"
    assert "HttpOnly" in header
    assert "Secure" in header
    assert "SameSite=lax" in header or "SameSite=Lax" in header
    assert "Path=/" in header
    assert "Domain" not in header
    assert expired_session_cookie(settings).max_age == 0


def test_cookie_on_local_http_is_not_secure() -> None:
    settings = Settings(public_origin="http://localhost:8000")
    assert session_cookie_name(settings) == "duo_session"
    assert session_cookie(settings, "t").secure is False


async def test_concurrent_requests_due_a_refresh_all_succeed_on_sqlite(tmp_path: Any) -> None:
    """A burst of requests whose session refresh is due: one refreshes, none fails (SQLite)."""
    import asyncio

    from api.app import create_app
    from api.database import create_engine, create_session_factory
    from api.migrate import upgrade_connection
    from tests.support import add_person, asgi_client

    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'burst.sqlite3'}")
    async with engine.begin() as conn:
        await upgrade_connection(conn)
    factory = create_session_factory(engine)
    async with factory() as db:
        person = await add_person(db)
        issued = await sessions.create_session(
            db,
            person_id=person.person["id"],
            absolute_timeout=timedelta(hours=12),
            now=utcnow() - timedelta(minutes=5),  # last seen 5 minutes ago: a refresh is due
        )
        await db.commit()
    app = create_app(
        Settings(environment="test", allow_adhoc_queries=True), session_factory=factory
    )
    async with asgi_client(app) as client:
        client.cookies.set("duo_session", issued.token, domain="testserver.local")
        responses = await asyncio.gather(
            *(
                client.post("/graphql", json={"query": "{ viewer { person { id } } }"})
                for _ in range(24)
            )
        )
    await engine.dispose()
    assert [r.status_code for r in responses] == [200] * 24
    assert all("errors" not in r.json() for r in responses), [r.text for r in responses]


async def test_ceremony_cookies_are_cleared_with_the_attributes_they_were_set_with(
    database_url: str, session_factory: Any, db: AsyncSession, person_factory: Any
) -> None:
    """Setting and clearing the ceremony cookie carry HttpOnly, SameSite=Strict and (https)
    Secure alike: the clearing header is a cookie too."""
    from api.app import create_app
    from tests.auth.flows import new_code
    from tests.support import asgi_client
    from tests.webauthn_soft import SoftAuthenticator

    origin = "https://abroad.duo.example"
    settings = Settings(environment="test", database_url=database_url, public_origin=origin)
    me = await person_factory()
    code = await new_code(db, me.person["customer_number"])
    phone = SoftAuthenticator()
    async with asgi_client(create_app(settings, session_factory=session_factory), origin) as c:
        begun = await c.post(
            "/auth/activation",
            json={"code": code, "dateOfBirth": me.person["date_of_birth"].isoformat()},
        )
        credential = phone.create(begun.json()["publicKey"], origin=origin)
        finished = await c.post("/auth/passkeys", json=credential)
        assert finished.status_code == 200, finished.text
        login_options = await c.post("/auth/login/options", json={})
        signed_in = await c.post(
            "/auth/login", json=phone.get(login_options.json()["publicKey"], origin=origin)
        )
        assert signed_in.status_code == 200, signed_in.text
    for response, name in (
        (begun, "duo_ceremony_register"),
        (finished, "duo_ceremony_register"),
        (login_options, "duo_ceremony_login"),
        (signed_in, "duo_ceremony_login"),
    ):
        (cookie,) = [c for c in response.headers.get_list("set-cookie") if c.startswith(name)]
        attributes = {a.strip().lower() for a in cookie.split(";")}
        assert {"httponly", "samesite=strict", "secure", "path=/auth"} <= attributes, cookie
