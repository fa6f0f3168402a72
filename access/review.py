"""DUO's side of access requests: the helpdesk's queue, the candidates, claims and decisions.

Plain async functions for the staff UI (staff/): the caller passes the staff member's id, which
every decision and the audit log carry. Two helpdesk members never decide the same request: a
claim (CLAIM_TTL) reserves it, and every decision is one conditional UPDATE on an open request
that nobody else holds, so of two racing decisions exactly one changes the row; the other gets
CLAIM_CONFLICT or ALREADY_DECIDED, also across processes.
"""

from __future__ import annotations

import re
import statistics
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from access.errors import AccessError, already_decided
from access.models import (
    DECIDED_STATUSES,
    DECISIONS,
    OPEN_STATUSES,
    AccessRequest,
    AccessRequestEvent,
    EventKind,
    RequestStatus,
)
from access.service import clean_message, list_files
from api.database import utcnow
from api.errors import NotFound
from api.pagination import Page, paginate
from api.settings import Settings
from auth import audit, manage, notices
from auth.audit import RequestMeta
from forms.models import FormAttachment
from records.models import Person

CLAIM_TTL = timedelta(minutes=15)
STATS_WINDOW = timedelta(days=30)
MAX_SAME_BIRTHDAY = 500  # persons read per date of birth when matching names (~50 per 1M)
# Name particles that records and passports place differently ("van der Berg", "Berg, van der").
_PARTICLES = frozenset(
    {
        "van", "von", "der", "den", "de", "del", "della", "di", "da", "dos", "das", "du", "le",
        "la", "ten", "ter", "te", "in", "t", "al", "el", "bin", "ibn",
    }
)  # fmt: skip
# Letters that Unicode does not decompose to a Latin base letter.
_FOLD = str.maketrans(
    {"\u0131": "i", "ø": "o", "ł": "l", "đ": "d", "æ": "ae", "œ": "oe", "þ": "th"}
)


def actor(staff_id: uuid.UUID) -> str:
    return f"staff:{staff_id}"


def _details(request_id: uuid.UUID, staff_id: uuid.UUID) -> dict[str, object]:
    # The role the member acted in: a person shown the event sees "DUO staff (helpdesk)".
    return {
        "access_request_id": str(request_id),
        "staff_id": str(staff_id),
        "staffRole": "helpdesk",
    }


# --- who is this? candidates in DUO's records --------------------------------------------------


def normalize_name(name: str) -> str:
    """Case, accents, hyphens and apostrophes aside: "Zoë O'Neil-Şahin" -> "zoe o neil sahin"."""
    decomposed = unicodedata.normalize("NFKD", name.casefold().translate(_FOLD))
    letters = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(re.sub(r"[\W_]+", " ", letters).split())


def names_match(full_name: str, given_names: str, family_name: str) -> bool:
    """The record's family name (particles aside) and first given name are in the full name."""
    words = set(normalize_name(full_name).split())
    family = [w for w in normalize_name(family_name).split() if w not in _PARTICLES]
    given = normalize_name(given_names).split()
    return bool(family) and set(family) <= words and bool(given) and given[0] in words


@dataclass(frozen=True, slots=True)
class Candidate:
    """A person in DUO's records who may be the one asking, and how well they match."""

    person: Person
    by_customer_number: bool
    name_matches: bool
    date_of_birth_matches: bool
    passkeys: int  # active passkeys: > 0 means "account has N passkeys: possible takeover"

    @property
    def strong(self) -> bool:
        return self.name_matches and self.date_of_birth_matches


async def candidates_for(
    db: AsyncSession, requests: Sequence[AccessRequest]
) -> dict[uuid.UUID, list[Candidate]]:
    """Candidates of many requests in three statements (a queue page)."""
    numbers = {r.customer_number for r in requests if r.customer_number}
    births = {r.date_of_birth for r in requests}
    people: dict[uuid.UUID, Person] = {}
    if numbers:
        found = await db.scalars(select(Person).where(Person.customer_number.in_(numbers)))
        people.update((p.id, p) for p in found)
    if births:
        found = await db.scalars(
            select(Person)
            .where(Person.date_of_birth.in_(births))
            .limit(MAX_SAME_BIRTHDAY * len(births))
        )
        people.update((p.id, p) for p in found)
    passkeys = await manage.active_passkey_counts(db, list(people))
    result: dict[uuid.UUID, list[Candidate]] = {}
    for request in requests:
        matches = []
        for person in people.values():
            by_number = request.customer_number == person.customer_number
            name = names_match(request.full_name, person.given_names, person.family_name)
            birth = request.date_of_birth == person.date_of_birth
            if by_number or (name and birth):
                matches.append(Candidate(person, by_number, name, birth, passkeys[person.id]))
        # Customer number first, then the best match; stable for the same data.
        matches.sort(key=lambda c: (not c.by_customer_number, not c.strong, c.person.id))
        result[request.id] = matches
    return result


async def find_candidates(db: AsyncSession, request: AccessRequest) -> list[Candidate]:
    return (await candidates_for(db, [request]))[request.id]


# --- the queue --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueueItem:
    request: AccessRequest
    waiting: timedelta
    candidates: list[Candidate]

    @property
    def claimed(self) -> bool:
        return self.request.claimed_until is not None and self.request.claimed_until > utcnow()

    @property
    def takeover_passkeys(self) -> int:
        """The most passkeys any candidate's account has (0: none has an account yet)."""
        return max((c.passkeys for c in self.candidates), default=0)


async def list_queue(
    db: AsyncSession,
    *,
    country: str | None = None,
    min_age: timedelta | None = None,
    max_age: timedelta | None = None,
    first: int = 50,
    after: str | None = None,
    now: datetime | None = None,
) -> Page[QueueItem]:
    """Open requests, oldest first (by when they last entered the queue), filtered."""
    now = now or utcnow()
    conditions: list[ColumnElement[bool]] = [AccessRequest.status.in_(OPEN_STATUSES)]
    if country:
        conditions.append(AccessRequest.country == country.strip().upper())
    if min_age is not None:
        conditions.append(AccessRequest.queued_at <= now - min_age)
    if max_age is not None:
        conditions.append(AccessRequest.queued_at >= now - max_age)
    page = await paginate(
        db,
        select(AccessRequest).where(*conditions),
        order_column=AccessRequest.queued_at,  # type: ignore[arg-type]  # set when queued
        id_column=AccessRequest.id,
        first=first,
        after=after,
        descending=False,
    )
    requests: list[AccessRequest] = list(page.items)
    candidates = await candidates_for(db, requests)
    items = [QueueItem(r, now - (r.queued_at or now), candidates[r.id]) for r in requests]
    return Page(items=items, has_next_page=page.has_next_page, end_cursor=page.end_cursor)


@dataclass(frozen=True, slots=True)
class QueueStats:
    open: int
    longest_wait: timedelta | None
    decisions: int  # within the window
    median: timedelta | None  # time in the queue before a decision, within the window
    p90: timedelta | None
    window: timedelta


async def queue_stats(
    db: AsyncSession, *, window: timedelta = STATS_WINDOW, now: datetime | None = None
) -> QueueStats:
    """Open requests, the longest wait, and the median and 90th percentile time to a decision.

    A decision is approve, refuse or "more information needed"; the time is from when the
    request (last) entered the queue, so time spent waiting for the person does not count.
    """
    now = now or utcnow()
    open_count, oldest = (
        await db.execute(
            select(func.count(), func.min(AccessRequest.queued_at)).where(
                AccessRequest.status.in_(OPEN_STATUSES)
            )
        )
    ).one()
    waits: list[int] = sorted(
        w
        for w in (
            await db.scalars(
                select(AccessRequestEvent.waited_seconds).where(
                    AccessRequestEvent.kind.in_(DECISIONS),
                    AccessRequestEvent.occurred_at >= now - window,
                    AccessRequestEvent.waited_seconds.is_not(None),
                )
            )
        ).all()
        if w is not None
    )
    median = p90 = None
    if waits:
        median = timedelta(seconds=statistics.median(waits))
        # "inclusive": the 90th percentile lies within the observed waits (few decisions).
        tenths = statistics.quantiles(waits, n=10, method="inclusive") if len(waits) > 1 else []
        p90 = timedelta(seconds=tenths[8] if tenths else waits[0])
    return QueueStats(
        open=int(open_count),
        longest_wait=(now - oldest) if oldest is not None else None,
        decisions=len(waits),
        median=median,
        p90=p90,
        window=window,
    )


# --- one request, opened by the helpdesk -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RequestDetail:
    request: AccessRequest
    files: list[FormAttachment]  # complete ones, oldest first (documents and videos)
    events: list[AccessRequestEvent]
    candidates: list[Candidate]


async def get_request(db: AsyncSession, request_id: uuid.UUID) -> RequestDetail:
    request = await db.get(AccessRequest, request_id)
    if request is None or request.status is RequestStatus.DRAFT:
        raise NotFound("No such access request.", field="id")
    files = [f for f in await list_files(db, request.id) if f.completed_at is not None]
    events = (
        await db.scalars(
            select(AccessRequestEvent)
            .where(AccessRequestEvent.request_id == request.id)
            .order_by(AccessRequestEvent.occurred_at, AccessRequestEvent.id)
        )
    ).all()
    return RequestDetail(request, files, list(events), await find_candidates(db, request))


async def get_file(db: AsyncSession, request_id: uuid.UUID, file_id: uuid.UUID) -> FormAttachment:
    """A complete file of a submitted request, for the staff-only download route."""
    row = await db.scalar(
        select(FormAttachment)
        .join(AccessRequest, AccessRequest.id == FormAttachment.access_request_id)
        .where(
            FormAttachment.id == file_id,
            FormAttachment.access_request_id == request_id,
            FormAttachment.completed_at.is_not(None),
            AccessRequest.status != RequestStatus.DRAFT,
        )
    )
    if row is None:
        raise NotFound("No such file.", field="fileId")
    return row


# --- claims and decisions ---------------------------------------------------------------------


def _free_for(staff_id: uuid.UUID, now: datetime) -> ColumnElement[bool]:
    """Nobody else holds a live claim on it."""
    return or_(
        AccessRequest.claimed_by.is_(None),
        AccessRequest.claimed_by == staff_id,
        AccessRequest.claimed_until <= now,
    )


async def _why_not(db: AsyncSession, request_id: uuid.UUID) -> AccessError | NotFound:
    """After a conditional UPDATE changed nothing: the reason, for the helpdesk member."""
    row = await db.scalar(
        select(AccessRequest)
        .where(AccessRequest.id == request_id)
        .execution_options(populate_existing=True)
    )
    if row is None or row.status is RequestStatus.DRAFT:
        return NotFound("No such access request.", field="id")
    if row.status in DECIDED_STATUSES:
        return already_decided(row.status.value)
    if row.status is RequestStatus.MORE_INFO:
        return AccessError(
            409,
            "WAITING_FOR_PERSON",
            "DUO asked the person for more information; their answer is not in yet.",
            requestStatus=row.status.value.upper(),
        )
    return AccessError(
        409,
        "CLAIM_CONFLICT",
        "Another helpdesk member is working on this request.",
        claimedBy=str(row.claimed_by),
        claimedUntil=row.claimed_until.isoformat() if row.claimed_until else None,
    )


async def claim(
    db: AsyncSession,
    request_id: uuid.UUID,
    *,
    staff_id: uuid.UUID,
    meta: RequestMeta | None = None,
    now: datetime | None = None,
) -> AccessRequest:
    """Reserve an open request for CLAIM_TTL (renewed by its holder); else CLAIM_CONFLICT."""
    now = now or utcnow()
    before = await db.scalar(
        select(AccessRequest.claimed_by).where(
            AccessRequest.id == request_id, AccessRequest.claimed_until > now
        )
    )
    result = await db.execute(
        update(AccessRequest)
        .where(
            AccessRequest.id == request_id,
            AccessRequest.status.in_(OPEN_STATUSES),
            _free_for(staff_id, now),
        )
        .values(status=RequestStatus.IN_REVIEW, claimed_by=staff_id, claimed_until=now + CLAIM_TTL)
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        raise await _why_not(db, request_id)
    if before != staff_id:  # a renewal by the holder is not news
        db.add(
            AccessRequestEvent(
                request_id=request_id, occurred_at=now, kind=EventKind.CLAIMED, staff_id=staff_id
            )
        )
        await audit.record(
            db,
            action="access_request.claim",
            outcome="success",
            meta=meta or RequestMeta(),
            actor=actor(staff_id),
            staff_id=staff_id,
            details=_details(request_id, staff_id),
        )
    return await _fresh(db, request_id)


async def release(
    db: AsyncSession,
    request_id: uuid.UUID,
    *,
    staff_id: uuid.UUID,
    now: datetime | None = None,
) -> None:
    """Give a claim back (the member moves on without deciding)."""
    now = now or utcnow()
    result = await db.execute(
        update(AccessRequest)
        .where(AccessRequest.id == request_id, AccessRequest.claimed_by == staff_id)
        .values(claimed_by=None, claimed_until=None)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount:  # type: ignore[attr-defined]
        db.add(
            AccessRequestEvent(
                request_id=request_id, occurred_at=now, kind=EventKind.RELEASED, staff_id=staff_id
            )
        )
        await db.flush()


async def _fresh(db: AsyncSession, request_id: uuid.UUID) -> AccessRequest:
    row = await db.scalar(
        select(AccessRequest)
        .where(AccessRequest.id == request_id)
        .execution_options(populate_existing=True)
    )
    if row is None:
        raise NotFound("No such access request.", field="id")
    return row


async def _decide(
    db: AsyncSession,
    request_id: uuid.UUID,
    *,
    staff_id: uuid.UUID,
    kind: EventKind,
    values: dict[str, object],
    message: str | None,
    person_id: uuid.UUID | None,
    meta: RequestMeta | None,
    now: datetime,
) -> AccessRequest:
    """One conditional UPDATE: the request is open and nobody else holds it; then history."""
    queued_at = await db.scalar(
        select(AccessRequest.queued_at).where(AccessRequest.id == request_id)
    )
    result = await db.execute(
        update(AccessRequest)
        .where(
            AccessRequest.id == request_id,
            AccessRequest.status.in_(OPEN_STATUSES),
            _free_for(staff_id, now),
        )
        .values(claimed_by=None, claimed_until=None, **values)
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        raise await _why_not(db, request_id)
    waited = int((now - queued_at).total_seconds()) if queued_at else None
    db.add(
        AccessRequestEvent(
            request_id=request_id,
            occurred_at=now,
            kind=kind,
            staff_id=staff_id,
            message=message,
            waited_seconds=waited,
        )
    )
    await audit.record(
        db,
        action=f"access_request.{kind.value}",
        outcome="success",
        meta=meta or RequestMeta(),
        person_id=person_id,
        actor=actor(staff_id),
        staff_id=staff_id,
        details=_details(request_id, staff_id),
    )
    return await _fresh(db, request_id)


async def approve(
    db: AsyncSession,
    request_id: uuid.UUID,
    *,
    staff_id: uuid.UUID,
    person_id: uuid.UUID,
    settings: Settings,
    meta: RequestMeta | None = None,
    now: datetime | None = None,
) -> AccessRequest:
    """Bind the request to a person: the requesting browser may now register their passkey."""
    now = now or utcnow()
    if await db.get(Person, person_id) is None:
        raise NotFound("No such person.", field="personId")
    row = await _decide(
        db,
        request_id,
        staff_id=staff_id,
        kind=EventKind.APPROVED,
        values={
            "status": RequestStatus.APPROVED,
            "person_id": person_id,
            "decided_at": now,
            "decided_by": staff_id,
            "approval_expires_at": now + settings.access_approval_validity,
            "staff_message": None,
        },
        message=None,
        person_id=person_id,
        meta=meta,
        now=now,
    )
    # If the account is already in use, its owner hears of it at once (a takeover attempt).
    await notices.announce(db, person_id, "access.approved")
    return row


async def withdraw_approvals(
    db: AsyncSession, person_id: uuid.UUID, *, now: datetime | None = None
) -> int:
    """A suspected takeover (staff revoke everything): approvals of requests for this person
    that no browser has redeemed yet stop at once, like their passkeys and activation codes.

    The approval ends as if it had run out (the requesting browser is told it expired, and
    nothing about why); the count goes into the caller's audit event.
    """
    now = now or utcnow()
    result = await db.execute(
        update(AccessRequest)
        .where(
            AccessRequest.person_id == person_id,
            AccessRequest.status == RequestStatus.APPROVED,
            AccessRequest.approval_expires_at > now,
        )
        .values(approval_expires_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def ask_more_info(
    db: AsyncSession,
    request_id: uuid.UUID,
    *,
    staff_id: uuid.UUID,
    message: str,
    meta: RequestMeta | None = None,
    now: datetime | None = None,
) -> AccessRequest:
    """A question the person sees in the app; they answer (and may upload again)."""
    text = clean_message(message)
    return await _decide(
        db,
        request_id,
        staff_id=staff_id,
        kind=EventKind.MORE_INFO,
        values={"status": RequestStatus.MORE_INFO, "staff_message": text},
        message=text,
        person_id=None,
        meta=meta,
        now=now or utcnow(),
    )


async def refuse(
    db: AsyncSession,
    request_id: uuid.UUID,
    *,
    staff_id: uuid.UUID,
    reason: str,
    meta: RequestMeta | None = None,
    now: datetime | None = None,
) -> AccessRequest:
    """Refuse, with a reason the person sees."""
    text = clean_message(reason, field="reason")
    now = now or utcnow()
    return await _decide(
        db,
        request_id,
        staff_id=staff_id,
        kind=EventKind.REFUSED,
        values={
            "status": RequestStatus.REFUSED,
            "staff_message": text,
            "decided_at": now,
            "decided_by": staff_id,
        },
        message=text,
        person_id=None,
        meta=meta,
        now=now,
    )


async def queue_countries(db: AsyncSession) -> list[str]:
    """Countries with open requests, for the queue's filter."""
    rows = await db.scalars(
        select(AccessRequest.country)
        .where(AccessRequest.status.in_(OPEN_STATUSES))
        .group_by(AccessRequest.country)
        .order_by(AccessRequest.country)
    )
    return list(rows.all())
