"""Adapter around py_webauthn: options out, verification in, library errors never leak.

Step numbers are those of WebAuthn Level 3 §7.1 (registering a new credential) and §7.2
(verifying an authentication assertion); the README's passkey section has the full table of
which step py_webauthn 3.0.1 performs and which this module or auth.ceremonies performs.
Origin and RP ID always come from settings (§7.1 steps 9 and 14, §7.2 steps 12 and 15), and
user verification is always required (§7.1 step 16, §7.2 step 17), whatever the library's
defaults.

What py_webauthn leaves to its caller, done here:
- the JSON encoding (§5.1 `toJSON()`) is read strictly: every binary member is canonical
  unpadded base64url (api.b64url), `rawId` is the same text as `id`, clientDataJSON is UTF-8
  JSON without duplicate members (§7.1 steps 5-6, §7.2 steps 8-9), the attestation object is
  one CBOR item with nothing after it (§7.1 step 13);
- `crossOrigin` and `topOrigin` (§7.1 steps 10-11, §7.2 steps 13-14): this app is never
  embedded in another site, so a response made inside a cross-origin frame is refused;
- the attested credential id is the `rawId` the browser reported and at most 1023 bytes
  (§7.1 step 25);
- the backup eligibility (BE) of an assertion equals the one stored at registration (§7.2
  step 19), and the flags are returned so the ceremony can keep the backup state current.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import cbor2
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    parse_attestation_object,
    parse_authentication_credential_json,
    parse_authenticator_data,
    parse_registration_credential_json,
)
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.exceptions import InvalidBackupFlags, WebAuthnException
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AttestationObject,
    AuthenticationCredential,
    AuthenticatorData,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    RegistrationCredential,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from api import b64url
from auth import errors
from auth.errors import AuthError

TIMEOUT_MS = 5 * 60 * 1000
ALGORITHMS = [
    COSEAlgorithmIdentifier.ECDSA_SHA_256,
    COSEAlgorithmIdentifier.EDDSA,
    COSEAlgorithmIdentifier.RSASSA_PKCS1_v1_5_SHA_256,
]
# §7.1 step 25: longer credential ids SHOULD fail the registration (and fit no column).
MAX_CREDENTIAL_ID_BYTES = 1023

C = TypeVar("C", RegistrationCredential, AuthenticationCredential)


@dataclass(frozen=True, slots=True)
class Options:
    challenge: bytes
    json: str


@dataclass(frozen=True, slots=True)
class ClientData:
    """The members of §5.8.1 CollectedClientData that the server checks."""

    type: str
    challenge: bytes
    origin: str
    # Anything but an absent or JSON-false crossOrigin, or any topOrigin at all.
    cross_origin: bool
    top_origin: bool


@dataclass(frozen=True, slots=True)
class Parsed(Generic[C]):
    """A browser response read strictly: the library's structure and what we checked."""

    credential: C
    client_data: ClientData
    # Registration: from the attestation object; login: the assertion's authenticatorData.
    authenticator_data: AuthenticatorData


@dataclass(frozen=True, slots=True)
class NewCredential:
    credential_id: bytes
    public_key: bytes
    sign_count: int
    aaguid: str
    transports: list[str]
    backup_eligible: bool
    backed_up: bool


@dataclass(frozen=True, slots=True)
class Assertion:
    new_sign_count: int
    backup_eligible: bool
    backed_up: bool


def registration_options(
    *,
    rp_id: str,
    user_handle: bytes,
    user_name: str,
    display_name: str,
    exclude: list[bytes],
) -> Options:
    options = generate_registration_options(
        rp_id=rp_id,
        rp_name="DUO Abroad",
        user_id=user_handle,
        user_name=user_name,
        user_display_name=display_name,
        timeout=TIMEOUT_MS,
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=[PublicKeyCredentialDescriptor(id=c) for c in exclude],
        supported_pub_key_algs=ALGORITHMS,
    )
    return Options(challenge=options.challenge, json=options_to_json(options))


def authentication_options(*, rp_id: str) -> Options:
    # Usernameless: no allowCredentials, the authenticator offers its discoverable credentials
    # (so §7.2 step 5 has nothing to check, and step 6 needs the userHandle).
    options = generate_authentication_options(
        rp_id=rp_id,
        timeout=TIMEOUT_MS,
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    return Options(challenge=options.challenge, json=options_to_json(options))


# --- reading the browser's JSON ------------------------------------------------------------

# §5.1 PublicKeyCredential.toJSON(): the binary members, each base64url (RFC 4648 §5).
_REGISTRATION_BINARY = ("clientDataJSON", "attestationObject")
_REGISTRATION_OPTIONAL = ("authenticatorData", "publicKey")  # conveniences we do not use
_ASSERTION_BINARY = ("clientDataJSON", "authenticatorData", "signature")
_ASSERTION_OPTIONAL = ("userHandle",)


def parse_registration(payload: Any) -> Parsed[RegistrationCredential]:
    """Read a registration response strictly; AuthError MALFORMED_CREDENTIAL otherwise."""
    data = _credential_object(payload, _REGISTRATION_BINARY, _REGISTRATION_OPTIONAL)
    try:
        credential = parse_registration_credential_json(data)
    except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
        raise _malformed("malformed") from exc
    raw = credential.response.attestation_object
    try:
        attestation = _single_cbor_item(raw)
    except Exception as exc:  # hostile CBOR: cbor2 raises many kinds (nesting depth too)
        raise _malformed("malformed_attestation_object", "attestationObject") from exc
    return Parsed(
        credential=credential,
        client_data=_client_data(credential.response.client_data_json),
        authenticator_data=attestation.auth_data,
    )


def parse_authentication(payload: Any) -> Parsed[AuthenticationCredential]:
    """Read a login response strictly; AuthError MALFORMED_CREDENTIAL otherwise."""
    data = _credential_object(payload, _ASSERTION_BINARY, _ASSERTION_OPTIONAL)
    try:
        credential = parse_authentication_credential_json(data)
    except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
        raise _malformed("malformed") from exc
    try:
        auth_data = parse_authenticator_data(credential.response.authenticator_data)
    except (WebAuthnException, ValueError, TypeError, IndexError) as exc:
        raise _malformed("malformed_authenticator_data", "authenticatorData") from exc
    return Parsed(
        credential=credential,
        client_data=_client_data(credential.response.client_data_json),
        authenticator_data=auth_data,
    )


def _malformed(reason: str, field: str | None = None) -> AuthError:
    return AuthError(
        "MALFORMED_CREDENTIAL",
        errors.MALFORMED,
        reason=reason,
        details={"field": field} if field else None,
    )


def _credential_object(
    payload: Any, required: Sequence[str], optional: Sequence[str]
) -> dict[str, Any]:
    """The credential JSON, with every binary member checked to be canonical base64url.

    py_webauthn decodes with urlsafe_b64decode(value + "==="), which skips unknown characters
    and accepts padding, `+`, `/` and stray bits: many texts for the same bytes. Checked here,
    the library's own decoding can only ever see the one canonical spelling.
    """
    if isinstance(payload, str):
        try:
            payload = json.loads(payload)
        except ValueError as exc:
            raise _malformed("malformed") from exc
    if not isinstance(payload, dict):
        raise _malformed("malformed")
    response = payload.get("response")
    if not isinstance(response, dict):
        raise _malformed("malformed", "response")
    members: list[tuple[str, object]] = [("id", payload.get("id")), ("rawId", payload.get("rawId"))]
    members += [(name, response.get(name)) for name in required]
    members += [(name, response[name]) for name in optional if response.get(name) is not None]
    for name, value in members:
        if not isinstance(value, str):
            raise _malformed("malformed", name)
        try:
            b64url.decode(value)
        except ValueError as exc:
            raise _malformed("malformed_base64url", name) from exc
    # §5.1: `id` is base64url(rawId); with both canonical, equal bytes means equal text.
    if payload["id"] != payload["rawId"]:
        raise _malformed("raw_id_mismatch", "rawId")
    return payload


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    members = dict(pairs)
    if len(members) != len(pairs):
        # Two parsers could pick different values for a repeated member: refuse the ambiguity.
        raise ValueError("duplicate member")
    return members


def _client_data(raw: bytes) -> ClientData:
    """§7.1 steps 5-6 / §7.2 steps 8-9: UTF-8 decode, then JSON; plus the members we check."""
    try:
        document = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError) as exc:
        raise _malformed("malformed_client_data", "clientDataJSON") from exc
    if not isinstance(document, dict):
        raise _malformed("malformed_client_data", "clientDataJSON")
    kind, challenge, origin = (document.get(k) for k in ("type", "challenge", "origin"))
    if not (isinstance(kind, str) and isinstance(challenge, str) and isinstance(origin, str)):
        raise _malformed("malformed_client_data", "clientDataJSON")
    try:
        # §7.1 step 8 / §7.2 step 11 compare the *text* with base64url(challenge): only the
        # canonical spelling can be equal to it.
        challenge_bytes = b64url.decode(challenge)
    except ValueError as exc:
        raise _malformed("malformed_base64url", "clientDataJSON.challenge") from exc
    return ClientData(
        type=kind,
        challenge=challenge_bytes,
        origin=origin,
        # §5.8.1: crossOrigin is a boolean; py_webauthn reads bool("false") as True and then
        # ignores it. Only an absent member or JSON false means "not in a cross-origin frame".
        cross_origin="crossOrigin" in document and document["crossOrigin"] is not False,
        top_origin="topOrigin" in document,
    )


def _single_cbor_item(raw: bytes) -> AttestationObject:
    """§7.1 step 13: the attestation object is one CBOR map; trailing bytes are not part of it.

    py_webauthn decodes with cbor2.loads, which stops after the first item and ignores the rest.
    """
    stream = io.BytesIO(raw)
    cbor2.CBORDecoder(stream).decode()
    if stream.tell() != len(raw):
        raise ValueError("bytes after the attestation object")
    return parse_attestation_object(raw)


# --- verification ----------------------------------------------------------------------------


def verify_registration(
    parsed: Parsed[RegistrationCredential], *, challenge: bytes, rp_id: str, origin: str
) -> NewCredential:
    credential = parsed.credential
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=origin,
            require_user_presence=True,
            require_user_verification=True,
            supported_pub_key_algs=ALGORITHMS,
        )
    except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
        raise _verification_error(exc) from exc
    _check_not_embedded(parsed.client_data)
    # §7.1 step 25 and §5.1.3: the credential the authenticator attested is the one the
    # browser named; otherwise rawId and the stored key would belong to different credentials.
    if verified.credential_id != credential.raw_id:
        raise _refused("credential_id_mismatch")
    if len(verified.credential_id) > MAX_CREDENTIAL_ID_BYTES:
        raise _refused("credential_id_too_long")
    flags = parsed.authenticator_data.flags
    transports = [
        t.value if isinstance(t, AuthenticatorTransport) else str(t)
        for t in (credential.response.transports or [])
    ]
    return NewCredential(
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        aaguid=verified.aaguid,
        transports=transports[:8],
        # §7.1 steps 18-19, 27: kept in the credential record.
        backup_eligible=bool(flags.be),
        backed_up=bool(flags.bs),
    )


def verify_assertion(
    parsed: Parsed[AuthenticationCredential],
    *,
    challenge: bytes,
    rp_id: str,
    origin: str,
    public_key: bytes,
    sign_count: int,
    backup_eligible: bool | None,
) -> Assertion:
    """Verify a login response. `backup_eligible` is the BE stored with the credential; None
    only for a record made before BE was kept (staff passkeys): the caller stores it then."""
    try:
        verified = verify_authentication_response(
            credential=parsed.credential,
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=origin,
            credential_public_key=public_key,
            credential_current_sign_count=sign_count,
            require_user_verification=True,
        )
    except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
        raise _verification_error(exc) from exc
    _check_not_embedded(parsed.client_data)
    # §7.2 step 19: backup eligibility is fixed when a credential is created; a change means
    # another authenticator answered, or the authenticator data was tampered with.
    eligible = bool(parsed.authenticator_data.flags.be)
    if backup_eligible is not None and eligible != backup_eligible:
        raise _refused("backup_eligibility_changed")
    return Assertion(
        new_sign_count=verified.new_sign_count,
        backup_eligible=eligible,
        backed_up=verified.credential_backed_up,
    )


def _check_not_embedded(client_data: ClientData) -> None:
    # §7.1 steps 10-11, §7.2 steps 13-14: the RP must expect use inside a cross-origin
    # iframe (and know the top-level origin). DUO Abroad never is (frame-ancestors 'none').
    if client_data.cross_origin:
        raise _refused("cross_origin")
    if client_data.top_origin:
        raise _refused("top_origin")


def _refused(reason: str) -> AuthError:
    return AuthError("VERIFICATION_FAILED", errors.VERIFICATION_FAILED, reason=reason)


# py_webauthn reports failures as messages on a few exception types; the audit log wants a
# stable reason. Matching on message text is brittle, so unknown messages fall back to
# "invalid" rather than failing open. Order matters: the first phrase found wins.
_REASONS: tuple[tuple[str, str], ...] = (
    ("origin", "origin"),
    ("rp id", "rp_id"),
    ("user verification", "user_verification"),
    ("user was not verified", "user_verification"),
    ("user presence", "user_presence"),
    ("user was not present", "user_presence"),
    ("challenge", "challenge"),
    ("sign count", "sign_count"),
    ("signature", "signature"),
    ("client data type", "client_data_type"),
    ("public key alg", "algorithm"),
    ("attestation", "attestation"),
    ("attested credential data", "attestation"),
)


def _verification_error(exc: Exception) -> AuthError:
    if isinstance(exc, InvalidBackupFlags):
        # §7.1 step 17 / §7.2 step 18: BS set without BE.
        return _refused("backup_state")
    message = str(exc).lower()
    reason = next((r for needle, r in _REASONS if needle in message), "invalid")
    return _refused(reason)


__all__ = [
    "Assertion",
    "ClientData",
    "NewCredential",
    "Options",
    "Parsed",
    "authentication_options",
    "parse_authentication",
    "parse_registration",
    "registration_options",
    "verify_assertion",
    "verify_registration",
]
