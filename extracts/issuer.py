"""The running app's issuer: its keys, its signed status lists, and online verification.

One per app (create_app puts it in app.state["extract_issuer"]): it holds real state, the key
ring (loaded once) and the signed status lists (re-signed only when they change).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.database import utcnow
from api.errors import InvalidInput
from api.settings import Settings
from extracts import sdjwt_vc, statuslist
from extracts.keys import IssuerKeys, KeyRing
from extracts.service import IssuerConfig
from extracts.statuslist import PublishedList, StatusLists
from extracts.verify import (
    EXTRACT_TYP,
    Signed,
    Verification,
    check_claims,
    check_signature,
    decide,
    refused,
    status_reference,
)

log = structlog.get_logger("extracts")
_LIST_URL = re.compile(r"/extracts/status/([1-9][0-9]{0,5})$")
_TOKEN_LIST_URL = re.compile(r"/extracts/token-status/([1-9][0-9]{0,5})$")


def issuer_config(settings: Settings) -> IssuerConfig:
    days = settings.extract_valid_days
    return IssuerConfig(
        issuer=settings.extract_issuer or settings.public_origin,
        public_origin=settings.public_origin,
        valid_for=timedelta(days=days) if days else None,
    )


class ExtractIssuer:
    def __init__(
        self,
        settings: Settings,
        session_factory: async_sessionmaker[AsyncSession] | None = None,
    ) -> None:
        """Raises SettingsError in production without configured keys (refusing to start)."""
        self.config = issuer_config(settings)
        self.keys = IssuerKeys(settings, session_factory)
        self.status_lists = StatusLists()

    async def ring(self) -> KeyRing:
        return await self.keys.ring()

    async def warm_up(self) -> None:
        """Load (in development: create) the key ring at startup, before any request.

        On SQLite a request's read snapshot taken before the new key's commit could not be
        upgraded to a write afterwards ("database is locked"), so the first use must not
        happen mid-request. An unmigrated database only logs: the ring then loads lazily.
        """
        try:
            await self.ring()
        except Exception as exc:
            log.warning("extracts.keys_not_loaded", error=repr(exc))

    async def status_list(self, db: AsyncSession, number: int) -> PublishedList:
        return await self.status_lists.get(
            db,
            ring=await self.ring(),
            number=number,
            issuer=self.config.issuer,
            public_origin=self.config.public_origin,
        )

    async def token_status_list(self, db: AsyncSession, number: int) -> PublishedList:
        """List N as an IETF Status List Token (the same statuses, its own encoding)."""
        return await self.status_lists.get(
            db,
            ring=await self.ring(),
            number=number,
            issuer=self.config.issuer,
            public_origin=self.config.public_origin,
            token_format=True,
        )

    async def verify_presentation(
        self,
        db: AsyncSession,
        token: str,
        *,
        audience: str | None = None,
        nonce: str | None = None,
        now: datetime | None = None,
    ) -> sdjwt_vc.Verification:
        """An SD-JWT VC presentation: signature, disclosures, key binding, then its status."""
        ring = await self.ring()
        now = now or utcnow()
        checked = sdjwt_vc.check_presentation(
            token, ring.public_key, now=now, audience=audience, nonce=nonce
        )
        if not isinstance(checked, sdjwt_vc.Checked):
            return checked
        match = _TOKEN_LIST_URL.search(checked.status_uri)
        if match is None or checked.status_index >= statuslist.LIST_SIZE:
            return sdjwt_vc.refused_status(checked, now, "Its status list is not one of DUO's.")
        published = await self.token_status_list(db, int(match.group(1)))
        status = statuslist.token_status(published.bits, checked.status_index)
        return sdjwt_vc.decide(checked, revoked=status != 0, now=now, status_list_issued_at=now)

    async def verify(
        self, db: AsyncSession, token: str, *, now: datetime | None = None
    ) -> Verification:
        """Signature against the key ring, revocation against the current status list."""
        ring = await self.ring()
        now = now or utcnow()
        checked = check_signature(token, ring.public_key, typ=EXTRACT_TYP)
        if not isinstance(checked, Signed):
            return refused(checked, now=now, token=token)
        problem = check_claims(checked, issuer=self.config.issuer)
        if problem is not None:
            return refused(problem, now=now, token=token)
        url, position = status_reference(checked.payload)
        # The signature proves we issued it, so the list is ours even if PUBLIC_ORIGIN moved.
        match = _LIST_URL.search(url)
        if match is None or not 0 <= position < statuslist.LIST_SIZE:
            raise InvalidInput("This extract's status entry is not one of ours.", field="jws")
        published = await self.status_list(db, int(match.group(1)))
        # The bits were read from the database just now, so the status is as of `now`.
        return decide(
            checked,
            revoked=statuslist.is_set(published.bits, position),
            now=now,
            status_list_issued_at=now,
        )
