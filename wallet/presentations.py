"""A verifier for DUO diplomas in wallets: OpenID for Verifiable Presentations 1.0 (final,
July 2025), cross-device flow with Response Mode `direct_post` (§8.2) and a DCQL query (§6).

An employer abroad opens DUO's verifier page, which creates a request here; the person scans its
QR code with their wallet, which posts the presentation back to the Response URI; the page then
shows what was disclosed and what was proved. Plain async functions; the caller owns the
transaction.

Client Identifier Prefix `redirect_uri` (§5.9.3): the Client Identifier is the Response URI, the
request goes by value and unsigned (the prefix forbids signing), and the wallet learns the
verifier's metadata from `client_metadata`. The presentation's Key Binding JWT must name that
Client Identifier as `aud` and the request's fresh `nonce` (Appendix B.3.6, §14.1).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.database import utcnow
from api.errors import DomainError, NotFound
from extracts import sdjwt_vc
from wallet.models import PresentationRequest

REQUEST_SCHEME = "openid4vp://"  # §13.1.2 (the custom scheme wallets register)
REQUEST_TTL = timedelta(minutes=10)
RESULT_TTL = timedelta(minutes=30)  # how long the verifier's page shows an answer
CREDENTIAL_QUERY_ID = "diploma"  # the DCQL Credential Query id: the key in `vp_token` (§8.1)
RESPONSE_PATH = "/verifier/response"
# Always disclosed in the credential (never selective), so always asked for.
VISIBLE_CLAIMS = ("given_name", "family_name", "institution", "programme", "level", "awarded_on")
# What a verifier may add; the holder's wallet asks the person before disclosing each.
OPTIONAL_CLAIMS = ("birthdate", "programme_code", "results")
MAX_VP_TOKEN_CHARS = 48 * 1024

Verify = Callable[[str, str, str], Awaitable[sdjwt_vc.Verification]]


class PresentationError(DomainError):
    """An answer the Response URI refuses, in OAuth's error shape (RFC 6749 §5.2)."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.code = error


@dataclass(frozen=True, slots=True)
class CreatedRequest:
    request: PresentationRequest
    reader: str  # the verifier browser's secret (a cookie); only its HMAC is stored


def client_id(public_origin: str) -> str:
    """§5.9.3: `redirect_uri:` + the Response URI (with `direct_post`)."""
    return f"redirect_uri:{response_uri(public_origin)}"


def response_uri(public_origin: str) -> str:
    return f"{public_origin}{RESPONSE_PATH}"


def _mac(secret_key: str, purpose: str, value: str) -> bytes:
    return hmac.new(secret_key.encode(), f"{purpose}:{value}".encode(), hashlib.sha256).digest()


def dcql_query(public_origin: str, optional_claims: list[str]) -> dict[str, Any]:
    """§6.1 and Appendix B.3.5: one `dc+sd-jwt` credential of DUO's diploma type."""
    claims: list[dict[str, Any]] = [{"path": [name]} for name in VISIBLE_CLAIMS]
    for name in optional_claims:
        # §7.1: `null` selects every element of an array (each result is its own disclosure).
        claims.append({"path": ["results", None]} if name == "results" else {"path": [name]})
    return {
        "credentials": [
            {
                "id": CREDENTIAL_QUERY_ID,
                "format": sdjwt_vc.VC_TYP,
                "meta": {"vct_values": [sdjwt_vc.vct(public_origin)]},
                "claims": claims,
            }
        ]
    }


def client_metadata() -> dict[str, Any]:
    """§5.1 `client_metadata`, §11.1: the formats and algorithms this verifier accepts."""
    return {
        "vp_formats_supported": {
            sdjwt_vc.VC_TYP: {"sd-jwt_alg_values": ["ES256"], "kb-jwt_alg_values": ["ES256"]}
        }
    }


def authorization_request(
    public_origin: str, *, nonce: str, state: str, optional_claims: list[str]
) -> str:
    """§5 by value: every parameter in the URI, nothing for the wallet to fetch."""
    params = {
        "client_id": client_id(public_origin),
        "response_type": "vp_token",
        "response_mode": "direct_post",
        "response_uri": response_uri(public_origin),
        "nonce": nonce,
        "state": state,
        "dcql_query": json.dumps(dcql_query(public_origin, optional_claims), separators=(",", ":")),
        "client_metadata": json.dumps(client_metadata(), separators=(",", ":")),
    }
    return f"{REQUEST_SCHEME}?{urlencode(params)}"


async def purge_expired(db: AsyncSession, *, now: datetime) -> int:
    """Disclosed claims leave with their request: nothing is kept once it has expired."""
    result = await db.execute(
        delete(PresentationRequest).where(PresentationRequest.expires_at <= now)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def create_request(
    db: AsyncSession,
    *,
    optional_claims: list[str],
    secret_key: str,
    public_origin: str,
    now: datetime | None = None,
) -> CreatedRequest:
    now = now or utcnow()
    unknown = sorted(set(optional_claims) - set(OPTIONAL_CLAIMS))
    if unknown:
        raise PresentationError("invalid_request", f"Unknown claim: {unknown[0]}.")
    chosen = [name for name in OPTIONAL_CLAIMS if name in optional_claims]
    await purge_expired(db, now=now)
    # §14.1: a fresh nonce per request, 128 bits and more, so a presentation made for another
    # verifier or an earlier check cannot be replayed here.
    nonce, state, reader = (secrets.token_urlsafe(32) for _ in range(3))
    row = PresentationRequest(
        state=state,
        reader_hash=_mac(secret_key, "vp-reader", reader),
        nonce=nonce,
        optional_claims=chosen,
        created_at=now,
        expires_at=now + REQUEST_TTL,
    )
    db.add(row)
    await db.flush()
    return CreatedRequest(request=row, reader=reader)


def request_uri_for(row: PresentationRequest, public_origin: str) -> str:
    return authorization_request(
        public_origin, nonce=row.nonce, state=row.state, optional_claims=row.optional_claims
    )


async def open_request(
    db: AsyncSession,
    request_id: uuid.UUID,
    reader: str | None,
    *,
    secret_key: str,
    now: datetime | None = None,
) -> PresentationRequest:
    """The verifier's own view: only the browser that created the request sees its answer."""
    now = now or utcnow()
    row = await db.get(PresentationRequest, request_id)
    expected = _mac(secret_key, "vp-reader", reader or "")
    if row is None or reader is None or not hmac.compare_digest(row.reader_hash, expected):
        raise NotFound("This check does not exist, or was started in another browser.")
    if row.expires_at <= now:
        raise NotFound("This check has expired. Start a new one.")
    return row


def _presentation(vp_token: str) -> str:
    """§8.1: a JSON object keyed by the DCQL Credential Query ids, each an array of
    presentations; one diploma was asked for (no `multiple`), so exactly one."""
    try:
        value = json.loads(vp_token)
    except ValueError:
        raise PresentationError("invalid_request", "vp_token is not JSON.") from None
    if not isinstance(value, dict) or set(value) != {CREDENTIAL_QUERY_ID}:
        raise PresentationError(
            "invalid_request", f"vp_token must answer exactly the query '{CREDENTIAL_QUERY_ID}'."
        )
    presentations = value[CREDENTIAL_QUERY_ID]
    if (
        not isinstance(presentations, list)
        or len(presentations) != 1
        or not isinstance(presentations[0], str)
    ):
        raise PresentationError("invalid_request", "Exactly one presentation was asked for.")
    return presentations[0]


def _missing(row: PresentationRequest, claims: dict[str, Any]) -> list[str]:
    asked = [*VISIBLE_CLAIMS, *row.optional_claims]
    return [
        name
        for name in asked
        if name not in claims or (name == "results" and not claims.get("results"))
    ]


async def receive_response(
    db: AsyncSession,
    form: dict[str, str],
    *,
    secret_key: str,
    public_origin: str,
    verify: Verify,
    now: datetime | None = None,
) -> PresentationRequest:
    """The Response URI (§8.2): one answer per request, kept for the verifier's page.

    A presentation that fails a check is still an answer: the verifier sees why it was refused.
    The wallet's own error (§8.5, e.g. the person declined) is recorded the same way.
    """
    now = now or utcnow()
    state = form.get("state")
    if not state:
        raise PresentationError("invalid_request", "state is missing.")
    row = await db.scalar(
        select(PresentationRequest).where(PresentationRequest.state == state[:64]).with_for_update()
    )
    if row is None or row.expires_at <= now:
        raise PresentationError("invalid_request", "Unknown or expired request.")
    if row.answered_at is not None:
        raise PresentationError("invalid_request", "This request has already been answered.")
    result: dict[str, Any]
    if form.get("error"):
        result = {
            "result": "declined",
            "reason": form["error"][:64],
            "message": (form.get("error_description") or "")[:300] or None,
        }
    else:
        vp_token = form.get("vp_token") or ""
        if len(vp_token) > MAX_VP_TOKEN_CHARS:
            raise PresentationError("invalid_request", "vp_token is too large.")
        verification = await verify(_presentation(vp_token), client_id(public_origin), row.nonce)
        result = verification.as_json()
        checked = verification.checked
        if checked is not None and checked.payload.get("vct") != sdjwt_vc.vct(public_origin):
            result |= {
                "result": "invalid",
                "reason": "wrong_vct",
                "message": "This is not a DUO diploma credential.",
            }
        result["missing"] = _missing(row, result.get("claims") or {})
    row.answered_at = now
    row.result = result
    row.expires_at = now + RESULT_TTL
    return row
