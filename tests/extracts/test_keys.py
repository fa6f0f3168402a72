"""Issuer keys: configured in production, generated once in development; rotation keeps
old extracts verifiable."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jwt
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.app import create_app
from api.settings import Settings, SettingsError, load_settings
from extracts.keys import add_database_key, generate_private_jwk, ring_from_config
from tests.extracts.flows import create_extract, fetch_jws, holder, pyjwt_decode, verify
from tests.support import asgi_client


def _public(jwk: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in jwk.items() if k != "d"}


async def test_rotation_keeps_old_extracts_verifiable(
    settings: Settings, session_factory: async_sessionmaker[AsyncSession], db: AsyncSession
) -> None:
    old_key, new_key = generate_private_jwk(), generate_private_jwk()
    before = create_app(
        settings.with_overrides(extract_signing_keys=json.dumps([old_key])),
        session_factory=session_factory,
    )
    async with asgi_client(before) as client:
        _, diploma_id = await holder(client, db)
        old_token = await fetch_jws(client, (await create_extract(client, diploma_id))["id"])
    assert jwt.get_unverified_header(old_token)["kid"] == old_key["kid"]

    # The new key first; the old one stays listed (here without its private part: retired).
    after = create_app(
        settings.with_overrides(extract_signing_keys=json.dumps([new_key, _public(old_key)])),
        session_factory=session_factory,
    )
    async with asgi_client(after) as client:
        _, diploma_id = await holder(client, db)
        new_token = await fetch_jws(client, (await create_extract(client, diploma_id))["id"])
        jwks = (await client.get("/.well-known/jwks.json")).json()
        assert [k["kid"] for k in jwks["keys"]] == [new_key["kid"], old_key["kid"]]
        assert all("d" not in k for k in jwks["keys"])
        assert (await verify(client, old_token))["result"] == "valid"
        assert (await verify(client, new_token))["result"] == "valid"
        status = (await client.get("/extracts/status/1")).text
    assert jwt.get_unverified_header(new_token)["kid"] == new_key["kid"]
    assert jwt.get_unverified_header(status)["kid"] == new_key["kid"]
    pyjwt_decode(old_token, jwks)  # an independent library agrees
    pyjwt_decode(new_token, jwks)


async def test_development_generates_one_key_and_keeps_it(
    settings: Settings, session_factory: async_sessionmaker[AsyncSession], db: AsyncSession
) -> None:
    first = create_app(settings, session_factory=session_factory)
    second = create_app(settings, session_factory=session_factory)
    async with asgi_client(first) as a, asgi_client(second) as b:
        kids_a = [k["kid"] for k in (await a.get("/.well-known/jwks.json")).json()["keys"]]
        kids_b = [k["kid"] for k in (await b.get("/.well-known/jwks.json")).json()["keys"]]
    assert len(kids_a) == 1
    assert kids_a == kids_b  # the second process found the first one's key

    new_kid = await add_database_key(db)  # `duo-abroad extract rotate-key`
    await db.commit()
    restarted = create_app(settings, session_factory=session_factory)
    async with asgi_client(restarted) as c:
        kids_c = [k["kid"] for k in (await c.get("/.well-known/jwks.json")).json()["keys"]]
    assert kids_c == [new_kid, *kids_a]


def test_production_refuses_to_start_without_issuer_keys(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    production = Settings(
        environment="production",
        secret_key="s" * 40,
        public_origin="https://abroad.duo.example",
    )
    with pytest.raises(SettingsError, match="EXTRACT_SIGNING_KEYS"):
        create_app(production, session_factory=session_factory)
    configured = production.with_overrides(
        extract_signing_keys=json.dumps([generate_private_jwk()])
    )
    create_app(configured, session_factory=session_factory)


@pytest.mark.parametrize(
    ("value", "complaint"),
    [
        ("not json", "not JSON"),
        ("[]", "non-empty"),
        ('[{"kty": "RSA", "n": "x", "e": "AQAB"}]', "P-256"),
        ('[{"kty": "EC", "crv": "P-256", "x": "bad", "y": "bad"}]', "not a valid JWK"),
    ],
)
def test_malformed_key_configuration_is_named(value: str, complaint: str) -> None:
    with pytest.raises(SettingsError, match=complaint):
        ring_from_config(value)


def test_the_newest_key_must_be_able_to_sign() -> None:
    public_only = _public(generate_private_jwk())
    with pytest.raises(SettingsError, match="private"):
        ring_from_config(json.dumps([public_only]))


def test_a_kid_must_be_the_thumbprint() -> None:
    key = {**generate_private_jwk(), "kid": "2026-key"}
    with pytest.raises(SettingsError, match="thumbprint"):
        ring_from_config(json.dumps([key]))


def test_a_jwk_set_document_is_accepted_too() -> None:
    key = generate_private_jwk()
    ring = ring_from_config(json.dumps({"keys": [key]}))
    assert ring.signing_kid == key["kid"]


def test_keys_can_come_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text(json.dumps([generate_private_jwk()]))
    settings = load_settings({"EXTRACT_SIGNING_KEYS_FILE": str(path)})
    assert settings.extract_signing_keys == path.read_text()
    assert path.read_text() not in repr(settings)  # a secret
    with pytest.raises(SettingsError, match="EXTRACT_SIGNING_KEYS_FILE"):
        load_settings({"EXTRACT_SIGNING_KEYS_FILE": str(tmp_path / "missing.json")})
