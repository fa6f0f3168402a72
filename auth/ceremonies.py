"""WebAuthn ceremonies: registration (activation, add, device link, recovery) and login.

Challenges live server-side, bound to the browser that asked (a ceremony cookie), expire
after five minutes and are deleted on first use, successful or not: py_webauthn does not
track them, and a passkey whose counter stays 0 would otherwise verify the same assertion
twice (WebAuthn §13.4.3).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from access import service as access_service
from api.database import utcnow
from api.errors import Unauthenticated
from api.settings import Settings
from auth import activation, audit, codes, errors, notices, ratelimit, recovery, sessions
from auth import webauthn as wa
from auth.audit import RequestMeta
from auth.errors import AuthError
from auth.models import CeremonyPurpose, Challenge, DeviceLink, Passkey, WebAuthnUser
from auth.names import passkey_name
from auth.ratelimit import RateLimiter
from auth.sessions import IssuedSession, Principal
from records.models import Person

T = TypeVar("T")
CHALLENGE_TTL = timedelta(minutes=5)
REGISTRATION_PURPOSES = frozenset(
    {
        CeremonyPurpose.ACTIVATION,
        CeremonyPurpose.ADD,
        CeremonyPurpose.DEVICE_LINK,
        CeremonyPurpose.RECOVERY,
        CeremonyPurpose.ACCESS_REQUEST,
    }
)
# Enrolments: the account's first passkey may come with them, and so its recovery key.
ENROLMENTS = frozenset({CeremonyPurpose.ACTIVATION, CeremonyPurpose.ACCESS_REQUEST})


@dataclass(frozen=True, slots=True)
class Started:
    """Options for the browser, and the ceremony cookie value that binds them to it."""

    options_json: str
    binding: str


@dataclass(frozen=True, slots=True)
class Registered:
    passkey: Passkey
    recovery_key: str | None  # shown once: only at enrolment and after a recovery
    session: IssuedSession | None  # a new signed-in session, except when adding from one


@dataclass(frozen=True, slots=True)
class LoggedIn:
    person_id: uuid.UUID
    passkey: Passkey
    session: IssuedSession


# --- starting ceremonies -------------------------------------------------------------


async def _user_handle(db: AsyncSession, person_id: uuid.UUID) -> bytes:
    row = await db.get(WebAuthnUser, person_id)
    if row is None:
        row = WebAuthnUser(person_id=person_id, user_handle=secrets.token_bytes(32))
        db.add(row)
        await db.flush()
    return row.user_handle


async def _pending(
    db: AsyncSession,
    *,
    challenge: bytes,
    purpose: CeremonyPurpose,
    person_id: uuid.UUID | None,
    grant_id: uuid.UUID | None,
) -> str:
    binding = codes.new_token()
    now = utcnow()
    # Housekeeping on the way: expired ceremonies are never useful again.
    await db.execute(delete(Challenge).where(Challenge.expires_at < now))
    db.add(
        Challenge(
            challenge_hash=codes.token_digest(challenge.hex()),
            binding_hash=codes.token_digest(binding),
            purpose=purpose,
            person_id=person_id,
            grant_id=grant_id,
            created_at=now,
            expires_at=now + CHALLENGE_TTL,
        )
    )
    await db.flush()
    return binding


async def _start_registration(
    db: AsyncSession,
    *,
    settings: Settings,
    person_id: uuid.UUID,
    purpose: CeremonyPurpose,
    grant_id: uuid.UUID | None,
) -> Started:
    person = await db.get(Person, person_id)
    if person is None:
        raise Unauthenticated()
    existing = (
        await db.scalars(
            select(Passkey.credential_id).where(
                Passkey.person_id == person_id, Passkey.revoked_at.is_(None)
            )
        )
    ).all()
    options = wa.registration_options(
        rp_id=settings.rp_id,
        user_handle=await _user_handle(db, person_id),
        user_name=person.customer_number,
        display_name=f"{person.given_names} {person.family_name}",
        exclude=list(existing),
    )
    binding = await _pending(
        db, challenge=options.challenge, purpose=purpose, person_id=person_id, grant_id=grant_id
    )
    return Started(options_json=options.json, binding=binding)


async def start_activation(
    db: AsyncSession,
    *,
    settings: Settings,
    limiter: RateLimiter,
    code: str,
    date_of_birth: date,
    meta: RequestMeta,
) -> Started:
    await ratelimit.enforce(limiter, ratelimit.ACTIVATION_PER_IP, meta.ip_address or "-")
    row = await activation.check_code(
        db, secret_key=settings.secret_key, code=code, date_of_birth=date_of_birth, meta=meta
    )
    await ratelimit.enforce(limiter, ratelimit.ACTIVATION_PER_ACCOUNT, str(row.person_id))
    return await _start_registration(
        db,
        settings=settings,
        person_id=row.person_id,
        purpose=CeremonyPurpose.ACTIVATION,
        grant_id=row.id,
    )


async def start_access_request(
    db: AsyncSession,
    *,
    settings: Settings,
    limiter: RateLimiter,
    request_id: uuid.UUID,
    secret: str,
    meta: RequestMeta,
) -> Started:
    """An approved access request, proven by the secret of the browser that made it."""
    await ratelimit.enforce(limiter, ratelimit.REGISTRATION_PER_IP, meta.ip_address or "-")
    row, reason = await access_service.approved_request(db, request_id, secret=secret)
    if reason is not None or row is None or row.person_id is None:
        await audit.record(
            db,
            action="access_request.redeem",
            outcome="failure",
            reason=(reason or "invalid").split(":")[0],
            meta=meta,
            # Only a browser holding the secret learns whose request it is.
            person_id=row.person_id if row is not None and reason != "wrong_secret" else None,
            details={"access_request_id": str(request_id)},
        )
        raise AuthError(
            "ACCESS_REQUEST_INVALID", errors.ACCESS_REQUEST_FAILED, reason=reason or "invalid"
        )
    return await _start_registration(
        db,
        settings=settings,
        person_id=row.person_id,
        purpose=CeremonyPurpose.ACCESS_REQUEST,
        grant_id=row.id,
    )


async def start_recovery(
    db: AsyncSession,
    *,
    settings: Settings,
    limiter: RateLimiter,
    recovery_key: str,
    meta: RequestMeta,
) -> Started:
    await ratelimit.enforce(limiter, ratelimit.RECOVERY_PER_IP, meta.ip_address or "-")
    row = await recovery.check_key(db, secret_key=settings.secret_key, key=recovery_key, meta=meta)
    return await _start_registration(
        db,
        settings=settings,
        person_id=row.person_id,
        purpose=CeremonyPurpose.RECOVERY,
        grant_id=row.id,
    )


@dataclass(frozen=True, slots=True)
class LinkCheck:
    """A device link that can still be used: until when, and whose account it adds to."""

    expires_at: datetime
    account_name: str


async def check_device_link(
    db: AsyncSession, *, limiter: RateLimiter, token: str, meta: RequestMeta
) -> LinkCheck:
    """Whether a link works, before the page offers its button (#16 item 16); uses nothing.

    Refusals say as little as start_device_link's (unknown, used and expired look the same).
    """
    await ratelimit.enforce(limiter, ratelimit.REGISTRATION_PER_IP, meta.ip_address or "-")
    link = await db.scalar(
        select(DeviceLink).where(DeviceLink.token_hash == codes.token_digest(token))
    )
    if link is None or link.used_at is not None or utcnow() >= link.expires_at:
        raise AuthError("DEVICE_LINK_INVALID", errors.LINK_FAILED, reason="checked")
    person = await db.get(Person, link.person_id)
    name = f"{person.given_names} {person.family_name}" if person else ""
    return LinkCheck(expires_at=link.expires_at, account_name=name)


async def start_device_link(
    db: AsyncSession,
    *,
    settings: Settings,
    limiter: RateLimiter,
    token: str,
    meta: RequestMeta,
) -> Started:
    await ratelimit.enforce(limiter, ratelimit.REGISTRATION_PER_IP, meta.ip_address or "-")
    link = await db.scalar(
        select(DeviceLink).where(DeviceLink.token_hash == codes.token_digest(token))
    )
    reason = None
    if link is None:
        reason = "unknown_link"
    elif link.used_at is not None:
        reason = "used"
    elif utcnow() >= link.expires_at:
        reason = "expired"
    if reason is not None or link is None:
        await audit.record(
            db,
            action="device_link.open",
            outcome="failure",
            reason=reason,
            meta=meta,
            person_id=link.person_id if link else None,
        )
        raise AuthError("DEVICE_LINK_INVALID", errors.LINK_FAILED, reason=reason or "invalid")
    return await _start_registration(
        db,
        settings=settings,
        person_id=link.person_id,
        purpose=CeremonyPurpose.DEVICE_LINK,
        grant_id=link.id,
    )


async def start_add(
    db: AsyncSession, *, settings: Settings, limiter: RateLimiter, principal: Principal
) -> Started:
    await ratelimit.enforce(limiter, ratelimit.REGISTRATION_PER_ACCOUNT, str(principal.person_id))
    return await _start_registration(
        db,
        settings=settings,
        person_id=principal.person_id,
        purpose=CeremonyPurpose.ADD,
        grant_id=None,
    )


async def start_login(
    db: AsyncSession, *, settings: Settings, limiter: RateLimiter, meta: RequestMeta
) -> Started:
    await ratelimit.enforce(limiter, ratelimit.LOGIN_OPTIONS_PER_IP, meta.ip_address or "-")
    options = wa.authentication_options(rp_id=settings.rp_id)
    binding = await _pending(
        db,
        challenge=options.challenge,
        purpose=CeremonyPurpose.LOGIN,
        person_id=None,
        grant_id=None,
    )
    return Started(options_json=options.json, binding=binding)


# --- finishing ceremonies ------------------------------------------------------------


async def _parse(
    db: AsyncSession, parse: Callable[[Any], T], payload: Any, *, meta: RequestMeta, action: str
) -> T:
    """Read the browser's response strictly; a malformed one is refused and audited."""
    try:
        return parse(payload)
    except AuthError as exc:
        await audit.record(
            db, action=action, outcome="failure", reason=exc.reason, meta=meta, details=exc.details
        )
        raise


async def _take_challenge(
    db: AsyncSession,
    *,
    challenge: bytes,
    binding: str | None,
    purposes: frozenset[CeremonyPurpose],
    meta: RequestMeta,
    action: str,
) -> Challenge:
    """Find and delete the pending ceremony for this response; AuthError if unusable."""
    row = await db.scalar(
        select(Challenge).where(Challenge.challenge_hash == codes.token_digest(challenge.hex()))
    )
    reason = None
    if row is None:
        reason = "unknown_or_used_challenge"
    else:
        # Delete first and check the count: of two racing replays, only one gets the row.
        deleted = await db.execute(delete(Challenge).where(Challenge.id == row.id))
        if not deleted.rowcount:  # type: ignore[attr-defined]
            reason = "unknown_or_used_challenge"
        elif utcnow() >= row.expires_at:
            reason = "expired_challenge"
        elif row.purpose not in purposes:
            reason = "wrong_ceremony"
        elif binding is None or codes.token_digest(binding) != row.binding_hash:
            reason = "challenge_from_another_browser"
    if reason is not None or row is None:
        await audit.record(
            db,
            action=action,
            outcome="failure",
            reason=reason,
            meta=meta,
            person_id=row.person_id if row else None,
        )
        raise AuthError("CHALLENGE_INVALID", errors.CEREMONY_FAILED, reason=reason or "invalid")
    return row


async def finish_registration(
    db: AsyncSession,
    *,
    settings: Settings,
    payload: Any,
    binding: str | None,
    principal: Principal | None,
    previous_session_token: str | None,
    meta: RequestMeta,
) -> Registered:
    parsed = await _parse(db, wa.parse_registration, payload, meta=meta, action="passkey.register")
    challenge = parsed.client_data.challenge
    pending = await _take_challenge(
        db,
        challenge=challenge,
        binding=binding,
        purposes=REGISTRATION_PURPOSES,
        meta=meta,
        action="passkey.register",
    )
    person_id = pending.person_id
    if person_id is None:  # registration ceremonies are always created for a person
        raise AuthError("CHALLENGE_INVALID", errors.CEREMONY_FAILED, reason="no_person")

    async def fail(code: str, message: str, reason: str) -> AuthError:
        await audit.record(
            db,
            action="passkey.register",
            outcome="failure",
            reason=reason,
            meta=meta,
            person_id=person_id,
            details={"purpose": pending.purpose.value},
        )
        return AuthError(code, message, reason=reason)

    if pending.purpose is CeremonyPurpose.ADD and (
        principal is None or principal.person_id != person_id
    ):
        raise await fail("CHALLENGE_INVALID", errors.CEREMONY_FAILED, "session_mismatch")
    try:
        new = wa.verify_registration(
            parsed, challenge=challenge, rp_id=settings.rp_id, origin=settings.public_origin
        )
    except AuthError as exc:
        raise await fail(exc.code, exc.message, exc.reason) from exc
    duplicate = await db.scalar(
        select(Passkey.id).where(Passkey.credential_id == new.credential_id)
    )
    if duplicate is not None:
        raise await fail(
            "PASSKEY_ALREADY_REGISTERED",
            "This passkey is already registered.",
            "duplicate_credential",
        )

    # The grant (code, key, link) is consumed with a conditional UPDATE in this transaction,
    # so two browsers racing with the same grant cannot both register.
    grant_ok = True
    if pending.purpose is CeremonyPurpose.ACTIVATION:
        grant_ok = await activation.consume_code(db, pending.grant_id)  # type: ignore[arg-type]
    elif pending.purpose is CeremonyPurpose.RECOVERY:
        grant_ok = await recovery.consume_key(db, pending.grant_id)  # type: ignore[arg-type]
    elif pending.purpose is CeremonyPurpose.ACCESS_REQUEST:
        grant_ok = await access_service.consume_approval(db, pending.grant_id)  # type: ignore[arg-type]
    elif pending.purpose is CeremonyPurpose.DEVICE_LINK:
        result = await db.execute(
            update(DeviceLink)
            .where(DeviceLink.id == pending.grant_id, DeviceLink.used_at.is_(None))
            .values(used_at=utcnow())
        )
        grant_ok = bool(result.rowcount)  # type: ignore[attr-defined]
    if not grant_ok:
        raise await fail("CHALLENGE_INVALID", errors.CEREMONY_FAILED, "grant_already_used")
    if pending.purpose is CeremonyPurpose.ACTIVATION:
        await audit.record(
            db,
            action="activation.redeem",
            outcome="success",
            meta=meta,
            person_id=person_id,
            details={"activation_code_id": str(pending.grant_id)},
        )
    elif pending.purpose is CeremonyPurpose.ACCESS_REQUEST:
        await audit.record(
            db,
            action="access_request.redeem",
            outcome="success",
            meta=meta,
            person_id=person_id,
            details={"access_request_id": str(pending.grant_id)},
        )

    now = utcnow()
    taken = set(await db.scalars(select(Passkey.name).where(Passkey.person_id == person_id)))
    passkey = Passkey(
        person_id=person_id,
        credential_id=new.credential_id,
        public_key=new.public_key,
        sign_count=new.sign_count,
        aaguid=new.aaguid,
        name=passkey_name(new.aaguid, meta.user_agent, taken),
        transports=new.transports,
        backup_eligible=new.backup_eligible,
        backed_up=new.backed_up,
        created_at=now,
        last_used_at=None,  # "not used yet" until its first sign-in
    )
    db.add(passkey)
    await db.flush()

    recovery_key = None
    if pending.purpose is CeremonyPurpose.RECOVERY or (
        pending.purpose in ENROLMENTS and not await recovery.has_usable_key(db, person_id)
    ):
        recovery_key = await recovery.issue_key(
            db, secret_key=settings.secret_key, person_id=person_id
        )

    session = None
    if pending.purpose is not CeremonyPurpose.ADD:
        session = await sessions.create_session(
            db,
            person_id=person_id,
            absolute_timeout=settings.session_absolute_timeout,
            ip_address=meta.ip_address,
            user_agent=meta.user_agent,
            replaces_token=previous_session_token,
        )
    await audit.record(
        db,
        action="passkey.register",
        outcome="success",
        meta=meta,
        person_id=person_id,
        details={
            "purpose": pending.purpose.value,
            "passkey_id": str(passkey.id),
            "aaguid": new.aaguid,
            "synced": new.backed_up,
        },
    )
    await notices.announce(
        db,
        person_id,
        "recovery.used" if pending.purpose is CeremonyPurpose.RECOVERY else "passkey.added",
        name=passkey.name,
    )
    return Registered(passkey=passkey, recovery_key=recovery_key, session=session)


async def finish_login(
    db: AsyncSession,
    *,
    settings: Settings,
    limiter: RateLimiter,
    payload: Any,
    binding: str | None,
    previous_session_token: str | None,
    meta: RequestMeta,
) -> LoggedIn:
    await ratelimit.enforce(limiter, ratelimit.LOGIN_PER_IP, meta.ip_address or "-")
    parsed = await _parse(db, wa.parse_authentication, payload, meta=meta, action="login")
    credential = parsed.credential
    challenge = parsed.client_data.challenge
    await _take_challenge(
        db,
        challenge=challenge,
        binding=binding,
        purposes=frozenset({CeremonyPurpose.LOGIN}),
        meta=meta,
        action="login",
    )
    passkey = await db.scalar(select(Passkey).where(Passkey.credential_id == credential.raw_id))

    async def fail(code: str, message: str, reason: str) -> AuthError:
        await audit.record(
            db,
            action="login",
            outcome="failure",
            reason=reason,
            meta=meta,
            person_id=passkey.person_id if passkey else None,
            details={"passkey_id": str(passkey.id)} if passkey else {},
        )
        return AuthError(code, message, reason=reason)

    if passkey is None:
        raise await fail("PASSKEY_UNKNOWN", errors.PASSKEY_UNKNOWN, "unknown_credential")
    if passkey.revoked_at is not None:
        raise await fail("PASSKEY_UNKNOWN", errors.PASSKEY_UNKNOWN, "revoked_passkey")
    await ratelimit.enforce(limiter, ratelimit.LOGIN_PER_ACCOUNT, str(passkey.person_id))
    handle = await db.get(WebAuthnUser, passkey.person_id)
    given_handle = credential.response.user_handle
    # §7.2 step 6: the user was not identified before the ceremony (usernameless), so the
    # response must name a user handle, and that user must own the credential.
    if not given_handle:
        raise await fail("VERIFICATION_FAILED", errors.VERIFICATION_FAILED, "user_handle_missing")
    if handle is None or not secrets.compare_digest(given_handle, handle.user_handle):
        raise await fail("VERIFICATION_FAILED", errors.VERIFICATION_FAILED, "user_handle_mismatch")
    try:
        assertion = wa.verify_assertion(
            parsed,
            challenge=challenge,
            rp_id=settings.rp_id,
            origin=settings.public_origin,
            public_key=passkey.public_key,
            sign_count=passkey.sign_count,
            backup_eligible=passkey.backup_eligible,
        )
    except AuthError as exc:
        if exc.reason == "sign_count":
            # §6.1.1: a counter that goes backwards suggests a cloned authenticator.
            raise await fail(
                "SIGN_COUNT_INVALID",
                "This passkey reported an unexpected counter and was refused. "
                "If this keeps happening, remove it and add it again.",
                "sign_count_regression",
            ) from exc
        raise await fail(exc.code, exc.message, exc.reason) from exc

    # §7.2 step 24: the record's new state, only now that every check has passed.
    passkey.sign_count = assertion.new_sign_count
    passkey.backed_up = assertion.backed_up  # BS drives the "only on one device" nudge
    passkey.last_used_at = utcnow()
    session = await sessions.create_session(
        db,
        person_id=passkey.person_id,
        absolute_timeout=settings.session_absolute_timeout,
        ip_address=meta.ip_address,
        user_agent=meta.user_agent,
        replaces_token=previous_session_token,
    )
    await audit.record(
        db,
        action="login",
        outcome="success",
        meta=meta,
        person_id=passkey.person_id,
        details={"passkey_id": str(passkey.id)},
    )
    return LoggedIn(person_id=passkey.person_id, passkey=passkey, session=session)
