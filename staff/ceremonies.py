"""Staff passkeys: enrolment through a one-time invite link, and usernameless sign-in.

The same rules as persons' ceremonies (auth/ceremonies.py), in the staff realm: RP ID and
origin come from STAFF_ORIGIN (WebAuthn L3 §7.1 steps 9 and 14, §7.2 steps 12 and 15), user
verification is required (§7.1 step 16, §7.2 step 17), challenges are bound to the browser
that asked, expire after five minutes and are deleted on first use, success or failure
(§13.4.3: py_webauthn does not track them). The checks py_webauthn leaves to its caller are
in auth.webauthn and below (README, "What the server checks, step by step").
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.database import utcnow
from api.settings import Settings
from auth import codes, ratelimit
from auth import webauthn as wa
from auth.audit import RequestMeta
from auth.errors import AuthError
from auth.names import passkey_name
from auth.ratelimit import Limit, RateLimiter
from staff import audit, sessions
from staff.models import (
    StaffCeremony,
    StaffChallenge,
    StaffInvite,
    StaffMember,
    StaffPasskey,
)
from staff.sessions import IssuedStaffSession

T = TypeVar("T")
CHALLENGE_TTL = timedelta(minutes=5)
# Staff are few and sit behind DUO's addresses: tight limits cost nobody anything.
LOGIN_OPTIONS_PER_IP = Limit("staff-login-options-ip", 120, 60)
LOGIN_PER_IP = Limit("staff-login-ip", 30, 60)
ENROL_PER_IP = Limit("staff-enrol-ip", 20, 15 * 60)

INVITE_INVALID = "This enrolment link is not valid any more. Ask an administrator for a new one."
CEREMONY_FAILED = "This sign-in attempt expired or was already used. Please try again."
PASSKEY_UNKNOWN = "This passkey is not registered for DUO staff (or it was removed)."


@dataclass(frozen=True, slots=True)
class Started:
    options_json: str
    binding: str  # the ceremony cookie's value


@dataclass(frozen=True, slots=True)
class SignedIn:
    staff_id: uuid.UUID
    session: IssuedStaffSession


async def _pending(
    db: AsyncSession, *, challenge: bytes, purpose: StaffCeremony, invite_id: uuid.UUID | None
) -> str:
    binding = codes.new_token()
    now = utcnow()
    await db.execute(delete(StaffChallenge).where(StaffChallenge.expires_at < now))
    db.add(
        StaffChallenge(
            challenge_hash=codes.token_digest(challenge.hex()),
            binding_hash=codes.token_digest(binding),
            purpose=purpose,
            invite_id=invite_id,
            created_at=now,
            expires_at=now + CHALLENGE_TTL,
        )
    )
    await db.flush()
    return binding


async def _usable_invite(
    db: AsyncSession, token: str, meta: RequestMeta
) -> tuple[StaffInvite, StaffMember]:
    invite = await db.scalar(
        select(StaffInvite).where(StaffInvite.token_hash == codes.token_digest(token))
    )
    member = await db.get(StaffMember, invite.staff_id) if invite else None
    reason = None
    if invite is None or member is None:
        reason = "unknown_invite"
    elif invite.used_at is not None:
        reason = "used"
    elif invite.revoked_at is not None:
        reason = "replaced"
    elif utcnow() >= invite.expires_at:
        reason = "expired"
    elif member.deactivated_at is not None:
        reason = "deactivated"
    if reason is not None or invite is None or member is None:
        await audit.record(
            db,
            staff=None,
            staff_id=member.id if member else None,
            action="staff.enrol",
            outcome="failure",
            reason=reason,
            meta=meta,
        )
        raise AuthError("INVITE_INVALID", INVITE_INVALID, reason=reason or "invalid")
    return invite, member


async def start_enrolment(
    db: AsyncSession,
    *,
    settings: Settings,
    limiter: RateLimiter,
    token: str,
    meta: RequestMeta,
) -> Started:
    """Registration options for the member an invite link was made for."""
    await ratelimit.enforce(limiter, ENROL_PER_IP, meta.ip_address or "-")
    invite, member = await _usable_invite(db, token, meta)
    existing = (
        await db.scalars(
            select(StaffPasskey.credential_id).where(
                StaffPasskey.staff_id == member.id, StaffPasskey.revoked_at.is_(None)
            )
        )
    ).all()
    options = wa.registration_options(
        rp_id=settings.staff_rp_id,
        user_handle=member.user_handle,
        user_name=member.name,
        display_name=f"{member.name} (DUO staff)",
        exclude=list(existing),
    )
    binding = await _pending(
        db, challenge=options.challenge, purpose=StaffCeremony.ENROL, invite_id=invite.id
    )
    return Started(options_json=options.json, binding=binding)


async def _parse(
    db: AsyncSession, parse: Callable[[Any], T], payload: Any, *, meta: RequestMeta, action: str
) -> T:
    """Read the browser's response strictly; a malformed one is refused and audited."""
    try:
        return parse(payload)
    except AuthError as exc:
        await audit.record(
            db,
            staff=None,
            action=action,
            outcome="failure",
            reason=exc.reason,
            meta=meta,
            details=exc.details or None,
        )
        raise


async def _take_challenge(
    db: AsyncSession,
    *,
    challenge: bytes,
    binding: str | None,
    purpose: StaffCeremony,
    meta: RequestMeta,
    action: str,
) -> StaffChallenge:
    row = await db.scalar(
        select(StaffChallenge).where(
            StaffChallenge.challenge_hash == codes.token_digest(challenge.hex())
        )
    )
    reason = None
    if row is None:
        reason = "unknown_or_used_challenge"
    else:
        # Delete first and check the count: of two racing replays, only one gets the row.
        deleted = await db.execute(delete(StaffChallenge).where(StaffChallenge.id == row.id))
        if not getattr(deleted, "rowcount", 0):
            reason = "unknown_or_used_challenge"
        elif utcnow() >= row.expires_at:
            reason = "expired_challenge"
        elif row.purpose is not purpose:
            reason = "wrong_ceremony"
        elif binding is None or codes.token_digest(binding) != row.binding_hash:
            reason = "challenge_from_another_browser"
    if reason is not None or row is None:
        await audit.record(
            db, staff=None, action=action, outcome="failure", reason=reason, meta=meta
        )
        raise AuthError("CHALLENGE_INVALID", CEREMONY_FAILED, reason=reason or "invalid")
    return row


async def finish_enrolment(
    db: AsyncSession,
    *,
    settings: Settings,
    payload: Any,
    binding: str | None,
    previous_session_token: str | None,
    meta: RequestMeta,
) -> SignedIn:
    """Register the member's passkey, spend the invite, sign the member in."""
    parsed = await _parse(db, wa.parse_registration, payload, meta=meta, action="staff.enrol")
    challenge = parsed.client_data.challenge
    pending = await _take_challenge(
        db,
        challenge=challenge,
        binding=binding,
        purpose=StaffCeremony.ENROL,
        meta=meta,
        action="staff.enrol",
    )
    invite = await db.get(StaffInvite, pending.invite_id) if pending.invite_id else None
    member = await db.get(StaffMember, invite.staff_id) if invite else None

    async def fail(code: str, message: str, reason: str) -> AuthError:
        await audit.record(
            db,
            staff=None,
            staff_id=member.id if member else None,
            action="staff.enrol",
            outcome="failure",
            reason=reason,
            meta=meta,
        )
        return AuthError(code, message, reason=reason)

    if invite is None or member is None:
        raise await fail("INVITE_INVALID", INVITE_INVALID, "unknown_invite")
    try:
        new = wa.verify_registration(
            parsed,
            challenge=challenge,
            rp_id=settings.staff_rp_id,
            origin=settings.staff_public_origin,
        )
    except AuthError as exc:
        raise await fail(exc.code, exc.message, exc.reason) from exc
    if await db.scalar(
        select(StaffPasskey.id).where(StaffPasskey.credential_id == new.credential_id)
    ):
        raise await fail(
            "PASSKEY_ALREADY_REGISTERED",
            "This passkey is already registered.",
            "duplicate_credential",
        )
    now = utcnow()
    # Spent with a conditional UPDATE in this transaction: two browsers racing with one link
    # cannot both enrol, and a link that expired or was replaced meanwhile does not work.
    spent = await db.execute(
        update(StaffInvite)
        .where(
            StaffInvite.id == invite.id,
            StaffInvite.used_at.is_(None),
            StaffInvite.revoked_at.is_(None),
            StaffInvite.expires_at > now,
        )
        .values(used_at=now)
    )
    if not getattr(spent, "rowcount", 0) or member.deactivated_at is not None:
        raise await fail("INVITE_INVALID", INVITE_INVALID, "invite_already_used")
    passkey = StaffPasskey(
        staff_id=member.id,
        credential_id=new.credential_id,
        public_key=new.public_key,
        sign_count=new.sign_count,
        aaguid=new.aaguid,
        name=passkey_name(new.aaguid, meta.user_agent),
        backup_eligible=new.backup_eligible,
        backed_up=new.backed_up,
        created_at=now,
    )
    db.add(passkey)
    if member.enrolled_at is None:
        member.enrolled_at = now
    await db.flush()
    session = await sessions.create_session(
        db,
        staff_id=member.id,
        ip_address=meta.ip_address,
        user_agent=meta.user_agent,
        replaces_token=previous_session_token,
        now=now,
    )
    await audit.record(
        db,
        staff=None,
        staff_id=member.id,
        action="staff.enrol",
        meta=meta,
        details={"passkeyId": str(passkey.id), "inviteId": str(invite.id)},
    )
    return SignedIn(staff_id=member.id, session=session)


async def start_login(
    db: AsyncSession, *, settings: Settings, limiter: RateLimiter, meta: RequestMeta
) -> Started:
    await ratelimit.enforce(limiter, LOGIN_OPTIONS_PER_IP, meta.ip_address or "-")
    options = wa.authentication_options(rp_id=settings.staff_rp_id)
    binding = await _pending(
        db, challenge=options.challenge, purpose=StaffCeremony.LOGIN, invite_id=None
    )
    return Started(options_json=options.json, binding=binding)


async def finish_login(
    db: AsyncSession,
    *,
    settings: Settings,
    limiter: RateLimiter,
    payload: Any,
    binding: str | None,
    previous_session_token: str | None,
    meta: RequestMeta,
) -> SignedIn:
    await ratelimit.enforce(limiter, LOGIN_PER_IP, meta.ip_address or "-")
    parsed = await _parse(db, wa.parse_authentication, payload, meta=meta, action="staff.login")
    credential = parsed.credential
    challenge = parsed.client_data.challenge
    await _take_challenge(
        db,
        challenge=challenge,
        binding=binding,
        purpose=StaffCeremony.LOGIN,
        meta=meta,
        action="staff.login",
    )
    passkey = await db.scalar(
        select(StaffPasskey).where(StaffPasskey.credential_id == credential.raw_id)
    )
    member = await db.get(StaffMember, passkey.staff_id) if passkey else None

    async def fail(code: str, message: str, reason: str) -> AuthError:
        await audit.record(
            db,
            staff=None,
            staff_id=member.id if member else None,
            action="staff.login",
            outcome="failure",
            reason=reason,
            meta=meta,
        )
        return AuthError(code, message, reason=reason)

    if passkey is None or member is None:
        raise await fail("PASSKEY_UNKNOWN", PASSKEY_UNKNOWN, "unknown_credential")
    if passkey.revoked_at is not None:
        raise await fail("PASSKEY_UNKNOWN", PASSKEY_UNKNOWN, "revoked_passkey")
    if member.deactivated_at is not None:
        raise await fail("PASSKEY_UNKNOWN", PASSKEY_UNKNOWN, "deactivated")
    given_handle = credential.response.user_handle
    # §7.2 step 6: usernameless, so the response must name a user handle, the owner's.
    if not given_handle:
        raise await fail(
            "VERIFICATION_FAILED", "Your passkey could not be verified.", "user_handle_missing"
        )
    if not secrets.compare_digest(given_handle, member.user_handle):
        raise await fail(
            "VERIFICATION_FAILED", "Your passkey could not be verified.", "user_handle_mismatch"
        )
    try:
        assertion = wa.verify_assertion(
            parsed,
            challenge=challenge,
            rp_id=settings.staff_rp_id,
            origin=settings.staff_public_origin,
            public_key=passkey.public_key,
            sign_count=passkey.sign_count,
            backup_eligible=passkey.backup_eligible,
        )
    except AuthError as exc:
        reason = "sign_count_regression" if exc.reason == "sign_count" else exc.reason
        raise await fail(exc.code, exc.message, reason) from exc
    now = utcnow()
    # §7.2 step 24, after every check; BE only where it was never recorded (migration 0009).
    passkey.sign_count = assertion.new_sign_count
    passkey.backed_up = assertion.backed_up
    if passkey.backup_eligible is None:
        passkey.backup_eligible = assertion.backup_eligible
    passkey.last_used_at = now
    session = await sessions.create_session(
        db,
        staff_id=member.id,
        ip_address=meta.ip_address,
        user_agent=meta.user_agent,
        replaces_token=previous_session_token,
        now=now,
    )
    await audit.record(
        db,
        staff=None,
        staff_id=member.id,
        action="staff.login",
        meta=meta,
        details={"passkeyId": str(passkey.id)},
    )
    return SignedIn(staff_id=member.id, session=session)
