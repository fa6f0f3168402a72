"""A software WebAuthn authenticator (platform passkey, ES256, attestation "none") for tests.

`create()` / `get()` take py_webauthn's `options_to_json(...)` output and return what the browser's
`PublicKeyCredential.toJSON()` would, so py_webauthn's `verify_*_response` accept them as is.
Spec references are to W3C Web Authentication Level 3.
"""

from __future__ import annotations

import hashlib
import json
import os
from base64 import urlsafe_b64decode, urlsafe_b64encode
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import cbor2
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

# §6.1 authenticator data, flags byte.
UP, UV, BE, BS, AT = 0x01, 0x04, 0x08, 0x10, 0x40


class AuthenticatorError(Exception):
    """What the browser reports as NotAllowedError / InvalidStateError."""


class _Keep:
    """Marker: leave a value as the authenticator would produce it."""


KEEP = _Keep()
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def b64url(data: bytes) -> str:
    """Encode base64url without padding (the toJSON() encoding)."""
    return urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode base64url with or without padding."""
    return urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class SoftCredential:
    """One discoverable credential held by the authenticator."""

    credential_id: bytes
    private_key: ec.EllipticCurvePrivateKey
    rp_id: str
    user_handle: bytes
    sign_count: int = 0
    backup_eligible: bool = False
    backed_up: bool = False

    def cose_public_key(self) -> bytes:
        """Return the public key as a COSE_Key (§6.5.1.1; RFC 9053 §7.1.1 EC2 key parameters)."""
        numbers = self.private_key.public_key().public_numbers()
        x, y = numbers.x.to_bytes(32, "big"), numbers.y.to_bytes(32, "big")
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: x, -3: y})  # kty EC2, alg ES256, crv P-256


class SoftAuthenticator:
    """A platform authenticator holding P-256 passkeys in memory."""

    def __init__(
        self,
        *,
        aaguid: bytes = bytes(16),
        user_verification: bool = True,
        counter_step: int = 0,
        backup_eligible: bool = False,
        backed_up: bool = False,
    ) -> None:
        """Configure the authenticator; counter_step=0 behaves like synced passkeys."""
        assert len(aaguid) == 16, "an AAGUID is 16 bytes"
        self.aaguid = aaguid
        self.user_verification = user_verification
        self.counter_step = counter_step
        self.backup_eligible = backup_eligible
        self.backed_up = backed_up
        self.credentials: list[SoftCredential] = []

    def create(
        self,
        options: Mapping[str, Any] | str,
        *,
        origin: str,
        override_origin: str | None = None,
        override_rp_id: str | None = None,
        override_challenge: bytes | None = None,
        type_override: str | None = None,
        sign_count: int | None = None,
        user_verified: bool | None = None,
        credential_id: bytes | None = None,
        attested_credential_id: bytes | None = None,
        client_data: Mapping[str, Any] | None = None,
        attestation_suffix: bytes = b"",
    ) -> dict[str, Any]:
        """Run navigator.credentials.create() (§5.1.3) and return the credential's toJSON().

        Knobs make what a browser never would: `client_data` members added to (or replacing
        ones of) clientDataJSON, e.g. {"crossOrigin": True}; an `attested_credential_id` other
        than the credential id the response reports; bytes after the attestation object.
        """
        opts = _public_key(options)
        rp_id = opts.get("rp", {}).get("id") or urlsplit(origin).hostname or ""
        user_handle = b64url_decode(opts["user"]["id"])
        excluded = {b64url_decode(c["id"]) for c in opts.get("excludeCredentials", [])}
        # §6.3.2 step 3: refuse when this authenticator already holds an excluded credential.
        if any(c.credential_id in excluded for c in self.credentials if c.rp_id == rp_id):
            raise AuthenticatorError("InvalidStateError: an excluded credential is present")
        cred = SoftCredential(
            credential_id=os.urandom(16) if credential_id is None else credential_id,
            private_key=ec.generate_private_key(ec.SECP256R1()),
            rp_id=rp_id,
            user_handle=user_handle,
            sign_count=sign_count or 0,
            backup_eligible=self.backup_eligible,
            backed_up=self.backed_up,
        )
        # §6.3.2 step 6: a new discoverable credential replaces the one for the same RP and user.
        self.credentials = [
            c for c in self.credentials if (c.rp_id, c.user_handle) != (rp_id, user_handle)
        ]
        self.credentials.append(cred)
        client_data_json = _client_data(
            type_override or "webauthn.create",
            opts,
            origin,
            override_origin,
            override_challenge,
            client_data,
        )
        # §6.5.1 attested credential data: aaguid || credentialIdLength (2 bytes) || id || COSE key.
        attested_id = attested_credential_id or cred.credential_id
        attested = self.aaguid + len(attested_id).to_bytes(2, "big") + attested_id
        auth_data = self._auth_data(cred, override_rp_id, user_verified, AT) + attested
        auth_data += cred.cose_public_key()
        # §6.5.4 attestation object; §8.7 "none" attestation has an empty attStmt.
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        attestation += attestation_suffix
        spki = cred.private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        response = {
            "clientDataJSON": b64url(client_data_json),
            "attestationObject": b64url(attestation),
            "authenticatorData": b64url(auth_data),
            "publicKey": b64url(spki),
            "publicKeyAlgorithm": -7,
            "transports": ["internal"],
        }
        return _credential_json(cred, response)

    def get(
        self,
        options: Mapping[str, Any] | str,
        *,
        origin: str,
        credential_id: bytes | None = None,
        override_origin: str | None = None,
        override_rp_id: str | None = None,
        override_challenge: bytes | None = None,
        type_override: str | None = None,
        sign_count: int | None = None,
        corrupt_signature: bool = False,
        user_verified: bool | None = None,
        client_data: Mapping[str, Any] | None = None,
        backup_eligible: bool | None = None,
        backed_up: bool | None = None,
        user_handle: bytes | _Keep | None = KEEP,
        client_data_suffix: str = "",
        client_data_encoding: str = "utf-8",
    ) -> dict[str, Any]:
        """Run navigator.credentials.get() (§5.1.4) and return the assertion's toJSON().

        Knobs for what a browser never sends: extra `client_data` members, BE/BS flags other
        than the credential's, a `user_handle` that is someone else's (bytes) or missing
        (None: the member is left out), raw text before clientDataJSON's closing brace (e.g. a
        repeated member), and another text encoding of clientDataJSON than UTF-8.
        """
        opts = _public_key(options)
        cred = self._pick(opts, origin, credential_id)
        # §6.3.3 step 9, §6.1.1 signature counter; a forced value becomes the counter.
        cred.sign_count = cred.sign_count + self.counter_step if sign_count is None else sign_count
        client_data_json = _client_data(
            type_override or "webauthn.get",
            opts,
            origin,
            override_origin,
            override_challenge,
            client_data,
        )
        if client_data_suffix or client_data_encoding != "utf-8":
            text = client_data_json.decode()[:-1] + client_data_suffix + "}"
            client_data_json = text.encode(client_data_encoding)
        auth_data = self._auth_data(
            cred, override_rp_id, user_verified, 0, be=backup_eligible, bs=backed_up
        )
        # §6.3.3 step 11: sign authenticatorData || SHA-256(clientDataJSON).
        signed = auth_data + hashlib.sha256(client_data_json).digest()
        signature = cred.private_key.sign(signed, ec.ECDSA(hashes.SHA256()))  # DER, §6.5.5
        if corrupt_signature:  # the last byte is inside the integer s, so the DER stays valid
            signature = signature[:-1] + bytes([signature[-1] ^ 0x01])
        response = {
            "clientDataJSON": b64url(client_data_json),
            "authenticatorData": b64url(auth_data),
            "signature": b64url(signature),
        }
        handle = cred.user_handle if isinstance(user_handle, _Keep) else user_handle
        if handle is not None:
            response["userHandle"] = b64url(handle)
        return _credential_json(cred, response)

    def credential(self, credential_id: bytes) -> SoftCredential:
        """Return the held credential with this id."""
        for cred in self.credentials:
            if cred.credential_id == credential_id:
                return cred
        raise AuthenticatorError("NotAllowedError: no such credential")

    def _pick(
        self, opts: Mapping[str, Any], origin: str, credential_id: bytes | None
    ) -> SoftCredential:
        """Choose the credential: by id, else the newest for the RP among allowCredentials."""
        if credential_id is not None:
            return self.credential(credential_id)
        rp_id = opts.get("rpId") or urlsplit(origin).hostname
        allowed = {b64url_decode(c["id"]) for c in opts.get("allowCredentials") or []}
        for cred in reversed(self.credentials):  # no allowCredentials: usernameless (§6.3.3 step 4)
            if cred.rp_id == rp_id and (not allowed or cred.credential_id in allowed):
                return cred
        raise AuthenticatorError("NotAllowedError: no matching credential")

    def _auth_data(
        self,
        cred: SoftCredential,
        rp_id: str | None,
        user_verified: bool | None,
        extra: int,
        *,
        be: bool | None = None,
        bs: bool | None = None,
    ) -> bytes:
        """Build §6.1 authenticator data without the attested credential data."""
        verified = self.user_verification if user_verified is None else user_verified
        flags = UP | (UV if verified else 0) | extra
        eligible = cred.backup_eligible if be is None else be
        backed_up = cred.backed_up if bs is None else bs
        flags |= (BE if eligible else 0) | (BS if backed_up else 0)
        rp_id_hash = hashlib.sha256((rp_id or cred.rp_id).encode()).digest()
        return rp_id_hash + bytes([flags]) + cred.sign_count.to_bytes(4, "big")


def _public_key(options: Mapping[str, Any] | str) -> Mapping[str, Any]:
    """Parse options JSON, unwrapping a {"publicKey": ...} envelope if present."""
    opts: Mapping[str, Any] = json.loads(options) if isinstance(options, str) else options
    inner = opts.get("publicKey")
    return inner if isinstance(inner, Mapping) else opts


def _client_data(
    kind: str,
    opts: Mapping[str, Any],
    origin: str,
    override: str | None,
    challenge: bytes | None,
    extra: Mapping[str, Any] | None = None,
) -> bytes:
    """Serialize §5.8.1 CollectedClientData the way browsers do (§5.8.1.1: compact, fixed key
    order), with `extra` members replacing or following the standard ones."""
    data = {
        "type": kind,
        "challenge": opts["challenge"] if challenge is None else b64url(challenge),
        "origin": override or origin,
        "crossOrigin": False,
        **(extra or {}),
    }
    return json.dumps(data, separators=(",", ":")).encode()


def _credential_json(cred: SoftCredential, response: dict[str, Any]) -> dict[str, Any]:
    """Wrap a response as PublicKeyCredential.toJSON() does (§5.1)."""
    return {
        "id": b64url(cred.credential_id),
        "rawId": b64url(cred.credential_id),
        "type": "public-key",
        "response": response,
        "clientExtensionResults": {},
        "authenticatorAttachment": "platform",
    }


def respell(text: str, how: str) -> str | None:
    """Another spelling of the same bytes that a lenient base64url decoder accepts.

    None when this text has no such spelling (no `-`/`_` to swap, or no unused trailing bits).
    """
    if how == "padding":
        return text + "=" * (-len(text) % 4 or 2)
    if how == "whitespace":
        return text[: len(text) // 2] + " \n" + text[len(text) // 2 :]
    if how == "foreign_character":
        return text[: len(text) // 2] + "!" + text[len(text) // 2 :]
    if how == "standard_alphabet":  # RFC 4648 §4 base64 instead of §5 base64url
        swapped = text.replace("-", "+").replace("_", "/")
        return swapped if swapped != text else None
    if how == "unused_bits":  # RFC 4648 §3.5: set a bit that encodes nothing
        if len(text) % 4 not in (2, 3):
            return None
        # A canonical last character has its unused low bits clear; setting one keeps the bytes.
        return text[:-1] + _ALPHABET[_ALPHABET.index(text[-1]) | 1]
    raise ValueError(how)
