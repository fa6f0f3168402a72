"""The issuer's ES256 keys: the newest signs, every listed key verifies (rotation).

Production reads private JWKs from EXTRACT_SIGNING_KEYS (a JSON array, newest first); keys
whose private part has been destroyed may stay in the list as public JWKs, so extracts signed
with them keep verifying. Development and test generate a key on first use and keep it in the
database (extracts.models.IssuerKey). joserfc stays inside this module and extracts.verify.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from joserfc import jws
from joserfc.jwk import ECKey
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api import es256
from api.settings import Settings, SettingsError
from extracts.models import IssuerKey as StoredKey

ALGORITHM = "ES256"  # ECDSA P-256 with SHA-256, RFC 7518 §3.4
CURVE = "P-256"


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str  # RFC 7638 JWK thumbprint (SHA-256) of the public key
    public: ECKey
    private: ECKey | None  # None for a retired key that only verifies

    @property
    def public_jwk(self) -> dict[str, Any]:
        """The key as published in the JWKS (RFC 7517 §4: use, alg, kid)."""
        return {
            **self.public.as_dict(private=False),
            "kid": self.kid,
            "use": "sig",
            "alg": ALGORITHM,
        }


class KeyRing:
    """An ordered set of issuer keys, newest first; immutable once built."""

    def __init__(self, keys: Sequence[SigningKey]) -> None:
        if not keys or keys[0].private is None:
            raise SettingsError("the newest extract signing key must include its private part")
        kids = [k.kid for k in keys]
        if len(set(kids)) != len(kids):
            raise SettingsError("extract signing keys are listed twice")
        self.keys = tuple(keys)
        self._signer: ECKey = keys[0].private
        self._by_kid = {k.kid: k for k in keys}
        self.jwks_json = json.dumps(
            {"keys": [k.public_jwk for k in keys]}, separators=(",", ":")
        ).encode()

    @property
    def signing_kid(self) -> str:
        return self.keys[0].kid

    def public_key(self, kid: str) -> ECKey | None:
        key = self._by_kid.get(kid)
        return key.public if key else None

    def sign(self, payload: bytes, *, typ: str) -> str:
        """A compact JWS (RFC 7515 §7.1) over payload, with the newest key; its low-S form."""
        header = {"alg": ALGORITHM, "kid": self.signing_kid, "typ": typ}
        return es256.low_s(
            jws.serialize_compact(header, payload, self._signer, algorithms=[ALGORITHM])
        )


def generate_private_jwk() -> dict[str, Any]:
    """A fresh P-256 private JWK with its thumbprint as kid (for EXTRACT_SIGNING_KEYS)."""
    key = ECKey.generate_key(CURVE, private=True)
    return {**key.as_dict(private=True), "kid": key.thumbprint()}


def import_jwk(data: object) -> SigningKey:
    """Validate one JWK from configuration or the database; raises SettingsError."""
    if not isinstance(data, dict):
        raise SettingsError("an extract signing key must be a JSON object (a JWK)")
    if data.get("kty") != "EC" or data.get("crv") != CURVE:
        raise SettingsError(f"extract signing keys must be EC {CURVE} JWKs (ES256)")
    try:
        key = ECKey.import_key(data)
        public = ECKey.import_key(key.as_dict(private=False))
    except Exception as exc:  # joserfc raises assorted errors for malformed coordinates
        raise SettingsError(f"an extract signing key is not a valid JWK: {exc!r}") from exc
    kid = public.thumbprint()
    if data.get("kid") not in (None, kid):
        raise SettingsError(
            f"extract signing key kid {data.get('kid')!r} is not its RFC 7638 thumbprint {kid!r}"
        )
    return SigningKey(kid=kid, public=public, private=key if key.is_private else None)


def ring_from_config(value: str) -> KeyRing:
    """Parse EXTRACT_SIGNING_KEYS: a JSON array of JWKs (or {"keys": [...]}), newest first."""
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise SettingsError(f"EXTRACT_SIGNING_KEYS is not JSON: {exc}") from exc
    if isinstance(parsed, dict) and isinstance(parsed.get("keys"), list):
        parsed = parsed["keys"]
    if not isinstance(parsed, list) or not parsed:
        raise SettingsError("EXTRACT_SIGNING_KEYS must be a non-empty JSON array of JWKs")
    return KeyRing([import_jwk(item) for item in parsed])


async def load_database_ring(db: AsyncSession) -> KeyRing | None:
    """The keys kept in the database (development), newest generation first."""
    rows = (await db.scalars(select(StoredKey).order_by(StoredKey.generation.desc()))).all()
    if not rows:
        return None
    return KeyRing([import_jwk(row.private_jwk or row.public_jwk) for row in rows])


async def add_database_key(db: AsyncSession, *, first: bool = False) -> str:
    """Store a newly generated key as the newest generation (caller commits); returns its kid.

    `first` claims generation 1, so that racing processes on an empty table collide on the
    unique constraint instead of each creating a different "first" key.
    """
    generation = 1
    if not first:
        generation = int(
            await db.scalar(select(func.coalesce(func.max(StoredKey.generation), 0))) or 0
        )
        generation += 1
    private = generate_private_jwk()
    public = {k: v for k, v in private.items() if k != "d"}
    db.add(
        StoredKey(kid=private["kid"], generation=generation, public_jwk=public, private_jwk=private)
    )
    await db.flush()
    return str(private["kid"])


def configured_ring(settings: Settings) -> KeyRing | None:
    """The ring from EXTRACT_SIGNING_KEYS; None outside production when it is unset (the keys
    are then kept in the database). SettingsError for anything production cannot start with."""
    if settings.extract_signing_keys:
        return ring_from_config(settings.extract_signing_keys)
    if settings.is_production:
        raise SettingsError(
            "refusing to start in production: EXTRACT_SIGNING_KEYS (or "
            "EXTRACT_SIGNING_KEYS_FILE) must hold the extract issuer's private JWKs; "
            "`duo-abroad extract generate-key` makes one"
        )
    return None


class IssuerKeys:
    """Where the running app gets its key ring: fixed from configuration, or loaded once."""

    def __init__(
        self,
        settings: Settings,
        session_factory: async_sessionmaker[AsyncSession] | None = None,
    ) -> None:
        self._lock = asyncio.Lock()
        self._session_factory = session_factory
        self._ring: KeyRing | None = configured_ring(settings)
        if self._ring is None and session_factory is None:
            raise SettingsError("development issuer keys need the database")

    @property
    def loaded(self) -> bool:
        return self._ring is not None

    async def ring(self) -> KeyRing:
        """The key ring; in development, loaded (or created) in its own transaction once.

        Its own transaction: a key must be committed before anything it signed is published.
        A key added later with `duo-abroad extract rotate-key` is used after a restart.
        """
        if self._ring is not None:
            return self._ring
        async with self._lock:
            if self._ring is None and self._session_factory is not None:
                self._ring = await self._load_or_create(self._session_factory)
        if self._ring is None:  # pragma: no cover - __init__ requires one of the two
            raise RuntimeError("no extract signing keys")
        return self._ring

    @staticmethod
    async def _load_or_create(factory: async_sessionmaker[AsyncSession]) -> KeyRing:
        async with factory() as db:
            ring = await load_database_ring(db)
            if ring is not None:
                return ring
            try:
                await add_database_key(db, first=True)
                await db.commit()
            except IntegrityError:
                await db.rollback()  # another process created it first: use theirs
        async with factory() as db:
            ring = await load_database_ring(db)
        if ring is None:  # pragma: no cover - only if the row vanished in between
            raise RuntimeError("could not create the development issuer key")
        return ring
