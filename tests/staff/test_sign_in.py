"""Staff enrol with a one-time invite link and sign in with a passkey (UV), in their own realm."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from api.database import utcnow
from staff import sessions
from staff.models import Role, StaffSession
from tests.staff.support import ORIGIN, STAFF_COOKIE, enrol, events, invite, login
from tests.webauthn_soft import SoftAuthenticator


async def test_invite_link_enrols_a_passkey_and_signs_in(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    member_id, token = await invite(db, "Anna de Vries", frozenset({Role.ADMIN, Role.FORMS}))
    authenticator = SoftAuthenticator()

    finished = await enrol(client, authenticator, token)

    assert finished.status_code == 200, finished.text
    set_cookie = finished.headers.get_list("set-cookie")
    session_cookie = next(c for c in set_cookie if c.startswith(f"{STAFF_COOKIE}="))
    assert "HttpOnly" in session_cookie
    assert "samesite=strict" in session_cookie.lower()
    home = await client.get("/staff/")
    assert home.status_code == 200
    assert "Anna de Vries" in home.text
    assert [e.staff_id for e in await events(db, "staff.enrol")] == [member_id]


async def test_passkey_sign_in_after_sign_out(client: httpx.AsyncClient, db: AsyncSession) -> None:
    _, token = await invite(db)
    authenticator = SoftAuthenticator()
    assert (await enrol(client, authenticator, token)).status_code == 200
    page = await client.get("/staff/")
    csrf = page.text.split('name="_csrf" value="')[1].split('"')[0]
    out = await client.post("/staff/sign-out", data={"_csrf": csrf})
    assert out.status_code == 303
    assert (await client.get("/staff/")).status_code == 401

    signed_in = await login(client, authenticator)

    assert signed_in.status_code == 200, signed_in.text
    assert (await client.get("/staff/")).status_code == 200


async def test_an_invite_link_works_once(client: httpx.AsyncClient, db: AsyncSession) -> None:
    _, token = await invite(db)
    assert (await enrol(client, SoftAuthenticator(), token)).status_code == 200
    client.cookies.clear()

    again = await enrol(client, SoftAuthenticator(), token)

    assert again.status_code == 400
    assert again.json()["errors"][0]["extensions"]["code"] == "INVITE_INVALID"
    assert [e.reason for e in await events(db, "staff.enrol") if e.outcome == "failure"] == ["used"]


async def test_an_invite_link_expires_after_24_hours(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    _, token = await invite(db, now=utcnow() - timedelta(hours=24, seconds=1))

    answer = await enrol(client, SoftAuthenticator(), token)

    assert answer.status_code == 400
    assert answer.json()["errors"][0]["extensions"]["code"] == "INVITE_INVALID"
    assert [e.reason for e in await events(db, "staff.enrol")] == ["expired"]


async def test_enrolment_without_user_verification_is_refused(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    _, token = await invite(db)

    answer = await enrol(client, SoftAuthenticator(user_verification=False), token)

    assert answer.status_code == 400
    assert answer.json()["errors"][0]["extensions"]["code"] == "VERIFICATION_FAILED"
    assert (await client.get("/staff/")).status_code == 401


async def test_sign_in_without_user_verification_is_refused(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    _, token = await invite(db)
    authenticator = SoftAuthenticator()
    assert (await enrol(client, authenticator, token)).status_code == 200
    client.cookies.clear()

    answer = await login(client, authenticator, user_verified=False)

    assert answer.status_code == 400
    assert answer.json()["errors"][0]["extensions"]["code"] == "VERIFICATION_FAILED"
    assert (await client.get("/staff/")).status_code == 401


async def test_a_persons_passkey_cannot_sign_in_as_staff(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    """Same RP ID by default, different realm: a person's credential is unknown here."""
    from tests.auth.flows import activate, new_code
    from tests.support import add_person

    bundle = await add_person(db)
    person = bundle.person
    authenticator = SoftAuthenticator()
    code = await new_code(db, str(person["customer_number"]))
    assert (await activate(client, authenticator, code, person["date_of_birth"])).status_code == 200

    answer = await login(client, authenticator)

    assert answer.status_code == 400
    assert answer.json()["errors"][0]["extensions"]["code"] == "PASSKEY_UNKNOWN"
    assert (await client.get("/staff/")).status_code == 401


async def test_sessions_end_after_15_idle_minutes_and_10_hours(db: AsyncSession) -> None:
    member_id, _ = await invite(db)
    start = utcnow()
    idle = await sessions.create_session(db, staff_id=member_id, now=start)
    busy = await sessions.create_session(db, staff_id=member_id, now=start)

    assert await sessions.resolve_session(db, token=idle.token, now=start + timedelta(minutes=14))
    assert not await sessions.resolve_session(
        db, token=idle.token, now=start + timedelta(minutes=29, seconds=1)
    )
    moment = start
    while moment < start + timedelta(hours=10) - timedelta(minutes=10):
        moment += timedelta(minutes=10)
        assert await sessions.resolve_session(db, token=busy.token, now=moment)
    assert not await sessions.resolve_session(db, token=busy.token, now=start + timedelta(hours=10))
    assert await db.get(StaffSession, busy.session.id) is None


async def _enrolled(
    client: httpx.AsyncClient, db: AsyncSession, *, synced: bool = False
) -> SoftAuthenticator:
    _, token = await invite(db)
    authenticator = SoftAuthenticator(counter_step=1, backup_eligible=synced, backed_up=synced)
    assert (await enrol(client, authenticator, token)).status_code == 200
    client.cookies.clear()
    return authenticator


@pytest.mark.parametrize(
    ("knobs", "code", "reason"),
    [
        ({"user_handle": None}, "VERIFICATION_FAILED", "user_handle_missing"),
        ({"user_handle": b"someone else"}, "VERIFICATION_FAILED", "user_handle_mismatch"),
        ({"backup_eligible": True}, "VERIFICATION_FAILED", "backup_eligibility_changed"),
        ({"client_data": {"crossOrigin": True}}, "VERIFICATION_FAILED", "cross_origin"),
        ({"client_data": {"topOrigin": "https://x.example"}}, "VERIFICATION_FAILED", "top_origin"),
    ],
)
async def test_staff_sign_in_keeps_the_webauthn_rules_the_library_leaves_to_us(
    client: httpx.AsyncClient, db: AsyncSession, knobs: dict[str, Any], code: str, reason: str
) -> None:
    """The staff realm shares auth.webauthn: WebAuthn L3 §7.2 steps 6, 13-14 and 19."""
    authenticator = await _enrolled(client, db)

    answer = await login(client, authenticator, **knobs)

    assert answer.status_code == 400
    assert answer.json()["errors"][0]["extensions"]["code"] == code
    assert (await events(db, "staff.login"))[-1].reason == reason
    assert (await client.get("/staff/")).status_code == 401
    assert (await login(client, authenticator)).status_code == 200  # the real one still works


async def test_malformed_staff_responses_are_refused_and_audited(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    authenticator = await _enrolled(client, db)
    started = await client.post("/staff/auth/login/options", json={})
    assertion = authenticator.get(started.json()["publicKey"], origin=ORIGIN)
    padded = {**assertion, "response": {**assertion["response"]}}
    padded["response"]["signature"] += "=="

    answer = await client.post("/staff/auth/login", json=padded)

    assert answer.json()["errors"][0]["extensions"]["code"] == "MALFORMED_CREDENTIAL"
    failure = (await events(db, "staff.login"))[-1]
    assert (failure.reason, failure.details) == ("malformed_base64url", {"field": "signature"})


async def test_backup_eligibility_is_recorded_for_passkeys_enrolled_before_it_was_kept(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    """Migration 0009 leaves BE unknown (NULL) for earlier passkeys: the next sign-in sets it,
    and from then on a change is refused."""
    from sqlalchemy import select, update

    from staff.models import StaffPasskey

    authenticator = await _enrolled(client, db, synced=True)
    await db.execute(update(StaffPasskey).values(backup_eligible=None))
    await db.commit()

    assert (await login(client, authenticator)).status_code == 200
    db.expire_all()
    assert await db.scalar(select(StaffPasskey.backup_eligible)) is True
    client.cookies.clear()
    refused = await login(client, authenticator, backup_eligible=False, backed_up=False)
    assert refused.json()["errors"][0]["extensions"]["code"] == "VERIFICATION_FAILED"
