"""What wallets read first: Credential Issuer Metadata (OpenID4VCI §12.2) and the
Authorization Server Metadata of the token endpoint (RFC 8414, OpenID4VCI §12.3)."""

from __future__ import annotations

from typing import Any

from extracts import sdjwt_vc
from wallet.service import PRE_AUTHORIZED_GRANT


def endpoints(credential_issuer: str) -> dict[str, str]:
    return {
        "token_endpoint": f"{credential_issuer}/wallet/token",
        "nonce_endpoint": f"{credential_issuer}/wallet/nonce",
        "credential_endpoint": f"{credential_issuer}/wallet/credential",
    }


def credential_issuer_metadata(credential_issuer: str) -> dict[str, Any]:
    """§12.2.4; no `authorization_servers`: the issuer is its own authorization server."""
    urls = endpoints(credential_issuer)
    return {
        "credential_issuer": credential_issuer,
        "credential_endpoint": urls["credential_endpoint"],
        "nonce_endpoint": urls["nonce_endpoint"],
        "display": [
            {"locale": "en", "name": "DUO (Dienst Uitvoering Onderwijs)"},
            {"locale": "nl", "name": "DUO (Dienst Uitvoering Onderwijs)"},
        ],
        "credential_configurations_supported": {
            sdjwt_vc.CONFIGURATION_ID: {
                "format": sdjwt_vc.VC_TYP,  # Appendix A.3.1
                "vct": sdjwt_vc.vct(credential_issuer),
                "credential_signing_alg_values_supported": ["ES256"],
                "cryptographic_binding_methods_supported": ["jwk"],
                "proof_types_supported": {"jwt": {"proof_signing_alg_values_supported": ["ES256"]}},
                "credential_metadata": {
                    "display": sdjwt_vc.display(issuer_style=True),
                    "claims": sdjwt_vc.claims_metadata(issuer_style=True),
                },
            }
        },
    }


def authorization_server_metadata(credential_issuer: str) -> dict[str, Any]:
    """RFC 8414 §2, for the pre-authorized code grant only (so no authorization endpoint)."""
    return {
        "issuer": credential_issuer,
        "token_endpoint": endpoints(credential_issuer)["token_endpoint"],
        "grant_types_supported": [PRE_AUTHORIZED_GRANT],
        "token_endpoint_auth_methods_supported": ["none"],
        # §12.3: wallets may redeem the code without a client_id.
        "pre-authorized_grant_anonymous_access_supported": True,
    }
