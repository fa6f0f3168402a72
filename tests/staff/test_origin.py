"""STAFF_ORIGIN: by default the public origin under /staff/; on its own host, its own realm."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.app import create_app
from api.settings import Settings, SettingsError, load_settings
from tests.staff.support import enrol, invite
from tests.support import asgi_client
from tests.webauthn_soft import SoftAuthenticator

PUBLIC = "https://duo.example"
STAFF = "https://staff.duo.example"


def test_staff_origin_defaults_to_the_public_origin() -> None:
    settings = load_settings({"PUBLIC_ORIGIN": "https://duo.example"})
    assert settings.staff_public_origin == "https://duo.example"
    assert settings.staff_rp_id == "duo.example"
    own = load_settings({"PUBLIC_ORIGIN": PUBLIC, "STAFF_ORIGIN": STAFF + "/"})
    assert (own.staff_public_origin, own.staff_rp_id) == (STAFF, "staff.duo.example")


@pytest.mark.parametrize("value", ["https://staff.duo.example/staff", "staff.duo.example"])
def test_a_staff_origin_that_is_not_an_origin_is_refused(value: str) -> None:
    with pytest.raises(SettingsError, match="STAFF_ORIGIN"):
        load_settings({"STAFF_ORIGIN": value})


def test_production_needs_an_https_staff_origin() -> None:
    env = {
        "DUO_ENV": "production",
        "SECRET_KEY": "x" * 40,
        "PUBLIC_ORIGIN": PUBLIC,
        "STAFF_ORIGIN": "http://staff.duo.example",
        "GRAPHQL_ADHOC": "0",
    }
    with pytest.raises(SettingsError, match="STAFF_ORIGIN must be an https"):
        load_settings(env)


@pytest.fixture
async def hosts(
    settings: Settings, session_factory: async_sessionmaker[AsyncSession]
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    app = create_app(
        settings.with_overrides(public_origin=PUBLIC, staff_origin=STAFF),
        session_factory=session_factory,
    )
    async with asgi_client(app, STAFF) as staff, asgi_client(app, PUBLIC) as public:
        yield staff, public


async def test_on_its_own_host_the_staff_ui_answers_only_there(
    hosts: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    staff, public = hosts
    assert (await staff.get("/staff/sign-in")).status_code == 200
    root = await staff.get("/")
    assert (root.status_code, root.headers["location"]) == (303, "/staff/")
    assert (await staff.post("/graphql", json={"query": "{ __typename }"})).status_code == 404
    assert (await public.get("/staff/sign-in")).status_code == 404
    assert (await public.post("/graphql", json={"query": "{ __typename }"})).status_code == 200
    assert (await staff.get("/health/live")).status_code == 200


async def test_on_its_own_host_passkeys_are_bound_to_the_staff_origin(
    hosts: tuple[httpx.AsyncClient, httpx.AsyncClient], db: AsyncSession
) -> None:
    staff, _ = hosts
    options = (await staff.post("/staff/auth/login/options", json={})).json()["publicKey"]
    assert options["rpId"] == "staff.duo.example"

    _, token = await invite(db, origin=STAFF)
    wrong = await enrol(staff, SoftAuthenticator(), token, origin=PUBLIC)
    assert wrong.json()["errors"][0]["extensions"]["code"] == "VERIFICATION_FAILED"
    _, token = await invite(db, name="Second", origin=STAFF)
    right = await enrol(staff, SoftAuthenticator(), token, origin=STAFF)

    assert right.status_code == 200, right.text
    cookie = next(c for c in right.headers.get_list("set-cookie") if "duo_staff=" in c)
    assert cookie.startswith("__Host-duo_staff=")
    assert "Secure" in cookie
    assert "Path=/" in cookie
    assert "Domain" not in cookie


async def test_on_its_own_host_posts_must_come_from_the_staff_origin(
    hosts: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    staff, _ = hosts
    from_public = await staff.post("/staff/auth/login/options", json={}, headers={"Origin": PUBLIC})
    from_staff = await staff.post("/staff/auth/login/options", json={}, headers={"Origin": STAFF})
    assert from_public.status_code == 403
    assert from_staff.status_code == 200
