"""Settings come from the environment; production refuses unsafe defaults."""

from __future__ import annotations

import pytest

from api.settings import INSECURE_DEV_SECRET, SettingsError, load_settings

GOOD_PRODUCTION = {
    "DUO_ENV": "production",
    "SECRET_KEY": "Zq3vN8tWc1Lr6Yx0Pk9Hs2Jd5Fg7Bm4Ve-Ua_Tb8Rn1",
    "PUBLIC_ORIGIN": "https://abroad.duo.example",
    "DATABASE_URL": "postgresql+asyncpg://duo@db/duo",
}


def test_development_defaults_use_embedded_sqlite() -> None:
    settings = load_settings({})
    assert settings.environment == "development"
    assert settings.database_url.startswith("sqlite+aiosqlite:///")
    assert settings.database_url.endswith("var/duo-abroad.sqlite3")
    assert settings.allow_adhoc_queries is True
    assert settings.rp_id == "localhost"


def test_port_moves_the_default_origin() -> None:
    assert load_settings({"PORT": "8123"}).public_origin == "http://localhost:8123"


def test_production_accepts_a_complete_configuration() -> None:
    settings = load_settings(GOOD_PRODUCTION)
    assert settings.is_production
    assert settings.allow_adhoc_queries is False
    assert settings.secure_cookies is True
    assert settings.rp_id == "abroad.duo.example"


@pytest.mark.parametrize(
    ("override", "complaint"),
    [
        ({"SECRET_KEY": INSECURE_DEV_SECRET}, "SECRET_KEY"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY"),
        ({"PUBLIC_ORIGIN": "http://abroad.duo.example"}, "https"),
        ({"GRAPHQL_ADHOC": "1"}, "GRAPHQL_ADHOC"),
    ],
)
def test_production_refuses_unsafe_settings(override: dict[str, str], complaint: str) -> None:
    with pytest.raises(SettingsError, match=complaint):
        load_settings({**GOOD_PRODUCTION, **override})


def test_production_without_secret_is_refused() -> None:
    env = {k: v for k, v in GOOD_PRODUCTION.items() if k != "SECRET_KEY"}
    with pytest.raises(SettingsError, match="SECRET_KEY"):
        load_settings(env)


@pytest.mark.parametrize(
    "env",
    [
        {"DUO_ENV": "staging"},
        {"PORT": "eighty"},
        {"GRAPHQL_ADHOC": "maybe"},
        {"PUBLIC_ORIGIN": "x"},
    ],
)
def test_malformed_values_are_named(env: dict[str, str]) -> None:
    with pytest.raises(SettingsError):
        load_settings(env)


def test_secret_never_appears_in_repr() -> None:
    settings = load_settings(GOOD_PRODUCTION)
    assert GOOD_PRODUCTION["SECRET_KEY"] not in repr(settings)
