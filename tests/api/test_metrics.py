"""GET /metrics: the counters move with what people do; only a token holder sees them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import httpx
import pytest
from litestar import Litestar
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.app import create_app
from api.persisted import OPERATIONS_DIR, PersistedDocuments
from api.settings import Settings
from tests.auth.flows import activate, error_code, login, new_code, post
from tests.forms.support import ADDRESS_V1, SUBMIT_FORM, entry
from tests.support import asgi_client, gql
from tests.webauthn_soft import SoftAuthenticator

TOKEN = "metrics-token-for-tests-0123456789abcdef"
DASHBOARD = (OPERATIONS_DIR / "Dashboard.graphql").read_text()

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def app(settings: Settings, session_factory: async_sessionmaker[AsyncSession]) -> Litestar:
    return create_app(settings.with_overrides(metrics_token=TOKEN), session_factory=session_factory)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app) as c:
        yield c


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics", headers={"authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_metrics_are_not_public(client: httpx.AsyncClient) -> None:
    """Without the token the endpoint does not exist, as for any unknown path."""
    assert (await client.get("/metrics")).status_code == 404
    wrong = {"authorization": "Bearer not-the-token"}
    assert (await client.get("/metrics", headers=wrong)).status_code == 404
    basic = {"authorization": f"Basic {TOKEN}"}
    assert (await client.get("/metrics", headers=basic)).status_code == 404


async def test_no_token_configured_means_no_endpoint(
    settings: Settings, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    async with asgi_client(create_app(settings, session_factory=session_factory)) as client:
        response = await client.get("/metrics", headers={"authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 404


async def test_a_journey_moves_the_counters(
    client: httpx.AsyncClient, db: AsyncSession, person_factory: Any
) -> None:
    """Activation, a passkey, a refused and an accepted sign-in, the dashboard, a form sent
    twice (the second time a replay): each shows in its counter, by template, name and code."""
    before = await scrape(client)
    me = await person_factory(date_of_birth=date(1994, 3, 15))
    phone = SoftAuthenticator()
    code = await new_code(db, me.person["customer_number"])
    assert (await activate(client, phone, code, date(1994, 3, 15))).status_code == 200
    refused = await post(client, "/auth/login", {"id": "nope", "type": "public-key"})
    assert refused.status_code >= 400
    refused_code = error_code(refused)
    assert (await login(client, phone)).status_code == 200
    digest = PersistedDocuments.load().by_text[DASHBOARD].sha256
    dashboard = await client.get(
        "/graphql",
        params={"extensions": f'{{"persistedQuery":{{"version":1,"sha256Hash":"{digest}"}}}}'},
        headers={"accept": "application/json"},
    )
    assert dashboard.status_code == 200
    assert "errors" not in dashboard.json()
    form = entry("change-of-address", 1, ADDRESS_V1, client_id=str(uuid.uuid4()))
    for _ in range(2):
        body = await gql(client, SUBMIT_FORM, {"input": form})
        assert body["data"]["submitForm"]["status"] == "ACCEPTED"

    after = await scrape(client)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("duo_auth_ceremonies_total", step="activation", outcome="ok") == 1
    assert moved("duo_auth_ceremonies_total", step="registration", outcome="ok") == 1
    assert moved("duo_auth_ceremonies_total", step="sign_in", outcome="ok") == 1
    assert moved("duo_auth_ceremonies_total", step="sign_in", outcome=refused_code) == 1
    assert moved("duo_graphql_operations_total", operation="Dashboard", outcome="ok") == 1
    assert moved("duo_graphql_operations_total", operation="SubmitForm", outcome="ok") == 2
    assert moved("duo_form_submissions_total", outcome="accepted") == 1
    assert moved("duo_form_submissions_total", outcome="replayed") == 1
    # Requests by route template (never the raw path) and status, with their latencies.
    assert moved("duo_http_requests_total", method="GET", route="/graphql", status="200") == 1
    assert moved("duo_http_requests_total", method="POST", route="/auth/login", status="200") == 1
    assert moved("duo_http_request_duration_seconds_count", method="POST", route="/graphql") == 2
    assert value(after, "duo_build_info", version=_version(after), python=_python(after)) == 1
    assert value(after, "duo_queue_depth_up") == 1
    assert ("duo_push_deliveries_queued", frozenset({("state", "due")})) in after


def _version(samples: Samples) -> str:
    return next(dict(k)["version"] for n, k in samples if n == "duo_build_info")


def _python(samples: Samples) -> str:
    return next(dict(k)["python"] for n, k in samples if n == "duo_build_info")
