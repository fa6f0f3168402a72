"""The OpenID4VP verifier: an employer starts a check, a wallet answers, the page shows it.

The wallet is played with the SD-JWT reference implementation (tests/wallet/flows.py); the
authorization request is read as a wallet reads it, from the `openid4vp://` link on the page.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.database import utcnow
from extracts.cli import revoke
from tests.support import asgi_client
from tests.wallet.flows import present
from tests.wallet.test_presentations import Issued, issue
from wallet import presentations
from wallet.models import PresentationRequest, WalletOffer

LINK = re.compile(r'href="(openid4vp://[^"]+)"')


@pytest.fixture
async def employer(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """The verifier's browser: no DUO account, its own cookies."""
    async with asgi_client(app) as c:
        yield c


async def start_check(employer: httpx.AsyncClient, *claims: str) -> tuple[str, dict[str, Any]]:
    """Start a check on the verifier page; (its page path, the request as a wallet reads it)."""
    page = await employer.get("/verifier")
    assert page.status_code == 200
    assert '<form method="post" action="/verifier/requests' in page.text
    response = await employer.post("/verifier/requests", data={"claim": list(claims)})
    assert response.status_code == 303, response.text
    path = response.headers["location"].split("?")[0]
    pending = await employer.get(path)
    assert pending.status_code == 200, pending.text
    [link] = LINK.findall(pending.text)
    parts = urlsplit(html.unescape(link))
    request = {name: values[0] for name, values in parse_qs(parts.query).items()}
    return path, request


async def answer(
    wallet_client: httpx.AsyncClient, request: dict[str, Any], form: dict[str, str]
) -> httpx.Response:
    """What a wallet does with its answer: §8.2, a form POST to the Response URI."""
    return await wallet_client.post(urlsplit(request["response_uri"]).path, data=form)


def vp_token(presentation: str) -> str:
    return json.dumps({"diploma": [presentation]})


def made_for(issued: Issued, request: dict[str, Any], disclose: dict[str, Any]) -> str:
    return present(
        issued.credential,
        disclose,
        key=issued.wallet.key,
        audience=request["client_id"],
        nonce=request["nonce"],
    )


async def test_an_employer_sees_exactly_what_the_holder_shared(
    client: httpx.AsyncClient, db: AsyncSession, employer: httpx.AsyncClient
) -> None:
    issued = await issue(client, db)
    path, request = await start_check(employer, "birthdate")

    # The request as OpenID4VP 1.0 has it: redirect_uri prefix (§5.9.3), direct_post (§8.2),
    # a fresh nonce, and a DCQL query for DUO's diploma type (§6) with the birth date.
    assert request["client_id"] == f"redirect_uri:{request['response_uri']}"
    assert request["response_type"] == "vp_token"
    assert request["response_mode"] == "direct_post"
    assert len(request["nonce"]) >= 32
    [query] = json.loads(request["dcql_query"])["credentials"]
    assert query["format"] == "dc+sd-jwt"
    assert query["meta"]["vct_values"] == ["http://localhost:8000/extracts/types/diploma/v1"]
    paths = [c["path"] for c in query["claims"]]
    assert ["birthdate"] in paths
    assert ["results", None] not in paths
    formats = json.loads(request["client_metadata"])["vp_formats_supported"]
    assert formats["dc+sd-jwt"]["kb-jwt_alg_values"] == ["ES256"]

    state_url = f"{path}/state"
    assert (await employer.get(state_url)).json() == {"answered": False}
    presentation = made_for(issued, request, {"birthdate": True})
    response = await answer(
        client, request, {"vp_token": vp_token(presentation), "state": request["state"]}
    )
    assert response.status_code == 200, response.text
    assert (await employer.get(state_url)).json() == {"answered": True}

    page = (await employer.get(path)).text
    assert "Genuine: a diploma issued by DUO" in page
    assert "Date of birth" in page
    assert "by the wallet the diploma was issued to: yes" in page
    # The grades were neither asked for nor disclosed: they are not on the page.
    assert "Results" not in page
    assert "Grade" not in page
    dutch = (await employer.get(f"{path}?lang=nl")).text
    assert "Echt: een diploma uitgegeven door DUO" in dutch
    assert "Geboortedatum" in dutch

    # One answer per request: a replayed response is refused and changes nothing.
    again = await answer(
        client, request, {"vp_token": vp_token(presentation), "state": request["state"]}
    )
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_request"


async def test_only_the_browser_that_started_the_check_sees_its_answer(
    client: httpx.AsyncClient, db: AsyncSession, employer: httpx.AsyncClient, app: Litestar
) -> None:
    issued = await issue(client, db)
    path, request = await start_check(employer)
    presentation = made_for(issued, request, {})
    form = {"vp_token": vp_token(presentation), "state": request["state"]}
    assert (await answer(client, request, form)).status_code == 200
    async with asgi_client(app) as stranger:
        page = await stranger.get(path)
        assert page.status_code == 404
        assert issued.credential.split("~")[0] not in page.text
        assert "another browser" in page.text
        assert (await stranger.get(f"{path}/state")).status_code == 404


async def test_an_answer_made_for_another_verifier_is_refused_with_its_reason(
    client: httpx.AsyncClient, db: AsyncSession, employer: httpx.AsyncClient
) -> None:
    issued = await issue(client, db)
    path, request = await start_check(employer)
    elsewhere = present(
        issued.credential,
        {},
        key=issued.wallet.key,
        audience="redirect_uri:https://other-verifier.example/response",
        nonce=request["nonce"],
    )
    form = {"vp_token": vp_token(elsewhere), "state": request["state"]}
    assert (await answer(client, request, form)).status_code == 200
    page = (await employer.get(path)).text
    assert "Refused: the answer did not pass DUO's checks (kb_wrong_audience)" in page
    assert "Genuine" not in page


async def test_a_presentation_without_key_binding_or_with_an_old_nonce_is_refused(
    client: httpx.AsyncClient, db: AsyncSession, employer: httpx.AsyncClient
) -> None:
    issued = await issue(client, db)
    first_path, first = await start_check(employer)
    second_path, second = await start_check(employer)
    # A presentation made for the first check, replayed to the second.
    replayed = made_for(issued, first, {})
    form = {"vp_token": vp_token(replayed), "state": second["state"]}
    assert (await answer(client, second, form)).status_code == 200
    assert "kb_wrong_nonce" in (await employer.get(second_path)).text
    # No key binding at all: it proves nothing about who holds the credential.
    bare = present(issued.credential, {}, key=None)
    form = {"vp_token": vp_token(bare), "state": first["state"]}
    assert (await answer(client, first, form)).status_code == 200
    assert "kb_missing" in (await employer.get(first_path)).text


async def test_malformed_answers_are_refused_and_leave_the_check_open(
    client: httpx.AsyncClient, db: AsyncSession, employer: httpx.AsyncClient
) -> None:
    issued = await issue(client, db)
    path, request = await start_check(employer)
    good = made_for(issued, request, {})
    state = request["state"]
    bad_forms = {
        "no state": {"vp_token": vp_token(good)},
        "unknown state": {"vp_token": vp_token(good), "state": "not-a-state"},
        "vp_token not JSON": {"vp_token": good, "state": state},
        "another query id": {"vp_token": json.dumps({"other": [good]}), "state": state},
        "two presentations": {"vp_token": json.dumps({"diploma": [good, good]}), "state": state},
        "a presentation that is not text": {
            "vp_token": json.dumps({"diploma": [{"x": 1}]}),
            "state": state,
        },
    }
    for name, form in bad_forms.items():
        response = await answer(client, request, form)
        assert response.status_code == 400, name
        assert response.json()["error"] == "invalid_request", name
    json_body = await client.post(
        urlsplit(request["response_uri"]).path, json={"vp_token": good, "state": state}
    )
    assert json_body.status_code == 400
    assert (await employer.get(f"{path}/state")).json() == {"answered": False}
    ok = await answer(client, request, {"vp_token": vp_token(good), "state": state})
    assert ok.status_code == 200


async def test_the_holder_declining_and_claims_not_shared_are_shown(
    client: httpx.AsyncClient, db: AsyncSession, employer: httpx.AsyncClient
) -> None:
    issued = await issue(client, db)
    path, request = await start_check(employer, "birthdate", "results")
    # The wallet leaves out what its holder chose not to share.
    form = {"vp_token": vp_token(made_for(issued, request, {})), "state": request["state"]}
    assert (await answer(client, request, form)).status_code == 200
    page = (await employer.get(path)).text
    missing = page.split("Asked for but not shared", 1)[1]
    assert "Date of birth" in missing
    assert "Results" in missing

    declined_path, declined = await start_check(employer)
    form = {"error": "access_denied", "state": declined["state"]}
    assert (await answer(client, declined, form)).status_code == 200
    assert "did not share the diploma (access_denied)" in (await employer.get(declined_path)).text


async def test_a_revoked_diploma_credential_is_shown_as_revoked(
    client: httpx.AsyncClient, db: AsyncSession, employer: httpx.AsyncClient
) -> None:
    issued = await issue(client, db)
    offer = await db.scalar(select(WalletOffer).where(WalletOffer.id == issued.offer_id))
    assert offer is not None
    assert offer.extract_id is not None
    await revoke(db, offer.extract_id, reason="Diploma withdrawn by the institution", staff="jdv")
    await db.commit()
    path, request = await start_check(employer)
    form = {"vp_token": vp_token(made_for(issued, request, {})), "state": request["state"]}
    assert (await answer(client, request, form)).status_code == 200
    assert "Revoked by DUO" in (await employer.get(path)).text


async def test_an_unknown_claim_is_refused_and_expired_checks_are_deleted(
    client: httpx.AsyncClient, db: AsyncSession, employer: httpx.AsyncClient
) -> None:
    response = await employer.post("/verifier/requests", data={"claim": ["bsn"]})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"

    # Unanswered: gone when the request expires; answered: 30 minutes after the answer.
    path, request = await start_check(employer)
    answered_path, answered = await start_check(employer)
    form = {"error": "access_denied", "state": answered["state"]}
    assert (await answer(client, answered, form)).status_code == 200
    await presentations.purge_expired(db, now=utcnow() + presentations.REQUEST_TTL)
    await db.commit()
    assert (await employer.get(path)).status_code == 404
    assert (await employer.get(answered_path)).status_code == 200
    late = await answer(client, request, {"error": "access_denied", "state": request["state"]})
    assert late.status_code == 400
    await presentations.purge_expired(db, now=utcnow() + presentations.RESULT_TTL)
    await db.commit()
    assert (await employer.get(answered_path)).status_code == 404
    left = await db.scalar(
        select(PresentationRequest).where(PresentationRequest.state == answered["state"])
    )
    assert left is None
