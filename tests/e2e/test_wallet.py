"""Add to a wallet, in Chromium: the offer's QR code and transaction code; a wallet (Python,
the SD-JWT reference implementation) redeems it; the activity shows it; a presentation from
the wallet is checked on the public verification page."""

from __future__ import annotations

import json
import re
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from jwcrypto.jwk import JWK
from jwcrypto.jws import JWS
from playwright.sync_api import Page, expect
from sd_jwt.holder import SDJWTHolder
from sd_jwt.verifier import SDJWTVerifier

from tests.e2e.conftest import LiveServer
from tests.e2e.test_staff import axe_serious

pytestmark = pytest.mark.e2e

SHOTS = Path(tempfile.gettempdir())
PRE_AUTH = "urn:ietf:params:oauth:grant-type:pre-authorized_code"


def redeem(offer_uri: str, tx_code: str, server: str, key: JWK) -> str:
    """A wallet's side of the pre-authorized code flow (OpenID4VCI 1.0), over real HTTP."""
    offer = json.loads(parse_qs(urlsplit(offer_uri).query)["credential_offer"][0])
    issuer = offer["credential_issuer"]
    grant = offer["grants"][PRE_AUTH]
    with httpx.Client(base_url=server, timeout=10) as http:
        metadata = http.get("/.well-known/openid-credential-issuer").json()
        assert metadata["credential_issuer"] == issuer
        form = {"grant_type": PRE_AUTH, "pre-authorized_code": grant["pre-authorized_code"]}
        token = http.post("/wallet/token", data={**form, "tx_code": tx_code})
        assert token.status_code == 200, token.text
        nonce = http.post("/wallet/nonce").json()["c_nonce"]
        proof = JWS(payload=json.dumps({"aud": issuer, "iat": int(time.time()), "nonce": nonce}))
        header = {
            "typ": "openid4vci-proof+jwt",
            "alg": "ES256",
            "jwk": json.loads(key.export_public()),
        }
        proof.add_signature(key, alg="ES256", protected=json.dumps(header))
        response = http.post(
            "/wallet/credential",
            json={
                "credential_configuration_id": "duo_diploma_sd_jwt",
                "proofs": {"jwt": [proof.serialize(compact=True)]},
            },
            headers={"Authorization": f"Bearer {token.json()['access_token']}"},
        )
        assert response.status_code == 200, response.text
        credential: str = response.json()["credentials"][0]["credential"]
        jwks = http.get("/.well-known/jwks.json").json()

    def issuer_key(_iss: str, head: dict[str, Any]) -> JWK:
        [jwk] = [k for k in jwks["keys"] if k["kid"] == head["kid"]]
        return JWK(**jwk)

    assert SDJWTVerifier(credential, issuer_key).get_verified_payload()["birthdate"]
    return credential


def test_add_to_wallet_then_the_activity_shows_it(
    live_server: LiveServer, signed_in: str, page: Page
) -> None:
    page.goto(f"{live_server.origin}/#/extracts")
    expect(page.get_by_role("heading", level=1)).to_have_text("Diploma extracts")
    page.get_by_role("link", name=re.compile(r"^Add to a wallet: ")).first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Add your diploma to a wallet")
    qr = page.get_by_role("img", name="QR code with the offer for your wallet app")
    expect(qr).to_be_visible()
    code = page.locator("#wallet-tx-code")
    expect(code).to_have_text(re.compile(r"^\d{6}$"))
    tx_code = code.inner_text()
    link = page.get_by_role("link", name="Wallet on this phone? Open the offer in it")
    offer_uri = link.get_attribute("href") or ""
    assert offer_uri.startswith("openid-credential-offer://?credential_offer=")
    assert tx_code not in offer_uri
    expect(page.locator("#wallet-code")).to_contain_text("The offer works once, until")
    page.screenshot(path=SHOTS / "wallet-offer.png", full_page=True)

    port = urlsplit(live_server.origin).port
    key = JWK.generate(kty="EC", crv="P-256")
    credential = redeem(offer_uri, tx_code, f"http://127.0.0.1:{port}", key)

    page.get_by_role("link", name="Account activity").click()
    events = page.locator("#security-events")
    expect(events).to_contain_text("Diploma added to a wallet")
    expect(events.locator("li").first).to_contain_text("Diploma added to a wallet")
    page.screenshot(path=SHOTS / "wallet-activity.png", full_page=True)

    # The holder shows the degree without grades or birth date; the page shows just that.
    holder = SDJWTHolder(credential)
    holder.create_presentation({"results": [True]})
    page.goto(f"{live_server.origin}/#/verify")
    page.get_by_label("Signed extract").fill(holder.sd_jwt_presentation)
    page.get_by_role("button", name="Check", exact=True).click()
    verdict = page.locator("#verdict")
    expect(verdict.locator(".verdict")).to_have_text("Valid: issued by DUO and not changed")
    expect(verdict).to_contain_text("Results shown: 1")
    expect(verdict.locator("dl")).to_contain_text("Not shown by the holder")
    expect(verdict).to_contain_text("did not prove it is their own wallet")
    page.screenshot(path=SHOTS / "verify-presentation.png", full_page=True)

    # An employer checks the diploma through DUO's verifier page (OpenID4VP 1.0): the page
    # shows a request, the wallet answers it, and the page shows the answer by itself.
    employer = page.context.browser.new_context(locale="en-GB")  # type: ignore[union-attr]
    try:
        check = employer.new_page()
        check.goto(f"{live_server.origin}/verifier")
        expect(check.get_by_role("heading", level=1)).to_have_text(
            "Check a Dutch diploma from a wallet"
        )
        check.get_by_label("Date of birth").check()
        check.get_by_role("button", name="Start a check").click()
        expect(
            check.get_by_role("img", name="QR code with the request for the holder's wallet")
        ).to_be_visible()
        assert axe_serious(check) == []
        request_uri = (
            check.get_by_role("link", name="Open in a wallet on this device").get_attribute("href")
            or ""
        )
        request = {k: v[0] for k, v in parse_qs(urlsplit(request_uri).query).items()}
        assert request["client_id"] == f"redirect_uri:{request['response_uri']}"
        holder = SDJWTHolder(credential)
        holder.create_presentation(
            {"birthdate": True}, nonce=request["nonce"], aud=request["client_id"], holder_key=key
        )
        answer = httpx.post(
            f"http://127.0.0.1:{port}{urlsplit(request['response_uri']).path}",
            data={
                "vp_token": json.dumps({"diploma": [holder.sd_jwt_presentation]}),
                "state": request["state"],
            },
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        expect(check.locator(".verdict")).to_have_text(
            "Genuine: a diploma issued by DUO, not changed, not revoked.", timeout=10_000
        )
        expect(check.locator("dl")).to_contain_text("Date of birth")
        assert axe_serious(check) == []
        check.screenshot(path=SHOTS / "verifier-result.png", full_page=True)
    finally:
        employer.close()
