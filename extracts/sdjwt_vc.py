"""The diploma as an SD-JWT VC (draft-ietf-oauth-sd-jwt-vc): its claims, type metadata, and
the verification of presentations of it. Pure functions; keys and statuses are handed in.

The claims follow the extract (extracts.service.credential): holder name, date of birth,
institution, programme, programme code, level, award date, results. Date of birth, the
programme code and every result are selectively disclosable (RFC 9901 §4.2), so a holder can
show "a Bachelor's degree in Bouwkunde from Hogeschool Utrecht" without grades or birth date.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from extracts import sdjwt, statuslist
from extracts.keys import KeyRing
from extracts.sdjwt import KeyBinding, KeyLookup, SdJwtError
from records.models import Diploma, Person

VC_TYP = "dc+sd-jwt"  # SD-JWT VC §2.2.1 (media type application/dc+sd-jwt, §2.1)
CONFIGURATION_ID = "duo_diploma_sd_jwt"  # the key in OpenID4VCI credential_configurations
# Claims that must never sit in a Disclosure (SD-JWT VC §2.2.2.3).
NEVER_SELECTIVE = frozenset({"iss", "nbf", "exp", "cnf", "vct", "vct#integrity", "status"})
TECHNICAL = frozenset({*NEVER_SELECTIVE, "iat", "aka_vcts"})

# (path, English label, Dutch label, selectively disclosable)
CLAIMS: tuple[tuple[tuple[str | None, ...], str, str, bool], ...] = (
    (("given_name",), "Given names", "Voornamen", False),
    (("family_name",), "Family name", "Achternaam", False),
    (("birthdate",), "Date of birth", "Geboortedatum", True),
    (("institution",), "Institution", "Onderwijsinstelling", False),
    (("programme",), "Programme", "Opleiding", False),
    (("programme_code",), "Programme code (CROHO/CREBO)", "Opleidingscode (CROHO/CREBO)", True),
    (("level",), "Level", "Niveau", False),
    (("awarded_on",), "Date awarded", "Datum diploma", False),
    (("results",), "Results", "Resultaten", False),
    (("results", None), "Result", "Resultaat", True),
    (("results", None, "subject"), "Subject", "Vak", False),
    (("results", None, "grade"), "Grade", "Cijfer", False),
    (("results", None, "credits"), "Credits (EC)", "Studiepunten (EC)", False),
)
NAME = {"en": "DUO diploma", "nl": "DUO-diploma"}
DESCRIPTION = {
    "en": "A Dutch diploma as registered with DUO, with its results.",
    "nl": "Een Nederlands diploma zoals geregistreerd bij DUO, met de resultaten.",
}
LOCALES = {"en": "en", "nl": "nl"}


def vct(public_origin: str) -> str:
    """The credential type: an https URL from which its Type Metadata can be fetched (§4.3.1)."""
    return f"{public_origin}/extracts/types/diploma/v1"


def claims_metadata(*, issuer_style: bool) -> list[dict[str, Any]]:
    """Per-claim display in English and Dutch: OpenID4VCI Appendix B.2 (`name`) or SD-JWT VC
    Type Metadata §4.6 (`label`, plus `sd`)."""
    key = "name" if issuer_style else "label"
    entries = []
    for path, en, nl, selective in CLAIMS:
        entry: dict[str, Any] = {
            "path": list(path),
            "display": [{"locale": "en", key: en}, {"locale": "nl", key: nl}],
        }
        if not issuer_style:
            entry["sd"] = "always" if selective else "never"
        entries.append(entry)
    return entries


def display(*, issuer_style: bool) -> list[dict[str, Any]]:
    return [
        {"locale": locale, "name": NAME[locale], "description": DESCRIPTION[locale]}
        | ({"background_color": "#154273", "text_color": "#FFFFFF"} if issuer_style else {})
        for locale in ("en", "nl")
    ]


def type_metadata(public_origin: str) -> dict[str, Any]:
    """SD-JWT VC Type Metadata (§4.2) for `vct(public_origin)`."""
    return {
        "vct": vct(public_origin),
        "name": "DUO diploma",
        "description": DESCRIPTION["en"],
        "display": display(issuer_style=False),
        "claims": claims_metadata(issuer_style=False),
    }


def _day(value: date) -> str:
    return value.isoformat()


@dataclass(frozen=True, slots=True)
class IssuedCredential:
    sd_jwt: str  # <issuer-signed JWT>~<disclosures>~ (no KB-JWT: issuance, RFC 9901 §7.2)
    payload: dict[str, Any]  # the issuer-signed JWT's payload (digests, no salts)


def build_credential(
    *,
    person: Person,
    diploma: Diploma,
    status_index: int,
    holder_jwk: dict[str, Any],
    ring: KeyRing,
    issuer: str,
    public_origin: str,
    valid_for: timedelta | None,
    now: datetime,
    decoys: int = 3,
) -> IssuedCredential:
    """Sign the diploma as an SD-JWT VC bound to the wallet's key (`cnf.jwk`, RFC 7800 §3.2)."""
    disclosures: list[str] = []

    def hidden(name: str, value: Any) -> str:
        disclosure = sdjwt.object_disclosure(name, value)
        disclosures.append(disclosure)
        return sdjwt.digest(disclosure)

    top_digests = [hidden("birthdate", _day(person.date_of_birth))]
    if diploma.programme_code:
        top_digests.append(hidden("programme_code", diploma.programme_code))
    # Decoys (§4.2.5) keep a verifier from counting the hidden claims.
    top_digests += [sdjwt.decoy_digest() for _ in range(decoys)]
    results = []
    for result in diploma.results:
        value: dict[str, Any] = {"subject": result.subject, "grade": result.grade}
        if result.credits is not None:
            value["credits"] = result.credits
        disclosure = sdjwt.array_disclosure(value)
        disclosures.append(disclosure)
        results.append({sdjwt.ARRAY_DIGEST: sdjwt.digest(disclosure)})
    number, position = statuslist.list_position(status_index)
    issued = int(now.timestamp())
    payload: dict[str, Any] = {
        "iss": issuer,
        "iat": issued,
        "vct": vct(public_origin),
        "cnf": {"jwk": holder_jwk},
        # Token Status List §6.1: the extract's own status entry (one status, one revocation).
        "status": {
            "status_list": {
                "idx": position,
                "uri": statuslist.token_status_url(public_origin, number),
            }
        },
        "_sd_alg": sdjwt.HASH_ALG,
        # §4.2.4.1: the order of digests must not reveal the order of the claims.
        sdjwt.SD: sorted(top_digests),
        "given_name": person.given_names,
        "family_name": person.family_name,
        "institution": diploma.institution,
        "programme": diploma.programme,
        "level": diploma.level.value,
        "awarded_on": _day(diploma.awarded_on),
        "results": results,
    }
    if valid_for is not None:
        payload["exp"] = issued + int(valid_for.total_seconds())
    raw = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    jwt = ring.sign(raw, typ=VC_TYP)
    return IssuedCredential(sd_jwt=sdjwt.serialize(jwt, disclosures), payload=payload)


# --- verifying presentations -------------------------------------------------------------------


class Result(enum.StrEnum):
    VALID = "valid"
    REVOKED = "revoked"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    TAMPERED = "tampered"  # the issuer's signature does not hold
    UNKNOWN_ISSUER = "unknown_issuer"  # signed with a key DUO did not publish
    INVALID = "invalid"  # refused for a specific `reason` (disclosures, key binding, …)


@dataclass(frozen=True, slots=True)
class Checked:
    """A presentation whose signature, disclosures and key binding all hold."""

    kid: str
    payload: dict[str, Any]
    claims: dict[str, Any]
    disclosed: list[str]
    key_binding: KeyBinding | None
    binding_checked: bool  # the caller's audience and nonce were compared
    status_uri: str
    status_index: int


@dataclass(frozen=True, slots=True)
class Verification:
    result: Result
    checked_at: datetime
    reason: str | None = None
    message: str | None = None
    checked: Checked | None = None
    status_list_issued_at: datetime | None = None

    @property
    def valid(self) -> bool:
        return self.result is Result.VALID

    def as_json(self) -> dict[str, Any]:
        checked = self.checked
        body: dict[str, Any] = {
            "format": VC_TYP,
            "result": self.result.value,
            "reason": self.reason,
            "message": self.message,
            "checkedAt": _iso(self.checked_at),
            "statusListFetchedAt": _iso(self.status_list_issued_at),
        }
        if checked is None:
            return body
        payload, binding = checked.payload, checked.key_binding
        body |= {
            "issuer": payload.get("iss"),
            "kid": checked.kid,
            "vct": payload.get("vct"),
            "issuedAt": _iso_ts(payload.get("iat")),
            "expiresAt": _iso_ts(payload.get("exp")),
            "claims": {k: v for k, v in checked.claims.items() if k not in TECHNICAL},
            "disclosed": checked.disclosed,
            "holderBinding": {
                "proved": binding is not None,
                "audience": binding.audience if binding else None,
                "nonce": binding.nonce if binding else None,
                "issuedAt": _iso(binding.issued_at) if binding else None,
                "matchedYourAudienceAndNonce": checked.binding_checked,
            },
            "status": {"uri": checked.status_uri, "idx": checked.status_index},
        }
        return body


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def _iso_ts(value: object) -> str | None:
    return _iso(datetime.fromtimestamp(value, UTC)) if isinstance(value, int) else None


def _refused(error: SdJwtError, now: datetime) -> Verification:
    result = {"unknown_key": Result.UNKNOWN_ISSUER, "bad_signature": Result.TAMPERED}.get(
        error.reason, Result.INVALID
    )
    return Verification(result=result, checked_at=now, reason=error.reason, message=error.message)


def check_presentation(
    token: str,
    keys: KeyLookup,
    *,
    now: datetime,
    audience: str | None = None,
    nonce: str | None = None,
) -> Checked | Verification:
    """RFC 9901 §7.1 and §7.3, SD-JWT VC §2.4; a refused Verification names the reason.

    Key binding is required when the verifier gives an audience or a nonce — its own policy,
    never inferred from whether the presentation carries a KB-JWT (RFC 9901 §9.5).
    """
    try:
        parts = sdjwt.split(token)
        signed = sdjwt.verify_jwt(parts.jwt, keys, typ=VC_TYP, what="credential")
        processed = sdjwt.process(signed.payload, parts.disclosures)
        hidden_technical = [
            p for p in processed.disclosed if p.count("/") == 1 and p[1:] in NEVER_SELECTIVE
        ]
        if hidden_technical:
            raise SdJwtError(
                "disclosure_not_allowed", "A disclosure carries a claim that must stay visible."
            )
        required = audience is not None or nonce is not None
        binding = None
        if required or parts.kb_jwt is not None:
            binding = sdjwt.verify_key_binding(
                parts, signed.payload, now=now, audience=audience, nonce=nonce
            )
        status = signed.payload.get("status")
        entry = status.get("status_list") if isinstance(status, dict) else None
        idx = entry.get("idx") if isinstance(entry, dict) else None
        uri = entry.get("uri") if isinstance(entry, dict) else None
        if not isinstance(idx, int) or idx < 0 or not isinstance(uri, str):
            raise SdJwtError("status_missing", "The credential has no usable status entry.")
    except SdJwtError as error:
        return _refused(error, now)
    return Checked(
        kid=str(signed.header.get("kid")),
        payload=signed.payload,
        claims=processed.claims,
        disclosed=processed.disclosed,
        key_binding=binding,
        binding_checked=required,
        status_uri=uri,
        status_index=idx,
    )


def decide(
    checked: Checked, *, revoked: bool, now: datetime, status_list_issued_at: datetime | None
) -> Verification:
    """Revoked beats expired beats not-yet-valid beats valid (Token Status List §8.3)."""
    stamp = now.timestamp()
    exp, nbf = checked.payload.get("exp"), checked.payload.get("nbf")
    if revoked:
        result = Result.REVOKED
    elif isinstance(exp, int | float) and stamp >= exp:
        result = Result.EXPIRED
    elif isinstance(nbf, int | float) and stamp < nbf:
        result = Result.NOT_YET_VALID
    else:
        result = Result.VALID
    return Verification(
        result=result,
        checked_at=now,
        reason=None if result is Result.VALID else result.value,
        checked=checked,
        status_list_issued_at=status_list_issued_at,
    )


def refused_status(checked: Checked, now: datetime, message: str) -> Verification:
    """No statement about the status can be made (Token Status List §8.3): refuse."""
    return Verification(
        result=Result.INVALID,
        checked_at=now,
        reason="status_unavailable",
        message=message,
        checked=checked,
    )


# --- offline: a saved JWKS and saved Status List Tokens -----------------------------------------


@dataclass(frozen=True, slots=True)
class SavedTokenList:
    uri: str
    bits: bytes
    issued_at: datetime


def open_token_status_list(token: str, keys: KeyLookup) -> SavedTokenList:
    """Check a saved Status List Token (Token Status List §8.3 step 3-5); SdJwtError if not."""
    verified = sdjwt.verify_jwt(token.strip(), keys, typ=statuslist.TSL_TYP, what="status list")
    claims = verified.payload
    status_list = claims.get("status_list")
    sub, iat = claims.get("sub"), claims.get("iat")
    if not isinstance(status_list, dict) or not isinstance(sub, str) or not isinstance(iat, int):
        raise SdJwtError("status_malformed", "The status list lacks sub, iat or status_list.")
    if status_list.get("bits") != 1 or not isinstance(status_list.get("lst"), str):
        raise SdJwtError("status_malformed", "The status list is not a 1-bit list.")
    try:
        bits = statuslist.decode_token_bits(status_list["lst"])
    except statuslist.StatusListError as exc:
        raise SdJwtError("status_malformed", str(exc)) from exc
    return SavedTokenList(uri=sub, bits=bits, issued_at=datetime.fromtimestamp(iat, UTC))


def verify_offline(
    token: str,
    keys: KeyLookup,
    lists: dict[str, SavedTokenList],
    *,
    now: datetime,
    audience: str | None = None,
    nonce: str | None = None,
) -> Verification:
    """A presentation checked with nothing but a saved JWKS and saved Status List Tokens."""
    checked = check_presentation(token, keys, now=now, audience=audience, nonce=nonce)
    if not isinstance(checked, Checked):
        return checked
    saved = lists.get(checked.status_uri)
    if saved is None:
        return refused_status(checked, now, f"No saved status list for {checked.status_uri}.")
    try:
        status = statuslist.token_status(saved.bits, checked.status_index)
    except statuslist.StatusListError as exc:
        return refused_status(checked, now, str(exc))
    return decide(checked, revoked=status != 0, now=now, status_list_issued_at=saved.issued_at)
