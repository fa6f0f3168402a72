"""Signed diploma extracts, their status-list slots, share links, and dev-mode issuer keys."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from api.database import Base, PortableJSON, UTCDateTime, new_id, utcnow


class IssuerKey(Base):
    """An issuer signing key kept in the database: development and test only.

    Production loads its keys from EXTRACT_SIGNING_KEYS (extracts.keys) and never reads this
    table, so no production private key ever sits in the database.
    """

    __tablename__ = "extract_issuer_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)  # RFC 7638 thumbprint
    # The newest generation signs. Unique, so that two processes starting on an empty table
    # cannot both create "the first" key: the loser's insert fails and it loads the winner's.
    generation: Mapped[int] = mapped_column(Integer, unique=True)
    public_jwk: Mapped[dict[str, Any]] = mapped_column(PortableJSON)
    private_jwk: Mapped[dict[str, Any] | None] = mapped_column(PortableJSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StatusCounter(Base):
    """The next free status-list index, one row per purpose.

    Allocation is `UPDATE ... RETURNING` on this row: PostgreSQL's row lock serialises
    concurrent issuers, so two extracts can never share an index.
    """

    __tablename__ = "extract_status_counters"

    purpose: Mapped[str] = mapped_column(String(16), primary_key=True)
    next_index: Mapped[int] = mapped_column(Integer)


class Extract(Base):
    """An immutable signed extract of one diploma; a new one is a new row (a new version).

    Rows are never deleted: the row is what keeps its status-list bit meaningful (a deleted,
    revoked extract would verify again), hence RESTRICT on the foreign keys.
    """

    __tablename__ = "extracts"
    __table_args__ = (
        Index("ix_extracts_person_created", "person_id", "created_at"),
        Index("ix_extracts_revoked_at", "revoked_at"),
        UniqueConstraint("diploma_id", "version", name="uq_extracts_diploma_version"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("persons.id", ondelete="RESTRICT"))
    diploma_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("diplomas.id", ondelete="RESTRICT"))
    version: Mapped[int] = mapped_column(Integer)  # 1, 2, … per diploma
    language: Mapped[str] = mapped_column(String(2))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    kid: Mapped[str] = mapped_column(String(64))
    jws: Mapped[str] = mapped_column(Text)  # compact serialisation, exactly as issued
    payload_sha256: Mapped[str] = mapped_column(String(64))  # hex, of the signed payload bytes
    status_index: Mapped[int] = mapped_column(Integer, unique=True)  # across all lists
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_reason: Mapped[str | None] = mapped_column(String(500))


class ShareLink(Base):
    """A holder-made link that lets anyone with it fetch and verify one extract until expiry."""

    __tablename__ = "extract_share_links"
    __table_args__ = (Index("ix_extract_share_links_person", "person_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    extract_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("extracts.id", ondelete="CASCADE"))
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"))
    # SHA-256 of the token in the URL: the database alone does not yield working links.
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    extract: Mapped[Extract] = relationship()
    accesses: Mapped[list[ShareAccess]] = relationship(
        back_populates="link",
        order_by="ShareAccess.accessed_at.desc()",
        passive_deletes=True,
    )


class ShareAccess(Base):
    """One opening of a share link, for the holder's access log."""

    __tablename__ = "extract_share_accesses"
    __table_args__ = (Index("ix_extract_share_accesses_link", "share_link_id", "accessed_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    share_link_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("extract_share_links.id", ondelete="CASCADE")
    )
    accessed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # ISO 3166-1 alpha-2 from the edge proxy's geo header, when there is one.
    country: Mapped[str | None] = mapped_column(String(2))
    verified: Mapped[bool] = mapped_column(Boolean)  # the verification said "valid"
    result: Mapped[str] = mapped_column(String(16))

    link: Mapped[ShareLink] = relationship(back_populates="accesses")
