"""Credential offers to wallets: pre-authorized code, transaction code, access token, issuance."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from api.database import Base, PortableJSON, UTCDateTime, new_id, utcnow


class WalletOffer(Base):
    """One "Add to wallet": the whole OpenID4VCI pre-authorized code grant, start to end.

    Codes and tokens are stored only as HMACs with SECRET_KEY: the table alone redeems nothing.
    Rows stay after use as the record of which wallet credential came from which extract.
    """

    __tablename__ = "wallet_offers"
    __table_args__ = (Index("ix_wallet_offers_person_created", "person_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"))
    diploma_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("diplomas.id", ondelete="CASCADE"))
    code_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    tx_code_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    tx_code_failures: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # A newer offer of the same person withdraws the older ones that are still open.
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    redeemed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # code -> access token
    access_token_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), unique=True)
    token_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the credential went out
    # The credential's twin extract: its status-list entry is the credential's status.
    extract_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("extracts.id", ondelete="RESTRICT")
    )
    holder_key_thumbprint: Mapped[str | None] = mapped_column(String(64))  # RFC 7638, cnf key


class PresentationRequest(Base):
    """One check of a diploma by a verifier (OpenID4VP 1.0, cross-device, `direct_post`).

    The secret of the verifier's browser is stored only as an HMAC; `state` and `nonce` are in
    the QR code anyway, and answering needs a presentation bound to the nonce. The disclosed
    claims (`result`) are personal data the holder chose to show this verifier: kept only
    until the request expires, then the row is deleted.
    """

    __tablename__ = "presentation_requests"
    __table_args__ = (Index("ix_presentation_requests_expires_at", "expires_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    state: Mapped[str] = mapped_column(String(64), unique=True)
    reader_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    nonce: Mapped[str] = mapped_column(String(64))
    # The selectively disclosable claims asked for beyond the always-visible ones.
    optional_claims: Mapped[list[str]] = mapped_column(PortableJSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    result: Mapped[dict[str, Any] | None] = mapped_column(PortableJSON)
