"""Sessions, passkeys, WebAuthn challenges, activation codes, recovery keys, audit log."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    LargeBinary,
    SmallInteger,
    String,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from api.database import Base, PortableJSON, UTCDateTime, new_id, string_enum, utcnow


class WebSession(Base):
    __tablename__ = "web_sessions"
    __table_args__ = (Index("ix_web_sessions_person", "person_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    # SHA-256 of the cookie value: a database leak does not yield usable session cookies.
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Absolute expiry, fixed at creation; the idle timeout is computed from last_seen_at.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ip_address: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(300))


class WebAuthnUser(Base):
    """The opaque WebAuthn user handle of a person (never the customer number: it is shown)."""

    __tablename__ = "webauthn_users"

    person_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("persons.id", ondelete="CASCADE"), primary_key=True
    )
    user_handle: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Passkey(Base):
    __tablename__ = "passkeys"
    __table_args__ = (Index("ix_passkeys_person", "person_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"))
    credential_id: Mapped[bytes] = mapped_column(LargeBinary(1023), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)  # COSE_Key
    sign_count: Mapped[int] = mapped_column(BigInteger, default=0)
    aaguid: Mapped[str] = mapped_column(String(36))
    name: Mapped[str] = mapped_column(String(64))
    transports: Mapped[list[str]] = mapped_column(PortableJSON, default=list)
    # WebAuthn §6.1 flags BE/BS: eligible for and currently in a synced backup ("synced passkey").
    backup_eligible: Mapped[bool] = mapped_column(Boolean, default=False)
    backed_up: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CeremonyPurpose(enum.StrEnum):
    LOGIN = "login"
    ACTIVATION = "activation"  # first (or re-)enrolment with a DUO activation code
    ADD = "add"  # another passkey from a signed-in session
    DEVICE_LINK = "device_link"  # a passkey on another device, through a link/QR
    RECOVERY = "recovery"  # a new passkey with the recovery key
    ACCESS_REQUEST = "access_request"  # first passkey after DUO approved an access request


class Challenge(Base):
    """A pending WebAuthn ceremony. Single-use: deleted on success and on failure."""

    __tablename__ = "webauthn_challenges"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    # SHA-256 of the challenge: found again from clientDataJSON, never stored in clear.
    challenge_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    # SHA-256 of the ceremony cookie: a challenge only completes in the browser that asked.
    binding_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    purpose: Mapped[CeremonyPurpose] = mapped_column(
        string_enum(CeremonyPurpose, "ceremony_purpose", length=16)
    )
    person_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("persons.id", ondelete="CASCADE")
    )
    # What authorised a registration: the activation code, recovery key or device link used.
    grant_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class ActivationCode(Base):
    __tablename__ = "activation_codes"
    __table_args__ = (Index("ix_activation_codes_person", "person_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"))
    code_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    issued_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    failed_attempts: Mapped[int] = mapped_column(SmallInteger, default=0)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set when the code can no longer be used: too many wrong attempts, or superseded.
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RecoveryKey(Base):
    __tablename__ = "recovery_keys"
    __table_args__ = (Index("ix_recovery_keys_person", "person_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"))
    key_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DeviceLink(Base):
    """A short-lived, single-use link that lets another device register a passkey."""

    __tablename__ = "device_links"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"))
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditEvent(Base):
    """Security events: who, what, when, from where, outcome. Never secrets in clear."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_person_time", "person_id", "occurred_at"),
        Index("ix_audit_time", "occurred_at"),
        Index("ix_audit_staff_time", "staff_id", "occurred_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # No foreign key: the trail outlives the records it mentions.
    person_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    actor: Mapped[str] = mapped_column(String(100))  # "person", "staff:<name>", "system"
    # The DUO staff member who acted (staff/), when one did; no foreign key, like person_id.
    staff_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    action: Mapped[str] = mapped_column(String(64))  # e.g. "login", "passkey.revoke"
    outcome: Mapped[str] = mapped_column(String(16))  # "success" or "failure"
    reason: Mapped[str | None] = mapped_column(String(64))  # machine-readable failure reason
    ip_address: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    details: Mapped[dict[str, object]] = mapped_column(PortableJSON, default=dict)
