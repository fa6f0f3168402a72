"""The software authenticator in tests/webauthn_soft.py, checked against py_webauthn directly."""

from __future__ import annotations

import json
from typing import Any

import pytest
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import parse_attestation_object
from webauthn.helpers.exceptions import (
    InvalidAuthenticationResponse,
    InvalidRegistrationResponse,
)
from webauthn.helpers.structs import (
    AttestationFormat,
    CredentialDeviceType,
    PublicKeyCredentialDescriptor,
)
from webauthn.registration.verify_registration_response import VerifiedRegistration

from tests.webauthn_soft import AuthenticatorError, SoftAuthenticator, b64url, b64url_decode

RP_ID = "localhost"
ORIGIN = "http://localhost:8000"
USER_ID = b"\x00person-42"


def register(
    auth: SoftAuthenticator, *, user_id: bytes = USER_ID, **knobs: Any
) -> tuple[dict[str, Any], VerifiedRegistration]:
    """Register a passkey and verify it the way the server will (UV required)."""
    options = generate_registration_options(
        rp_id=RP_ID, rp_name="DUO Abroad", user_name="ana@example.org", user_id=user_id
    )
    credential = auth.create(options_to_json(options), origin=ORIGIN, **knobs)
    verified = verify_registration_response(
        credential=credential,
        expected_challenge=options.challenge,
        expected_rp_id=RP_ID,
        expected_origin=ORIGIN,
        require_user_verification=True,
    )
    return credential, verified


def sign_in(
    auth: SoftAuthenticator,
    registered: VerifiedRegistration,
    *,
    current_sign_count: int = 0,
    allow: list[bytes] | None = None,
    **knobs: Any,
) -> tuple[dict[str, Any], int]:
    """Assert with the passkey and verify it; return the assertion and the new sign count."""
    options = generate_authentication_options(
        rp_id=RP_ID,
        allow_credentials=[PublicKeyCredentialDescriptor(id=i) for i in allow or []],
    )
    assertion = auth.get(options_to_json(options), origin=ORIGIN, **knobs)
    verified = verify_authentication_response(
        credential=assertion,
        expected_challenge=options.challenge,
        expected_rp_id=RP_ID,
        expected_origin=ORIGIN,
        credential_public_key=registered.credential_public_key,
        credential_current_sign_count=current_sign_count,
        require_user_verification=True,
    )
    assert verified.credential_id == registered.credential_id
    return assertion, verified.new_sign_count


def test_registration_verifies_with_user_verification_required() -> None:
    auth = SoftAuthenticator()
    _, verified = register(auth)
    assert verified.fmt == AttestationFormat.NONE
    assert verified.aaguid == "00000000-0000-0000-0000-000000000000"
    assert verified.sign_count == 0
    assert verified.user_verified
    assert verified.credential_device_type == CredentialDeviceType.SINGLE_DEVICE
    assert not verified.credential_backed_up
    assert verified.credential_id == auth.credentials[0].credential_id
    assert verified.credential_public_key == auth.credentials[0].cose_public_key()
    assert auth.credentials[0].user_handle == USER_ID


def test_registration_has_the_browser_json_shape() -> None:
    credential, verified = register(SoftAuthenticator())
    assert credential["id"] == credential["rawId"] == b64url(verified.credential_id)
    assert credential["type"] == "public-key"
    assert credential["authenticatorAttachment"] == "platform"
    assert credential["clientExtensionResults"] == {}
    response = credential["response"]
    assert response["transports"] == ["internal"]
    assert response["publicKeyAlgorithm"] == -7
    for field in ("clientDataJSON", "attestationObject", "authenticatorData", "publicKey"):
        assert "=" not in response[field]
    client_data = json.loads(b64url_decode(response["clientDataJSON"]))
    assert client_data["type"] == "webauthn.create"
    assert client_data["origin"] == ORIGIN
    attestation = parse_attestation_object(b64url_decode(response["attestationObject"]))
    assert attestation.auth_data.flags.up
    assert attestation.auth_data.flags.uv
    assert attestation.auth_data.flags.at


def test_options_and_credential_as_json_strings() -> None:
    auth = SoftAuthenticator()
    options = generate_registration_options(rp_id=RP_ID, rp_name="DUO", user_name="a", user_id=b"1")
    credential = auth.create(options_to_json(options), origin=ORIGIN)
    verify_registration_response(
        credential=json.dumps(credential),
        expected_challenge=options.challenge,
        expected_rp_id=RP_ID,
        expected_origin=ORIGIN,
        require_user_verification=True,
    )
    wrapped = {"publicKey": json.loads(options_to_json(options))}
    assert auth.create(wrapped, origin=ORIGIN)["response"]["clientDataJSON"]


def test_authentication_verifies_with_the_stored_public_key() -> None:
    auth = SoftAuthenticator()
    _, registered = register(auth)
    assertion, new_count = sign_in(auth, registered, allow=[registered.credential_id])
    assert new_count == 0
    assert b64url_decode(assertion["response"]["userHandle"]) == USER_ID
    assert assertion["authenticatorAttachment"] == "platform"
    client_data = json.loads(b64url_decode(assertion["response"]["clientDataJSON"]))
    assert client_data["type"] == "webauthn.get"


def test_usernameless_picks_the_newest_credential_for_the_rp() -> None:
    auth = SoftAuthenticator()
    _, first = register(auth, user_id=b"first")
    _, second = register(auth, user_id=b"second")
    assertion, _ = sign_in(auth, second)  # empty allowCredentials
    assert b64url_decode(assertion["response"]["userHandle"]) == b"second"
    sign_in(auth, first, allow=[first.credential_id])
    sign_in(auth, first, credential_id=first.credential_id)


def test_new_passkey_replaces_the_one_for_the_same_user() -> None:
    auth = SoftAuthenticator()
    register(auth)
    _, newer = register(auth)
    assert [c.credential_id for c in auth.credentials] == [newer.credential_id]


def test_unknown_or_excluded_credentials_are_refused() -> None:
    auth = SoftAuthenticator()
    _, registered = register(auth)
    options = generate_authentication_options(
        rp_id=RP_ID, allow_credentials=[PublicKeyCredentialDescriptor(id=b"someone else")]
    )
    with pytest.raises(AuthenticatorError, match="NotAllowedError"):
        auth.get(options_to_json(options), origin=ORIGIN)
    with pytest.raises(AuthenticatorError, match="NotAllowedError"):
        auth.get(
            options_to_json(generate_authentication_options(rp_id="other.example")), origin=ORIGIN
        )
    excluding = generate_registration_options(
        rp_id=RP_ID,
        rp_name="DUO",
        user_name="a",
        user_id=b"another user",
        exclude_credentials=[PublicKeyCredentialDescriptor(id=registered.credential_id)],
    )
    with pytest.raises(AuthenticatorError, match="InvalidStateError"):
        auth.create(options_to_json(excluding), origin=ORIGIN)


def test_backup_flags_and_aaguid() -> None:
    aaguid = bytes.fromhex("fbfc3007154e4ecc8c0b6e020557d7bd")  # iCloud Keychain's
    auth = SoftAuthenticator(aaguid=aaguid, backup_eligible=True, backed_up=True)
    _, registered = register(auth)
    assert registered.aaguid == "fbfc3007-154e-4ecc-8c0b-6e020557d7bd"
    assert registered.credential_device_type == CredentialDeviceType.MULTI_DEVICE
    assert registered.credential_backed_up


def test_without_user_verification_registration_is_rejected() -> None:
    with pytest.raises(InvalidRegistrationResponse, match="User verification is required"):
        register(SoftAuthenticator(user_verification=False))
    with pytest.raises(InvalidRegistrationResponse, match="User verification is required"):
        register(SoftAuthenticator(), user_verified=False)


def test_without_user_verification_authentication_is_rejected() -> None:
    auth = SoftAuthenticator(user_verification=False)
    _, registered = register(auth, user_verified=True)
    with pytest.raises(InvalidAuthenticationResponse, match="User verification is required"):
        sign_in(auth, registered)
    auth = SoftAuthenticator()
    _, registered = register(auth)
    with pytest.raises(InvalidAuthenticationResponse, match="User verification is required"):
        sign_in(auth, registered, user_verified=False)


@pytest.mark.parametrize(
    ("knobs", "message"),
    [
        ({"override_origin": "https://evil.example"}, "origin"),
        ({"override_rp_id": "evil.example"}, "RP ID hash"),
        ({"override_challenge": b"an old challenge"}, "challenge"),
        ({"type_override": "webauthn.get"}, "type"),
    ],
)
def test_tampered_registration_is_rejected(knobs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRegistrationResponse, match=message):
        register(SoftAuthenticator(), **knobs)


@pytest.mark.parametrize(
    ("knobs", "message"),
    [
        ({"override_origin": "https://evil.example"}, "origin"),
        ({"override_rp_id": "evil.example"}, "RP ID hash"),
        ({"override_challenge": b"an old challenge"}, "challenge"),
        ({"type_override": "webauthn.create"}, "type"),
        ({"corrupt_signature": True}, "signature"),
    ],
)
def test_tampered_assertion_is_rejected(knobs: dict[str, Any], message: str) -> None:
    auth = SoftAuthenticator()
    _, registered = register(auth)
    sign_in(auth, registered)  # untampered, it verifies
    with pytest.raises(InvalidAuthenticationResponse, match=message):
        sign_in(auth, registered, **knobs)


def test_counter_that_goes_backwards_is_rejected() -> None:
    auth = SoftAuthenticator(counter_step=1)
    _, registered = register(auth)
    _, count = sign_in(auth, registered, current_sign_count=registered.sign_count)
    assert count == 1
    _, count = sign_in(auth, registered, current_sign_count=count)
    assert count == 2
    with pytest.raises(InvalidAuthenticationResponse, match="sign count"):
        sign_in(auth, registered, current_sign_count=count, sign_count=1)
    with pytest.raises(InvalidAuthenticationResponse, match="sign count"):
        sign_in(auth, registered, current_sign_count=count, sign_count=count)


def test_counter_that_stays_zero_verifies_twice() -> None:
    """py_webauthn does not track challenges: replay protection is the server's job."""
    auth = SoftAuthenticator()  # counter_step=0, like synced passkeys
    _, registered = register(auth)
    options = generate_authentication_options(rp_id=RP_ID)
    assertion = auth.get(options_to_json(options), origin=ORIGIN)
    for _ in range(2):  # the very same assertion, replayed
        verified = verify_authentication_response(
            credential=assertion,
            expected_challenge=options.challenge,
            expected_rp_id=RP_ID,
            expected_origin=ORIGIN,
            credential_public_key=registered.credential_public_key,
            credential_current_sign_count=0,
            require_user_verification=True,
        )
        assert verified.new_sign_count == 0
