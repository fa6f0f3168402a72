"""Adapter around py_webauthn: options out, verification in, library errors never leak.

Origin and RP ID always come from settings (WebAuthn §7.1 steps 9 and 13, §7.2 steps 13
and 15), and user verification is always required (§7.1 step 15, §7.2 step 17), whatever
the library's defaults.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    base64url_to_bytes,
    parse_attestation_object,
    parse_authentication_credential_json,
    parse_authenticator_data,
    parse_client_data_json,
    parse_registration_credential_json,
)
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticationCredential,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    RegistrationCredential,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from auth import errors
from auth.errors import AuthError

TIMEOUT_MS = 5 * 60 * 1000
ALGORITHMS = [
    COSEAlgorithmIdentifier.ECDSA_SHA_256,
    COSEAlgorithmIdentifier.EDDSA,
    COSEAlgorithmIdentifier.RSASSA_PKCS1_v1_5_SHA_256,
]


@dataclass(frozen=True, slots=True)
class Options:
    challenge: bytes
    json: str


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
    # Usernameless: no allowCredentials, the authenticator offers its discoverable credentials.
    options = generate_authentication_options(
        rp_id=rp_id,
        timeout=TIMEOUT_MS,
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    return Options(challenge=options.challenge, json=options_to_json(options))


def parse_registration(payload: Any) -> RegistrationCredential:
    try:
        return parse_registration_credential_json(_as_json(payload))
    except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
        raise AuthError("MALFORMED_CREDENTIAL", errors.MALFORMED, reason="malformed") from exc


def parse_authentication(payload: Any) -> AuthenticationCredential:
    try:
        return parse_authentication_credential_json(_as_json(payload))
    except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
        raise AuthError("MALFORMED_CREDENTIAL", errors.MALFORMED, reason="malformed") from exc


def challenge_of(client_data_json: bytes) -> bytes:
    """The challenge the browser signed (§5.8.1), used to find the pending ceremony."""
    try:
        return parse_client_data_json(client_data_json).challenge
    except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
        raise AuthError("MALFORMED_CREDENTIAL", errors.MALFORMED, reason="malformed") from exc


def sign_count_of(credential: AuthenticationCredential) -> int:
    try:
        return parse_authenticator_data(credential.response.authenticator_data).sign_count
    except (WebAuthnException, ValueError, TypeError, IndexError) as exc:
        raise AuthError("MALFORMED_CREDENTIAL", errors.MALFORMED, reason="malformed") from exc


def verify_registration(
    credential: RegistrationCredential, *, challenge: bytes, rp_id: str, origin: str
) -> NewCredential:
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
    flags = parse_attestation_object(credential.response.attestation_object).auth_data.flags
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
        backup_eligible=bool(flags.be),
        backed_up=bool(flags.bs),
    )


def verify_assertion(
    credential: AuthenticationCredential,
    *,
    challenge: bytes,
    rp_id: str,
    origin: str,
    public_key: bytes,
    sign_count: int,
) -> Assertion:
    try:
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=origin,
            credential_public_key=public_key,
            credential_current_sign_count=sign_count,
            require_user_verification=True,
        )
    except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
        raise _verification_error(exc) from exc
    return Assertion(
        new_sign_count=verified.new_sign_count, backed_up=verified.credential_backed_up
    )


def _as_json(payload: Any) -> str:
    return payload if isinstance(payload, str) else json.dumps(payload)


# py_webauthn reports failures as messages on a few exception types; the audit log wants a
# stable reason. Matching on message text is brittle, so unknown messages fall back to
# "invalid" rather than failing open.
_REASONS = (
    ("origin", "origin"),
    ("rp id", "rp_id"),
    ("user verification", "user_verification"),
    ("user was not verified", "user_verification"),
    ("user presence", "user_presence"),
    ("user was not present", "user_presence"),
    ("challenge", "challenge"),
    ("signature", "signature"),
    ("sign count", "sign_count"),
    ("type", "client_data_type"),
)


def _verification_error(exc: Exception) -> AuthError:
    message = str(exc).lower()
    reason = next((r for needle, r in _REASONS if needle in message), "invalid")
    return AuthError("VERIFICATION_FAILED", errors.VERIFICATION_FAILED, reason=reason)


__all__ = [
    "Assertion",
    "NewCredential",
    "Options",
    "authentication_options",
    "base64url_to_bytes",
    "challenge_of",
    "parse_authentication",
    "parse_registration",
    "registration_options",
    "sign_count_of",
    "verify_assertion",
    "verify_registration",
]
