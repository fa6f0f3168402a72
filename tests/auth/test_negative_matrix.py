"""Each refused authentication step: a clear code, no session, an audit entry, nothing else."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.database import utcnow
from auth.models import ActivationCode, Challenge, Passkey
from tests.auth.flows import (
    ORIGIN,
    activate,
    error_code,
    failures,
    login,
    new_code,
    passkey_count,
    post,
    viewer_name,
)
from tests.support import asgi_client
from tests.webauthn_soft import SoftAuthenticator, b64url, respell


@pytest.fixture
async def enrolled(
    client: httpx.AsyncClient, db: AsyncSession, person_factory: Any
) -> tuple[Any, SoftAuthenticator]:
    """A person with one passkey (counter increments), signed out again."""
    me = await person_factory()
    phone = SoftAuthenticator(counter_step=1)
    finished = await activate(
        client, phone, await new_code(db, me.person["customer_number"]), me.person["date_of_birth"]
    )
    assert finished.status_code == 200, finished.text
    client.cookies.clear()
    return me, phone


def assert_refused(response: httpx.Response, code: str) -> None:
    assert response.status_code == 400, response.text
    assert error_code(response) == code
    assert not any(
        c.startswith(("duo_session=", "__Host-duo_session=")) and "Max-Age=0" not in c
        for c in response.headers.get_list("set-cookie")
    )


async def _sign_count(db: AsyncSession, person_id: Any) -> int:
    db.expire_all()
    return int(
        await db.scalar(select(Passkey.sign_count).where(Passkey.person_id == person_id)) or 0
    )


@pytest.mark.parametrize(
    ("knobs", "reason"),
    [
        ({"override_origin": "https://evil.example"}, "origin"),
        ({"override_rp_id": "evil.example"}, "rp_id"),
        ({"user_verified": False}, "user_verification"),
        ({"corrupt_signature": True}, "signature"),
        ({"type_override": "webauthn.create"}, "client_data_type"),
    ],
)
async def test_login_assertion_checks(
    client: httpx.AsyncClient,
    db: AsyncSession,
    enrolled: tuple[Any, SoftAuthenticator],
    knobs: dict[str, Any],
    reason: str,
) -> None:
    me, phone = enrolled
    count = await _sign_count(db, me.person["id"])
    response = await login(client, phone, **knobs)
    assert_refused(response, "VERIFICATION_FAILED")
    assert await viewer_name(client) is None
    assert (await failures(db, "login"))[-1] == reason
    assert await _sign_count(db, me.person["id"]) == count


async def test_replayed_login_is_refused(
    client: httpx.AsyncClient, db: AsyncSession, enrolled: tuple[Any, SoftAuthenticator]
) -> None:
    _, phone = enrolled
    started = await post(client, "/auth/login/options", {})
    assertion = phone.get(started.json()["publicKey"], origin=ORIGIN)
    assert (await post(client, "/auth/login", assertion)).status_code == 200
    client.cookies.delete("duo_session")
    replay = await post(client, "/auth/login", assertion)
    assert_refused(replay, "CHALLENGE_INVALID")
    assert (await failures(db, "login"))[-1] == "unknown_or_used_challenge"


async def test_replay_with_a_zero_counter_is_still_refused(
    client: httpx.AsyncClient, db: AsyncSession, person_factory: Any
) -> None:
    """Synced passkeys keep their counter at 0: only the single-use challenge stops a replay."""
    me = await person_factory()
    synced = SoftAuthenticator(counter_step=0, backup_eligible=True, backed_up=True)
    await activate(
        client, synced, await new_code(db, me.person["customer_number"]), me.person["date_of_birth"]
    )
    client.cookies.clear()
    started = await post(client, "/auth/login/options", {})
    assertion = synced.get(started.json()["publicKey"], origin=ORIGIN)
    assert (await post(client, "/auth/login", assertion)).status_code == 200
    assert_refused(await post(client, "/auth/login", assertion), "CHALLENGE_INVALID")


async def test_expired_challenge_is_refused(
    client: httpx.AsyncClient, db: AsyncSession, enrolled: tuple[Any, SoftAuthenticator]
) -> None:
    _, phone = enrolled
    started = await post(client, "/auth/login/options", {})
    await db.execute(update(Challenge).values(expires_at=utcnow() - timedelta(seconds=1)))
    await db.commit()
    response = await post(
        client, "/auth/login", phone.get(started.json()["publicKey"], origin=ORIGIN)
    )
    assert_refused(response, "CHALLENGE_INVALID")
    assert (await failures(db, "login"))[-1] == "expired_challenge"


async def test_challenge_from_another_browser_is_refused(
    app: Any, client: httpx.AsyncClient, db: AsyncSession, enrolled: tuple[Any, SoftAuthenticator]
) -> None:
    _, phone = enrolled
    started = await post(client, "/auth/login/options", {})
    assertion = phone.get(started.json()["publicKey"], origin=ORIGIN)
    async with asgi_client(app) as attacker:
        await post(attacker, "/auth/login/options", {})  # has a ceremony cookie, but its own
        response = await post(attacker, "/auth/login", assertion)
        assert_refused(response, "CHALLENGE_INVALID")
        assert await viewer_name(attacker) is None
    assert (await failures(db, "login"))[-1] == "challenge_from_another_browser"
    # The challenge was burnt by the failed attempt: the real browser must start again.
    assert_refused(await post(client, "/auth/login", assertion), "CHALLENGE_INVALID")


async def test_unknown_credential_is_refused(
    client: httpx.AsyncClient, db: AsyncSession, enrolled: tuple[Any, SoftAuthenticator]
) -> None:
    stranger = SoftAuthenticator()
    stranger.create(
        {
            "challenge": b64url(b"x" * 32),
            "rp": {"id": "localhost"},
            "user": {"id": b64url(b"u" * 16), "name": "x", "displayName": "x"},
            "pubKeyCredParams": [{"type": "public-key", "alg": -7}],
        },
        origin=ORIGIN,
    )
    assert_refused(await login(client, stranger), "PASSKEY_UNKNOWN")
    assert (await failures(db, "login"))[-1] == "unknown_credential"


async def test_sign_count_regression_is_refused_and_recorded(
    client: httpx.AsyncClient, db: AsyncSession, enrolled: tuple[Any, SoftAuthenticator]
) -> None:
    me, phone = enrolled
    assert (await login(client, phone)).status_code == 200
    assert (await login(client, phone)).status_code == 200
    client.cookies.clear()
    count = await _sign_count(db, me.person["id"])
    assert count == 2
    response = await login(client, phone, sign_count=1)  # a clone with an older counter
    assert response.status_code == 400
    assert error_code(response) == "SIGN_COUNT_INVALID"
    assert (await failures(db, "login"))[-1] == "sign_count_regression"
    assert await _sign_count(db, me.person["id"]) == count


@pytest.mark.parametrize(
    "mangle",
    [
        lambda c: {**c, "response": {**c["response"], "clientDataJSON": "%%%not-base64%%%"}},
        lambda c: {**c, "response": {**c["response"], "authenticatorData": b64url(b"\x00\x01")}},
        lambda c: {**c, "response": {**c["response"], "clientDataJSON": b64url(b"{not json")}},
        lambda c: {"id": 5},
        lambda c: {**c, "response": "nope"},
    ],
)
async def test_malformed_login_payloads(
    client: httpx.AsyncClient,
    db: AsyncSession,
    enrolled: tuple[Any, SoftAuthenticator],
    mangle: Any,
) -> None:
    _, phone = enrolled
    started = await post(client, "/auth/login/options", {})
    good = phone.get(started.json()["publicKey"], origin=ORIGIN)
    response = await post(client, "/auth/login", mangle(good))
    assert response.status_code == 400, response.text
    assert error_code(response) in {"MALFORMED_CREDENTIAL", "VERIFICATION_FAILED"}
    assert await viewer_name(client) is None


async def test_malformed_registration_cbor(
    client: httpx.AsyncClient, db: AsyncSession, person_factory: Any
) -> None:
    me = await person_factory()
    code = await new_code(db, me.person["customer_number"])
    started = await post(
        client,
        "/auth/activation",
        {"code": code, "dateOfBirth": me.person["date_of_birth"].isoformat()},
    )
    credential = SoftAuthenticator().create(started.json()["publicKey"], origin=ORIGIN)
    credential["response"]["attestationObject"] = b64url(b"\xa1\x63fmt\xff garbage")
    response = await post(client, "/auth/passkeys", credential)
    assert response.status_code == 400
    assert error_code(response) in {"MALFORMED_CREDENTIAL", "VERIFICATION_FAILED"}
    assert await passkey_count(db, me.person["id"]) == 0
    row = await db.scalar(select(ActivationCode).where(ActivationCode.person_id == me.person["id"]))
    assert row is not None
    assert row.used_at is None  # a failed registration does not spend the code


async def test_body_that_is_not_json(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/auth/login", content=b"{{{", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    form = await client.post(
        "/auth/login", content=b"a=b", headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert form.status_code == 415


async def test_oversized_payload_is_413(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/auth/login",
        content=json.dumps({"id": "x" * 200_000}).encode(),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413


async def test_registration_with_wrong_origin_stores_nothing(
    client: httpx.AsyncClient, db: AsyncSession, person_factory: Any
) -> None:
    me = await person_factory()
    code = await new_code(db, me.person["customer_number"])
    response = await activate(
        client,
        SoftAuthenticator(),
        code,
        me.person["date_of_birth"],
        override_origin="https://evil.example",
    )
    assert_refused(response, "VERIFICATION_FAILED")
    assert await passkey_count(db, me.person["id"]) == 0
    assert (await failures(db, "passkey.register"))[-1] == "origin"
    # The code was not spent: the real user can still activate.
    ok = await activate(client, SoftAuthenticator(), code, me.person["date_of_birth"])
    assert ok.status_code == 200


async def test_registration_without_user_verification_is_refused(
    client: httpx.AsyncClient, db: AsyncSession, person_factory: Any
) -> None:
    me = await person_factory()
    code = await new_code(db, me.person["customer_number"])
    response = await activate(
        client, SoftAuthenticator(user_verification=False), code, me.person["date_of_birth"]
    )
    assert_refused(response, "VERIFICATION_FAILED")
    assert (await failures(db, "passkey.register"))[-1] == "user_verification"
    assert await passkey_count(db, me.person["id"]) == 0


# --- activation codes ------------------------------------------------------------------


async def _redeem(client: httpx.AsyncClient, code: str, dob: date) -> httpx.Response:
    return await post(client, "/auth/activation", {"code": code, "dateOfBirth": dob.isoformat()})


async def test_wrong_code_and_wrong_birth_date_look_the_same(
    client: httpx.AsyncClient, db: AsyncSession, person_factory: Any
) -> None:
    me = await person_factory()
    code = await new_code(db, me.person["customer_number"])
    wrong_dob = await _redeem(client, code, date(1901, 1, 1))
    wrong_code = await _redeem(client, "AAAA-BBBB-CCCC-DDDD", me.person["date_of_birth"])
    assert wrong_dob.status_code == wrong_code.status_code == 400
    assert wrong_dob.json() == wrong_code.json()
    assert error_code(wrong_dob) == "ACTIVATION_FAILED"
    assert await failures(db, "activation.redeem") == ["wrong_date_of_birth", "unknown_code"]


async def test_code_locks_after_five_wrong_birth_dates(
    client: httpx.AsyncClient, db: AsyncSession, person_factory: Any
) -> None:
    me = await person_factory()
    code = await new_code(db, me.person["customer_number"])
    for _ in range(5):
        assert (await _redeem(client, code, date(1901, 1, 1))).status_code == 400
    right = await _redeem(client, code, me.person["date_of_birth"])
    assert error_code(right) == "ACTIVATION_FAILED"
    assert (await failures(db, "activation.redeem"))[-1] == "locked"


async def test_expired_used_and_superseded_codes_are_refused(
    client: httpx.AsyncClient, db: AsyncSession, person_factory: Any
) -> None:
    me = await person_factory()
    dob = me.person["date_of_birth"]
    old = await new_code(db, me.person["customer_number"])
    code = await new_code(db, me.person["customer_number"])
    assert error_code(await _redeem(client, old, dob)) == "ACTIVATION_FAILED"
    assert (await activate(client, SoftAuthenticator(), code, dob)).status_code == 200
    assert error_code(await _redeem(client, code, dob)) == "ACTIVATION_FAILED"
    expired = await new_code(db, me.person["customer_number"])
    await db.execute(
        update(ActivationCode)
        .where(ActivationCode.used_at.is_(None), ActivationCode.revoked_at.is_(None))
        .values(expires_at=utcnow())
    )
    await db.commit()
    assert error_code(await _redeem(client, expired, dob)) == "ACTIVATION_FAILED"
    reasons = await failures(db, "activation.redeem")
    assert reasons == ["superseded", "used", "expired"]


async def test_codes_are_typable_from_paper(
    client: httpx.AsyncClient, db: AsyncSession, person_factory: Any
) -> None:
    me = await person_factory()
    code = await new_code(db, me.person["customer_number"])
    sloppy = " " + code.lower().replace("-", " ").replace("0", "o").replace("1", "l") + " "
    response = await _redeem(client, sloppy, me.person["date_of_birth"])
    assert response.status_code == 200, response.text


async def test_activation_is_rate_limited_per_ip(
    client: httpx.AsyncClient, db: AsyncSession, person_factory: Any
) -> None:
    statuses = [
        (await _redeem(client, "AAAA-BBBB-CCCC-DDDD", date(1990, 1, 1))).status_code
        for _ in range(11)
    ]
    assert statuses[:10] == [400] * 10
    assert statuses[10] == 429
    me = await person_factory()
    code = await new_code(db, me.person["customer_number"])
    limited = await _redeem(client, code, me.person["date_of_birth"])
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) > 0
    assert error_code(limited) == "RATE_LIMITED"


async def test_recovery_key_reuse_and_guessing(
    client: httpx.AsyncClient, db: AsyncSession, person_factory: Any
) -> None:
    me = await person_factory()
    done = await activate(
        client,
        SoftAuthenticator(),
        await new_code(db, me.person["customer_number"]),
        me.person["date_of_birth"],
    )
    key = done.json()["recoveryKey"]
    client.cookies.clear()
    guess = await post(client, "/auth/recovery", {"recoveryKey": "AAAAA-BBBBB-CCCCC-DDDDD-EEEEE"})
    assert_refused(guess, "RECOVERY_FAILED")
    started = await post(client, "/auth/recovery", {"recoveryKey": key})
    await post(
        client,
        "/auth/passkeys",
        SoftAuthenticator().create(started.json()["publicKey"], origin=ORIGIN),
    )
    client.cookies.clear()
    assert_refused(await post(client, "/auth/recovery", {"recoveryKey": key}), "RECOVERY_FAILED")
    assert await failures(db, "recovery.redeem") == ["unknown_key", "used"]


async def test_secrets_never_reach_the_audit_log_or_logs(
    client: httpx.AsyncClient,
    db: AsyncSession,
    person_factory: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from auth.models import AuditEvent

    me = await person_factory()
    code = await new_code(db, me.person["customer_number"])
    await _redeem(client, code, date(1901, 1, 1))
    done = await activate(client, SoftAuthenticator(), code, me.person["date_of_birth"])
    key = done.json()["recoveryKey"]
    token = client.cookies.get("duo_session", domain="testserver.local")
    assert token
    db.expire_all()
    rows = (await db.scalars(select(AuditEvent))).all()
    dump = json.dumps([[r.action, r.reason, r.details, r.user_agent] for r in rows])
    logs = caplog.text
    for secret in (code, code.replace("-", ""), key, key.replace("-", ""), token):
        assert secret not in dump
        assert secret not in logs


async def test_many_sign_in_page_visits_behind_one_address_are_not_refused(
    client: httpx.AsyncClient,
) -> None:
    """Passkey autofill fetches options on every visit of the sign-in page; a campus behind one
    address must not be locked out by visits alone. Attempts keep their own, tighter limit."""
    visits = [(await post(client, "/auth/login/options", {})).status_code for _ in range(120)]
    assert set(visits) == {200}
    # Guessing: assertions for challenges this server never issued.
    bogus = {"id": "AAAA", "rawId": "AAAA", "type": "public-key", "response": {}}
    attempts = [await post(client, "/auth/login", bogus) for _ in range(61)]
    assert {a.status_code for a in attempts[:60]} == {400}
    assert attempts[60].status_code == 429
    assert error_code(attempts[60]) == "RATE_LIMITED"
    assert int(attempts[60].headers["retry-after"]) > 0


# --- WebAuthn L3 §7.1/§7.2 steps that py_webauthn leaves to the relying party -------------------

# A credential id and a user handle whose base64url holds `-` and `_` (so that RFC 4648 §4's
# `+` and `/` spell the same bytes) and leaves unused trailing bits (a length not divisible by 3).
CRAFTED_ID = b"\xfb\xff\xbf" + bytes(range(13))
CRAFTED_HANDLE = b"\xfb\xff\xbf" + bytes(range(100, 129))
SPELLINGS = ["padding", "whitespace", "foreign_character", "standard_alphabet", "unused_bits"]


async def last_failure(db: AsyncSession, action: str) -> tuple[str | None, dict[str, Any]]:
    from auth.models import AuditEvent

    db.expire_all()
    row = (
        await db.execute(
            select(AuditEvent.reason, AuditEvent.details)
            .where(AuditEvent.action == action, AuditEvent.outcome == "failure")
            .order_by(AuditEvent.occurred_at.desc())
            .limit(1)
        )
    ).first()
    assert row is not None, f"no {action} failure was audited"
    return row[0], dict(row[1])


@pytest.fixture
async def crafted(
    client: httpx.AsyncClient, db: AsyncSession, person_factory: Any
) -> tuple[Any, SoftAuthenticator]:
    """Enrolled with CRAFTED_ID, the person's user handle set to CRAFTED_HANDLE; signed out."""
    from auth.models import WebAuthnUser

    me = await person_factory()
    phone = SoftAuthenticator(counter_step=1)
    code = await new_code(db, me.person["customer_number"])
    started = await post(
        client,
        "/auth/activation",
        {"code": code, "dateOfBirth": me.person["date_of_birth"].isoformat()},
    )
    credential = phone.create(started.json()["publicKey"], origin=ORIGIN, credential_id=CRAFTED_ID)
    assert (await post(client, "/auth/passkeys", credential)).status_code == 200
    await db.execute(
        update(WebAuthnUser)
        .where(WebAuthnUser.person_id == me.person["id"])
        .values(user_handle=CRAFTED_HANDLE)
    )
    await db.commit()
    phone.credentials[0].user_handle = CRAFTED_HANDLE
    client.cookies.clear()
    return me, phone


async def _assert_login_refused(
    client: httpx.AsyncClient,
    db: AsyncSession,
    me: Any,
    response: httpx.Response,
    code: str,
    reason: str,
    count: int,
) -> dict[str, Any]:
    """The refusal pattern: the code, no session, an audited reason, the counter untouched."""
    assert_refused(response, code)
    assert await viewer_name(client) is None
    found, details = await last_failure(db, "login")
    assert found == reason, (found, details)
    assert await _sign_count(db, me.person["id"]) == count
    return details


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        ({"crossOrigin": True}, "cross_origin"),
        ({"crossOrigin": "true"}, "cross_origin"),
        ({"crossOrigin": "false"}, "cross_origin"),  # a string is not the boolean false
        ({"topOrigin": "https://evil.example"}, "top_origin"),
        ({"topOrigin": ORIGIN}, "top_origin"),
        ({"crossOrigin": True, "topOrigin": "https://evil.example"}, "cross_origin"),
    ],
)
async def test_login_from_a_cross_origin_frame_is_refused(
    client: httpx.AsyncClient,
    db: AsyncSession,
    enrolled: tuple[Any, SoftAuthenticator],
    member: dict[str, Any],
    reason: str,
) -> None:
    """§7.2 steps 13-14: the app is never embedded in another site (frame-ancestors 'none')."""
    me, phone = enrolled
    count = await _sign_count(db, me.person["id"])
    response = await login(client, phone, client_data=member)
    await _assert_login_refused(client, db, me, response, "VERIFICATION_FAILED", reason, count)


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        ({"crossOrigin": True}, "cross_origin"),
        ({"crossOrigin": "true"}, "cross_origin"),
        ({"topOrigin": "https://evil.example"}, "top_origin"),
    ],
)
async def test_registration_from_a_cross_origin_frame_is_refused(
    client: httpx.AsyncClient,
    db: AsyncSession,
    person_factory: Any,
    member: dict[str, Any],
    reason: str,
) -> None:
    """§7.1 steps 10-11; the activation code is not spent by the refused attempt."""
    me = await person_factory()
    code = await new_code(db, me.person["customer_number"])
    response = await activate(
        client, SoftAuthenticator(), code, me.person["date_of_birth"], client_data=member
    )
    assert_refused(response, "VERIFICATION_FAILED")
    assert await viewer_name(client) is None
    assert (await last_failure(db, "passkey.register"))[0] == reason
    assert await passkey_count(db, me.person["id"]) == 0
    assert (
        await activate(client, SoftAuthenticator(), code, me.person["date_of_birth"])
    ).is_success


def _respelled_login(
    phone: SoftAuthenticator, options: dict[str, Any], member: str, how: str
) -> dict[str, Any]:
    """An assertion whose `member` is spelled `how`; new assertions until that spelling exists."""
    for attempt in range(40):
        # A harmless extra member of changing length varies clientDataJSON's spelling.
        extra = {"note": "?" * (3 + attempt % 3)}
        assertion = phone.get(options, origin=ORIGIN, client_data=extra)
        if member == "id":
            spelled = respell(assertion["id"], how)
            if spelled is not None:
                return {**assertion, "id": spelled, "rawId": spelled}
            continue
        spelled = respell(assertion["response"][member], how)
        if spelled is not None:
            return {**assertion, "response": {**assertion["response"], member: spelled}}
    raise AssertionError(f"no {how} spelling of {member}")


@pytest.mark.parametrize("how", SPELLINGS)
@pytest.mark.parametrize(
    "member", ["id", "clientDataJSON", "authenticatorData", "signature", "userHandle"]
)
async def test_login_members_must_be_canonical_base64url(
    client: httpx.AsyncClient,
    db: AsyncSession,
    crafted: tuple[Any, SoftAuthenticator],
    member: str,
    how: str,
) -> None:
    """RFC 4648 §5 without padding, whitespace, other characters or stray bits: one spelling.

    Each variant decodes to the very same bytes with a lenient decoder (the signature would
    hold), so only the strict decoding refuses it.
    """
    me, phone = crafted
    count = await _sign_count(db, me.person["id"])
    started = await post(client, "/auth/login/options", {})
    assertion = _respelled_login(phone, started.json()["publicKey"], member, how)
    response = await post(client, "/auth/login", assertion)
    details = await _assert_login_refused(
        client, db, me, response, "MALFORMED_CREDENTIAL", "malformed_base64url", count
    )
    assert details == {"field": "id" if member == "id" else member}
    # The untouched spelling of the same answer still signs in: only the encoding was refused.
    assert (await login(client, phone)).status_code == 200


@pytest.mark.parametrize("how", SPELLINGS)
@pytest.mark.parametrize("member", ["id", "clientDataJSON", "attestationObject"])
async def test_registration_members_must_be_canonical_base64url(
    client: httpx.AsyncClient,
    db: AsyncSession,
    person_factory: Any,
    member: str,
    how: str,
) -> None:
    me = await person_factory()
    code = await new_code(db, me.person["customer_number"])
    started = await post(
        client,
        "/auth/activation",
        {"code": code, "dateOfBirth": me.person["date_of_birth"].isoformat()},
    )
    options = started.json()["publicKey"]
    authenticator = SoftAuthenticator()
    for attempt in range(40):
        extra = {"note": "?" * (3 + attempt % 3)}
        credential = authenticator.create(
            options, origin=ORIGIN, credential_id=CRAFTED_ID, client_data=extra
        )
        text = credential["id"] if member == "id" else credential["response"][member]
        spelled = respell(text, how)
        if spelled is not None:
            break
    assert spelled is not None
    if member == "id":
        credential = {**credential, "id": spelled, "rawId": spelled}
    else:
        credential = {**credential, "response": {**credential["response"], member: spelled}}
    response = await post(client, "/auth/passkeys", credential)
    assert_refused(response, "MALFORMED_CREDENTIAL")
    assert await last_failure(db, "passkey.register") == (
        "malformed_base64url",
        {"field": member},
    )
    assert await passkey_count(db, me.person["id"]) == 0


async def test_raw_id_must_equal_id(
    client: httpx.AsyncClient, db: AsyncSession, enrolled: tuple[Any, SoftAuthenticator]
) -> None:
    me, phone = enrolled
    count = await _sign_count(db, me.person["id"])
    started = await post(client, "/auth/login/options", {})
    assertion = phone.get(started.json()["publicKey"], origin=ORIGIN)
    response = await post(client, "/auth/login", {**assertion, "rawId": b64url(b"another id")})
    await _assert_login_refused(
        client, db, me, response, "MALFORMED_CREDENTIAL", "raw_id_mismatch", count
    )


async def test_a_padded_challenge_in_client_data_is_refused(
    client: httpx.AsyncClient, db: AsyncSession, enrolled: tuple[Any, SoftAuthenticator]
) -> None:
    """§7.2 step 11 compares the text with base64url(challenge): `…=` is not that text."""
    me, phone = enrolled
    count = await _sign_count(db, me.person["id"])
    started = await post(client, "/auth/login/options", {})
    options = started.json()["publicKey"]
    padded = {"challenge": options["challenge"] + "=="}
    response = await post(
        client, "/auth/login", phone.get(options, origin=ORIGIN, client_data=padded)
    )
    details = await _assert_login_refused(
        client, db, me, response, "MALFORMED_CREDENTIAL", "malformed_base64url", count
    )
    assert details == {"field": "clientDataJSON.challenge"}


@pytest.mark.parametrize(
    "knobs",
    [
        # A repeated member: Python keeps the last value, other parsers the first.
        {"client_data": {"crossOrigin": True}, "client_data_suffix": ',"crossOrigin":false'},
        # §7.2 step 8 is a UTF-8 decode; json.loads(bytes) would also take UTF-16.
        {"client_data_encoding": "utf-16"},
    ],
)
async def test_client_data_must_be_one_utf8_json_object(
    client: httpx.AsyncClient,
    db: AsyncSession,
    enrolled: tuple[Any, SoftAuthenticator],
    knobs: dict[str, Any],
) -> None:
    me, phone = enrolled
    count = await _sign_count(db, me.person["id"])
    response = await login(client, phone, **knobs)
    await _assert_login_refused(
        client, db, me, response, "MALFORMED_CREDENTIAL", "malformed_client_data", count
    )


@pytest.mark.parametrize(
    ("flags", "reason"),
    [
        ({"backup_eligible": True}, "backup_eligibility_changed"),
        ({"backup_eligible": True, "backed_up": True}, "backup_eligibility_changed"),
        ({"backed_up": True}, "backup_state"),  # BS without BE (§7.2 step 18)
    ],
)
async def test_backup_eligibility_of_a_device_bound_passkey_cannot_change(
    client: httpx.AsyncClient,
    db: AsyncSession,
    enrolled: tuple[Any, SoftAuthenticator],
    flags: dict[str, bool],
    reason: str,
) -> None:
    """§7.2 step 19: BE is fixed at creation; a change means another authenticator answered."""
    me, phone = enrolled
    count = await _sign_count(db, me.person["id"])
    response = await login(client, phone, **flags)
    await _assert_login_refused(client, db, me, response, "VERIFICATION_FAILED", reason, count)


async def test_backup_eligibility_of_a_synced_passkey_cannot_change(
    client: httpx.AsyncClient, db: AsyncSession, person_factory: Any
) -> None:
    me = await person_factory()
    synced = SoftAuthenticator(counter_step=1, backup_eligible=True, backed_up=True)
    code = await new_code(db, me.person["customer_number"])
    assert (await activate(client, synced, code, me.person["date_of_birth"])).status_code == 200
    client.cookies.clear()
    count = await _sign_count(db, me.person["id"])
    response = await login(client, synced, backup_eligible=False, backed_up=False)
    await _assert_login_refused(
        client, db, me, response, "VERIFICATION_FAILED", "backup_eligibility_changed", count
    )


async def test_registration_with_backup_state_but_no_eligibility_is_refused(
    client: httpx.AsyncClient, db: AsyncSession, person_factory: Any
) -> None:
    """§7.1 step 17: BS set without BE is impossible for a genuine authenticator."""
    me = await person_factory()
    code = await new_code(db, me.person["customer_number"])
    odd = SoftAuthenticator(backup_eligible=False, backed_up=True)
    assert_refused(
        await activate(client, odd, code, me.person["date_of_birth"]), "VERIFICATION_FAILED"
    )
    assert (await last_failure(db, "passkey.register"))[0] == "backup_state"
    assert await passkey_count(db, me.person["id"]) == 0


@pytest.mark.parametrize("handle", ["omitted", "null", "empty", "another person's"])
async def test_usernameless_login_needs_the_owners_user_handle(
    client: httpx.AsyncClient,
    db: AsyncSession,
    enrolled: tuple[Any, SoftAuthenticator],
    person_factory: Any,
    handle: str,
) -> None:
    """§7.2 step 6: nobody was identified before the ceremony, so userHandle must be present
    and name the credential's owner."""
    me, phone = enrolled
    other = await person_factory()
    await activate(
        client,
        SoftAuthenticator(),
        await new_code(db, other.person["customer_number"]),
        other.person["date_of_birth"],
    )
    client.cookies.clear()
    from auth.models import WebAuthnUser

    others_handle = await db.scalar(
        select(WebAuthnUser.user_handle).where(WebAuthnUser.person_id == other.person["id"])
    )
    assert others_handle
    count = await _sign_count(db, me.person["id"])
    started = await post(client, "/auth/login/options", {})
    options = started.json()["publicKey"]
    if handle == "another person's":
        assertion = phone.get(options, origin=ORIGIN, user_handle=others_handle)
    else:
        assertion = phone.get(options, origin=ORIGIN, user_handle=None)
        if handle != "omitted":
            value = None if handle == "null" else ""
            assertion["response"] = {**assertion["response"], "userHandle": value}
    response = await post(client, "/auth/login", assertion)
    reason = "user_handle_mismatch" if handle == "another person's" else "user_handle_missing"
    await _assert_login_refused(client, db, me, response, "VERIFICATION_FAILED", reason, count)


@pytest.mark.parametrize(
    ("knobs", "code", "reason"),
    [
        # §7.1 step 25: at most 1023 bytes.
        ({"credential_id": bytes(1024)}, "VERIFICATION_FAILED", "credential_id_too_long"),
        # The attested credential is not the one the response names (§5.1.3).
        ({"attested_credential_id": bytes(16)}, "VERIFICATION_FAILED", "credential_id_mismatch"),
        # §7.1 step 13: one CBOR item; bytes after it are not part of the attestation.
        ({"attestation_suffix": b"\x00"}, "MALFORMED_CREDENTIAL", "malformed_attestation_object"),
    ],
)
async def test_registration_credential_checks(
    client: httpx.AsyncClient,
    db: AsyncSession,
    person_factory: Any,
    knobs: dict[str, Any],
    code: str,
    reason: str,
) -> None:
    me = await person_factory()
    activation_code = await new_code(db, me.person["customer_number"])
    response = await activate(
        client, SoftAuthenticator(), activation_code, me.person["date_of_birth"], **knobs
    )
    assert_refused(response, code)
    assert await viewer_name(client) is None
    assert (await last_failure(db, "passkey.register"))[0] == reason
    assert await passkey_count(db, me.person["id"]) == 0
