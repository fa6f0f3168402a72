"""DUO staff: members, their roles, passkeys, enrolment invites, sessions and ceremonies.

A realm of its own: nothing here refers to persons' accounts (auth/), and a staff session
never authenticates a person's request, nor the reverse.
"""

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
    String,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from api.database import Base, UTCDateTime, new_id, string_enum, utcnow


class Role(enum.StrEnum):
    """What a staff member may do; a member can hold several (issue #13, section 1)."""

    HELPDESK = "helpdesk"  # activation requests and codes, a person's passkeys and sessions
    FORMS = "forms"  # the form work queue
    CREDENTIALS = "credentials"  # revoking extracts
    AUDITOR = "auditor"  # reading the audit log
    ADMIN = "admin"  # staff accounts


class StaffMember(Base):
    __tablename__ = "staff_members"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100))
    # The opaque WebAuthn user handle of this member's passkeys (never the name).
    user_handle: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # None by the CLI's bootstrap invite; otherwise the admin who invited this member.
    invited_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    enrolled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # first passkey
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class StaffRole(Base):
    __tablename__ = "staff_roles"
    __table_args__ = (UniqueConstraint("staff_id", "role", name="uq_staff_roles_staff_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    staff_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff_members.id", ondelete="CASCADE"))
    role: Mapped[Role] = mapped_column(string_enum(Role, "staff_role", length=16), index=True)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    granted_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)  # None: the CLI's bootstrap


class StaffPasskey(Base):
    __tablename__ = "staff_passkeys"
    __table_args__ = (Index("ix_staff_passkeys_staff", "staff_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    staff_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff_members.id", ondelete="CASCADE"))
    credential_id: Mapped[bytes] = mapped_column(LargeBinary(1023), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)  # COSE_Key
    sign_count: Mapped[int] = mapped_column(BigInteger, default=0)
    aaguid: Mapped[str] = mapped_column(String(36))
    name: Mapped[str] = mapped_column(String(64))
    # WebAuthn §6.1 flags: BE fixed at creation (compared at every sign-in, §7.2 step 19; NULL
    # for passkeys enrolled before it was kept: taken from their next sign-in), BS current.
    backup_eligible: Mapped[bool | None] = mapped_column(Boolean)
    backed_up: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class StaffInvite(Base):
    """A one-time enrolment link: single use, 24 hours, for one member."""

    __tablename__ = "staff_invites"
    __table_args__ = (Index("ix_staff_invites_staff", "staff_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    staff_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff_members.id", ondelete="CASCADE"))
    # SHA-256 of the link's token: the link itself exists only where it was handed over.
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)  # None: the CLI
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # a newer link replaced it


class StaffSession(Base):
    __tablename__ = "staff_sessions"
    __table_args__ = (Index("ix_staff_sessions_staff", "staff_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    staff_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff_members.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ip_address: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(300))


class StaffCeremony(enum.StrEnum):
    ENROL = "enrol"
    LOGIN = "login"


class StaffChallenge(Base):
    """A pending staff WebAuthn ceremony; single use, deleted on success and on failure."""

    __tablename__ = "staff_challenges"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    challenge_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    binding_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    purpose: Mapped[StaffCeremony] = mapped_column(
        string_enum(StaffCeremony, "staff_ceremony", length=16)
    )
    invite_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("staff_invites.id", ondelete="CASCADE")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class StaffClaim(Base):
    """Who is working on a queue item (a submission, an activation request) until when.

    One row per item: a claim is taken with a conditional write, so two staff members never
    hold the same item; an expired claim can be taken over.
    """

    __tablename__ = "staff_claims"
    __table_args__ = (UniqueConstraint("kind", "item_id", name="uq_staff_claims_kind"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(32))
    item_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    staff_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff_members.id", ondelete="CASCADE"))
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
