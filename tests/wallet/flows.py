"""A test wallet built on the SD-JWT reference implementation (PyPI `sd-jwt`, on jwcrypto):
nothing of extracts/sdjwt.py is used to receive, check or present a credential."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from jwcrypto.jwk import JWK
from jwcrypto.jws import JWS
from sd_jwt.holder import SDJWTHolder
from sd_jwt.verifier import SDJWTVerifier

from tests.support import gql

PRE_AUTH = "urn:ietf:params:oauth:grant-type:pre-authorized_code"
CREATE_OFFER = """
mutation($d: ID!) {
  createWalletOffer(diplomaId: $d) { id diplomaId offerUri qrSvgDataUri txCode expiresAt }
}
"""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sha256_digest(text: str) -> str:
    """RFC 9901 §4.2.3 by hand: the cross-check of both implementations' digests."""
    return b64url(hashlib.sha256(text.encode("ascii")).digest())


def decode_part(segment: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


async def create_offer(client: httpx.AsyncClient, diploma_id: object) -> dict[str, Any]:
    body = await gql(client, CREATE_OFFER, {"d": str(diploma_id)})
    assert "errors" not in body, body
    offer: dict[str, Any] = body["data"]["createWalletOffer"]
    return offer


def parse_offer(offer_uri: str) -> dict[str, Any]:
    """What a wallet does with a scanned openid-credential-offer:// link (§4.1.2)."""
    parts = urlsplit(offer_uri)
    assert parts.scheme == "openid-credential-offer"
    [value] = parse_qs(parts.query)["credential_offer"]
    offer: dict[str, Any] = json.loads(value)
    return offer


def sign(header: dict[str, Any], claims: dict[str, Any], key: JWK) -> str:
    token = JWS(payload=json.dumps(claims))
    token.add_signature(key, alg=header["alg"], protected=json.dumps(header))
    serialized: str = token.serialize(compact=True)
    return serialized


@dataclass
class Wallet:
    """An OpenID4VCI wallet with one P-256 key, talking HTTP to the app."""

    client: httpx.AsyncClient
    key: JWK = field(default_factory=lambda: JWK.generate(kty="EC", crv="P-256"))

    @property
    def public_jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(self.key.export_public())
        return jwk

    async def issuer_metadata(self, issuer: str) -> dict[str, Any]:
        path = urlsplit(issuer).path
        response = await self.client.get(f"/.well-known/openid-credential-issuer{path}")
        assert response.status_code == 200, response.text
        metadata: dict[str, Any] = response.json()
        assert metadata["credential_issuer"] == issuer  # §12.2.2: must be identical
        return metadata

    async def token(self, code: str, tx_code: str | None, **extra: str) -> httpx.Response:
        form = {"grant_type": PRE_AUTH, "pre-authorized_code": code, **extra}
        if tx_code is not None:
            form["tx_code"] = tx_code
        return await self.client.post("/wallet/token", data=form)

    async def nonce(self) -> str:
        response = await self.client.post("/wallet/nonce")
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"].startswith("no-store")
        nonce: str = response.json()["c_nonce"]
        return nonce

    def proof(
        self,
        *,
        nonce: str | None,
        audience: str,
        iat: int | None = None,
        signer: JWK | None = None,
        header: dict[str, Any] | None = None,
    ) -> str:
        """An `openid4vci-proof+jwt` (Appendix F.1), made with jwcrypto."""
        protected = {"typ": "openid4vci-proof+jwt", "alg": "ES256", "jwk": self.public_jwk}
        protected |= header or {}
        claims: dict[str, Any] = {"aud": audience, "iat": iat or int(time.time())}
        if nonce is not None:
            claims["nonce"] = nonce
        return sign(protected, claims, signer or self.key)

    async def credential(
        self, access_token: str, proofs: Any, configuration: str = "duo_diploma_sd_jwt"
    ) -> httpx.Response:
        return await self.client.post(
            "/wallet/credential",
            json={"credential_configuration_id": configuration, "proofs": proofs},
            headers={"Authorization": f"Bearer {access_token}"},
        )

    async def receive(self, offer_uri: str, tx_code: str) -> str:
        """The whole pre-authorized code flow: metadata, token, nonce, proof, credential."""
        offer = parse_offer(offer_uri)
        issuer = offer["credential_issuer"]
        metadata = await self.issuer_metadata(issuer)
        assert offer["credential_configuration_ids"] == ["duo_diploma_sd_jwt"]
        grant = offer["grants"][PRE_AUTH]
        assert grant["tx_code"] == {
            "input_mode": "numeric",
            "length": 6,
            "description": "The 6-digit code shown in the DUO Abroad app.",
        }
        response = await self.token(grant["pre-authorized_code"], tx_code)
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"].startswith("no-store")
        token = response.json()
        assert token["token_type"] == "Bearer"
        proof = self.proof(nonce=await self.nonce(), audience=metadata["credential_issuer"])
        response = await self.credential(token["access_token"], {"jwt": [proof]})
        assert response.status_code == 200, response.text
        [item] = response.json()["credentials"]
        credential: str = item["credential"]
        return credential


async def issuer_jwks(client: httpx.AsyncClient, issuer: str) -> dict[str, Any]:
    """SD-JWT VC §3: the keys of `iss` via /.well-known/jwt-vc-issuer, then its jwks_uri."""
    meta = (await client.get("/.well-known/jwt-vc-issuer")).json()
    assert meta["issuer"] == issuer
    response = await client.get(urlsplit(meta["jwks_uri"]).path)
    jwks: dict[str, Any] = response.json()
    return jwks


def library_verify(
    token: str,
    jwks: dict[str, Any],
    *,
    audience: str | None = None,
    nonce: str | None = None,
) -> dict[str, Any]:
    """The reference implementation's verifier, given only the published JWKS."""

    def issuer_key(_issuer: str, header: dict[str, Any]) -> JWK:
        [jwk] = [k for k in jwks["keys"] if k["kid"] == header["kid"]]
        return JWK(**jwk)

    verifier = SDJWTVerifier(token, issuer_key, expected_aud=audience, expected_nonce=nonce)
    payload: dict[str, Any] = verifier.get_verified_payload()
    return payload


def present(
    credential: str,
    disclose: dict[str, Any],
    *,
    key: JWK | None,
    audience: str = "https://employer.example",
    nonce: str = "nonce-from-the-employer",
) -> str:
    """A presentation made by the reference implementation's holder (KB-JWT when `key`)."""
    holder = SDJWTHolder(credential)
    if key is None:
        holder.create_presentation(disclose)
    else:
        holder.create_presentation(disclose, nonce=nonce, aud=audience, holder_key=key)
    presentation: str = holder.sd_jwt_presentation
    return presentation
