"""Issuing, listing and revoking extracts, and the holder's share links. Scoped by person_id.

Plain async functions: the caller owns the transaction (see api.context and extracts.routes).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from api.database import utcnow
from api.errors import InvalidInput, NotFound
from auth import audit
from auth.audit import RequestMeta
from extracts import sdjwt_vc, statuslist
from extracts.keys import KeyRing
from extracts.models import Extract, ShareAccess, ShareLink, StatusCounter
from extracts.verify import EXTRACT_TYP, EXTRACT_TYPE, Verification
from records import service as records
from records.models import Diploma, Person

LANGUAGES = ("en", "nl")
MAX_SHARE_DAYS = 365
DEFAULT_SHARE_DAYS = 30
_COUNTRY = re.compile(r"^[A-Z][A-Z0-9]$")  # ISO 3166-1 alpha-2, plus Cloudflare's "T1"


@dataclass(frozen=True, slots=True)
class IssuerConfig:
    """What an extract says about its issuer, from settings."""

    issuer: str  # the `iss` claim
    public_origin: str  # where the status lists and verification page live
    valid_for: timedelta | None  # None: no `exp`


def check_language(language: str) -> None:
    if language not in LANGUAGES:
        raise InvalidInput("Language must be 'en' or 'nl'.", field="language")


async def allocate_status_index(db: AsyncSession) -> int:
    """The next free status-list index (PostgreSQL: the row lock serialises issuers)."""
    stmt = (
        update(StatusCounter)
        .where(StatusCounter.purpose == statuslist.PURPOSE)
        .values(next_index=StatusCounter.next_index + 1)
        .returning(StatusCounter.next_index)
    )
    allocated = (await db.execute(stmt)).scalar_one_or_none()
    if allocated is None:
        raise RuntimeError("extract_status_counters has no row: run `duo-abroad migrate`")
    return int(allocated) - 1


def _day(value: date) -> str:
    return value.isoformat()


def credential(
    *,
    extract_id: uuid.UUID,
    person: Person,
    diploma: Diploma,
    language: str,
    status_index: int,
    config: IssuerConfig,
    now: datetime,
) -> dict[str, Any]:
    """The signed payload: JWT claims for generic JOSE tooling, then the extract itself."""
    issued = int(now.timestamp())
    payload: dict[str, Any] = {
        "iss": config.issuer,
        "jti": str(extract_id),
        "iat": issued,
    }
    if config.valid_for is not None:
        payload["exp"] = issued + int(config.valid_for.total_seconds())
    payload |= {
        "type": EXTRACT_TYPE,
        "id": f"urn:uuid:{extract_id}",
        "issuer": config.issuer,
        "issuedAt": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "language": language,
        "holder": {
            "name": f"{person.given_names} {person.family_name}",
            "givenNames": person.given_names,
            "familyName": person.family_name,
            "dateOfBirth": _day(person.date_of_birth),
        },
        "diploma": {
            "institution": diploma.institution,
            "programme": diploma.programme,
            "programmeCode": diploma.programme_code,
            "level": diploma.level.value,
            "awardedOn": _day(diploma.awarded_on),
            "results": [
                {"subject": r.subject, "grade": r.grade, "credits": r.credits}
                for r in diploma.results
            ],
        },
        "credentialStatus": statuslist.status_entry(config.public_origin, status_index),
    }
    return payload


async def create_extract(
    db: AsyncSession,
    person_id: uuid.UUID,
    diploma_id: uuid.UUID,
    *,
    language: str,
    ring: KeyRing,
    config: IssuerConfig,
    now: datetime | None = None,
) -> Extract:
    """Sign a new extract of one of the person's own diplomas (a new version each time)."""
    check_language(language)
    try:
        diploma = await records.get_diploma(db, person_id, diploma_id)
    except NotFound as exc:
        raise NotFound("No such diploma.", field="diplomaId") from exc
    person = await records.get_person(db, person_id)
    now = now or utcnow()
    # Allocate first: on PostgreSQL the counter's row lock then also serialises the version
    # count below, so two extracts of one diploma never get the same version.
    status_index = await allocate_status_index(db)
    version = (
        await db.scalar(select(func.count()).where(Extract.diploma_id == diploma_id)) or 0
    ) + 1
    extract_id = uuid.uuid4()
    payload = credential(
        extract_id=extract_id,
        person=person,
        diploma=diploma,
        language=language,
        status_index=status_index,
        config=config,
        now=now,
    )
    raw = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    extract = Extract(
        id=extract_id,
        person_id=person_id,
        diploma_id=diploma_id,
        version=version,
        language=language,
        created_at=now,
        kid=ring.signing_kid,
        jws=ring.sign(raw, typ=EXTRACT_TYP),
        payload_sha256=hashlib.sha256(raw).hexdigest(),
        status_index=status_index,
    )
    db.add(extract)
    await db.flush()
    return extract


@dataclass(frozen=True, slots=True)
class WalletIssue:
    extract: Extract  # the credential's twin: its status entry is the credential's
    credential: sdjwt_vc.IssuedCredential


async def issue_wallet_credential(
    db: AsyncSession,
    person_id: uuid.UUID,
    diploma_id: uuid.UUID,
    *,
    holder_jwk: dict[str, Any],
    ring: KeyRing,
    config: IssuerConfig,
    now: datetime | None = None,
) -> WalletIssue:
    """The diploma as an SD-JWT VC bound to `holder_jwk`, with a new extract as its twin.

    The twin carries the same content and owns the status-list entry both point at, so the
    one revocation action there is (`duo-abroad extract revoke`) ends both, and each wallet
    credential gets an index of its own (Token Status List §12.2, linkability).
    """
    now = now or utcnow()
    person = await records.get_person(db, person_id)
    extract = await create_extract(
        db,
        person_id,
        diploma_id,
        language=person.preferred_language if person.preferred_language in LANGUAGES else "en",
        ring=ring,
        config=config,
        now=now,
    )
    diploma = await records.get_diploma(db, person_id, diploma_id)
    credential = sdjwt_vc.build_credential(
        person=person,
        diploma=diploma,
        status_index=extract.status_index,
        holder_jwk=holder_jwk,
        ring=ring,
        issuer=config.issuer,
        public_origin=config.public_origin,
        valid_for=config.valid_for,
        now=now,
    )
    return WalletIssue(extract=extract, credential=credential)


async def diplomas_with_extracts(
    db: AsyncSession, diploma_ids: Collection[uuid.UUID]
) -> set[uuid.UUID]:
    """Which of these diplomas have an extract: they stay (see Extract), so an import keeps them."""
    if not diploma_ids:
        return set()
    stmt = select(Extract.diploma_id).where(Extract.diploma_id.in_(diploma_ids)).distinct()
    return set(await db.scalars(stmt))


async def list_extracts(db: AsyncSession, person_id: uuid.UUID) -> Sequence[Extract]:
    stmt = (
        select(Extract)
        .where(Extract.person_id == person_id)
        .order_by(Extract.created_at.desc(), Extract.id)
    )
    return (await db.scalars(stmt)).all()


async def get_extract(db: AsyncSession, person_id: uuid.UUID, extract_id: uuid.UUID) -> Extract:
    """One of the person's own extracts; others' are as unknown as ids that never existed."""
    extract = await db.scalar(
        select(Extract).where(Extract.id == extract_id, Extract.person_id == person_id)
    )
    if extract is None:
        raise NotFound("No such extract.", field="id")
    return extract


async def find_extract(db: AsyncSession, extract_id: uuid.UUID) -> Extract | None:
    """Any extract by id: for staff and for verifying what the issuer issued."""
    return await db.get(Extract, extract_id)


async def revoke_extract(
    db: AsyncSession,
    extract_id: uuid.UUID,
    *,
    reason: str,
    actor: str,
    meta: RequestMeta,
    now: datetime | None = None,
    staff_id: uuid.UUID | None = None,
    staff_role: str | None = None,
) -> Extract:
    """Revoke (staff): flips its status-list bit for good, recorded in the audit trail.

    From the staff UI, `staff_id` and `staff_role` name the member and the role it was done in
    (the holder sees the role and the reason in their activity).
    """
    reason = reason.strip()
    if not reason:
        raise InvalidInput("Give a reason for the revocation.", field="reason")
    extract = await find_extract(db, extract_id)
    if extract is None:
        raise NotFound("No such extract.", field="id")
    if extract.revoked_at is None:
        extract.revoked_at = now or utcnow()
        extract.revoked_reason = reason[:500]
        await db.flush()
    await audit.record(
        db,
        action="extract.revoke",
        outcome="success",
        meta=meta,
        person_id=extract.person_id,
        actor=actor,
        staff_id=staff_id,
        reason=reason[:64],
        details={
            "extractId": str(extract.id),
            "statusIndex": extract.status_index,
            **({"staffRole": staff_role, "staffReason": reason[:500]} if staff_role else {}),
        },
    )
    return extract


# --- share links -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CreatedShareLink:
    link: ShareLink
    token: str  # exists only here and in the URL given to the holder


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def create_share_link(
    db: AsyncSession,
    person_id: uuid.UUID,
    extract_id: uuid.UUID,
    *,
    expires_in_days: int,
    meta: RequestMeta,
    now: datetime | None = None,
) -> CreatedShareLink:
    if not 1 <= expires_in_days <= MAX_SHARE_DAYS:
        raise InvalidInput(f"A share link lasts 1 to {MAX_SHARE_DAYS} days.", field="expiresInDays")
    try:
        extract = await get_extract(db, person_id, extract_id)
    except NotFound as exc:
        raise NotFound("No such extract.", field="extractId") from exc
    now = now or utcnow()
    token = secrets.token_urlsafe(24)
    link = ShareLink(
        extract_id=extract.id,
        person_id=person_id,
        token_hash=hash_token(token),
        created_at=now,
        expires_at=now + timedelta(days=expires_in_days),
        accesses=[],  # loaded (empty): the async session could not lazy-load it later
    )
    db.add(link)
    await db.flush()
    # Sharing discloses personal data to whoever holds the link: part of the audit trail.
    await audit.record(
        db,
        action="share_link.create",
        outcome="success",
        meta=meta,
        person_id=person_id,
        details={"shareLinkId": str(link.id), "extractId": str(extract.id)},
    )
    return CreatedShareLink(link=link, token=token)


async def list_share_links(db: AsyncSession, person_id: uuid.UUID) -> Sequence[ShareLink]:
    """The person's links, newest first, with their access logs (one extra statement)."""
    stmt = (
        select(ShareLink)
        .where(ShareLink.person_id == person_id)
        .options(selectinload(ShareLink.accesses))
        .order_by(ShareLink.created_at.desc(), ShareLink.id)
    )
    return (await db.scalars(stmt)).all()


async def revoke_share_link(
    db: AsyncSession,
    person_id: uuid.UUID,
    link_id: uuid.UUID,
    *,
    meta: RequestMeta,
    now: datetime | None = None,
) -> ShareLink:
    stmt = (
        select(ShareLink)
        .where(ShareLink.id == link_id, ShareLink.person_id == person_id)
        .options(selectinload(ShareLink.accesses))
    )
    link = await db.scalar(stmt)
    if link is None:
        raise NotFound("No such share link.", field="id")
    if link.revoked_at is None:
        link.revoked_at = now or utcnow()
        await db.flush()
        await audit.record(
            db,
            action="share_link.revoke",
            outcome="success",
            meta=meta,
            person_id=person_id,
            details={"shareLinkId": str(link.id)},
        )
    return link


async def open_share_link(
    db: AsyncSession, token: str, *, now: datetime | None = None
) -> ShareLink:
    """A usable link, with its extract loaded; NotFound (saying why) for any other."""
    now = now or utcnow()
    link = await db.scalar(
        select(ShareLink)
        .where(ShareLink.token_hash == hash_token(token))
        .options(selectinload(ShareLink.extract))
    )
    if link is None:
        raise NotFound("There is no such share link.", field="token")
    # The person who received the link may learn that it ended, and when: nothing else.
    if link.revoked_at is not None:
        raise NotFound("This share link was withdrawn by its holder.", field="token")
    if now >= link.expires_at:
        raise NotFound(
            f"This share link expired on {link.expires_at:%Y-%m-%d}. Ask the holder for a new one.",
            field="token",
        )
    return link


async def record_access(
    db: AsyncSession,
    link_id: uuid.UUID,
    *,
    verification: Verification,
    country: str | None,
    now: datetime | None = None,
) -> None:
    """Add an entry to the link's access log (what the holder sees)."""
    country = (country or "").strip().upper()
    db.add(
        ShareAccess(
            share_link_id=link_id,
            accessed_at=now or utcnow(),
            country=country if _COUNTRY.match(country) else None,
            verified=verification.valid,
            result=verification.result.value,
        )
    )
    await db.flush()
