"""Every configuration refusal, for every command, is one line and exit code 2: no traceback."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from api.settings import PROJECT_ROOT, SettingsError, estimated_entropy_bits, load_settings
from extracts.keys import generate_private_jwk
from notifications.vapid import b64url, generate_keys

RANDOM_SECRET = "Zq3vN8tWc1Lr6Yx0Pk9Hs2Jd5Fg7Bm4Ve-Ua_Tb8Rn1"
# Refused before any connection is made, so nothing needs to listen there.
POSTGRES = "postgresql+asyncpg://duo@127.0.0.1:1/duo"


def _vapid_key() -> str:
    scalar = generate_keys().private_key.private_numbers().private_value.to_bytes(32, "big")
    return b64url(scalar)


def production(**changes: str | None) -> dict[str, str]:
    """A complete production environment, with some variables changed (None: unset)."""
    private = generate_private_jwk()
    env: dict[str, str | None] = {
        "DUO_ENV": "production",
        "SECRET_KEY": RANDOM_SECRET,
        "PUBLIC_ORIGIN": "https://abroad.duo.example",
        "DATABASE_URL": POSTGRES,
        "EXTRACT_SIGNING_KEYS": json.dumps([private]),
        "VAPID_PRIVATE_KEY": _vapid_key(),
        "VAPID_SUBJECT": "mailto:webpush@duo.example",
    }
    env.update(changes)
    return {k: v for k, v in env.items() if v is not None}


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own module, fixed arguments
        [sys.executable, "-m", "api.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=PROJECT_ROOT,
        # No LOG_LEVEL: whatever the app logs by default must not add lines to a refusal.
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
    )


def refusal_text(line: str) -> str:
    """The refusal itself: the plain line, or the `error` of its JSON form (LOG_JSON is on by
    default outside development, and every line is JSON then, issue #15)."""
    if line.startswith("{"):
        event = json.loads(line)
        assert event["event"] == "startup.configuration_error"
        return str(event["error"])
    return line


def assert_one_line_refusal(result: subprocess.CompletedProcess[str], complaint: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    text = refusal_text(lines[0])
    assert text.startswith("configuration error: ")
    assert complaint in text
    assert result.stdout == ""


@pytest.mark.parametrize(
    "secret",
    [
        "x" * 48,  # one repeated character
        "ab" * 24,  # two characters
        "abcdefgh" * 6,  # a short pattern repeated
        "0123456789" * 4,  # digits in a row, again and again
        "0" * 31 + "1",  # nearly one character
    ],
)
def test_low_entropy_secret_keys_are_refused(secret: str) -> None:
    assert estimated_entropy_bits(secret) < 128
    with pytest.raises(SettingsError, match="SECRET_KEY"):
        load_settings(production(SECRET_KEY=secret))


def test_random_secret_keys_pass_the_estimate() -> None:
    import secrets

    for _ in range(50):
        assert estimated_entropy_bits(secrets.token_urlsafe(32)) >= 128
        assert estimated_entropy_bits(secrets.token_hex(32)) >= 128
    load_settings(production())


def test_sqlite_is_refused_in_production(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="DATABASE_URL must be PostgreSQL"):
        load_settings(production(DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"))


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DATABASE_URL", "postgres://duo@db/duo"),
        ("DATABASE_URL", "mysql://duo@db/duo"),
        ("REDIS_URL", "localhost:6379"),
        ("TRUSTED_PROXIES", "10.0.0.0/8, proxy.internal"),
    ],
)
def test_unusable_urls_and_networks_are_named(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        load_settings({variable: value})


COMMANDS = [
    ["serve"],
    ["worker", "--drain"],
    ["migrate"],
    ["seed-demo", "--persons", "1"],
    ["activation", "issue", "--customer", "1"],
    ["extract", "revoke", "00000000-0000-0000-0000-000000000000", "--reason", "x"],
    ["extract", "verify", "x.jws", "--jwks", "jwks.json", "--status", "s.jws"],
    ["extract", "export-public", "out"],
    ["extract", "generate-key"],
    ["extract", "rotate-key"],
    ["forms", "set-status", "00000000-0000-0000-0000-000000000000", "processed"],
    ["housekeeping"],
    ["push", "vapid-keys"],
    ["push", "stats"],
    ["staff", "invite", "--name", "Anna", "--role", "admin"],
    ["export-schema"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_every_command_refuses_an_unsafe_production_setting_in_one_line(
    command: list[str], tmp_path: Path
) -> None:
    result = run(*command, env=production(SECRET_KEY="x" * 48))
    assert_one_line_refusal(result, "SECRET_KEY")


@pytest.mark.parametrize(
    ("changes", "complaint"),
    [
        ({"EXTRACT_SIGNING_KEYS": None}, "EXTRACT_SIGNING_KEYS"),
        ({"EXTRACT_SIGNING_KEYS": "not json"}, "EXTRACT_SIGNING_KEYS is not JSON"),
        ({"EXTRACT_SIGNING_KEYS": "[]"}, "EXTRACT_SIGNING_KEYS"),
        ("public only", "private part"),
        ({"VAPID_PRIVATE_KEY": None}, "VAPID_PRIVATE_KEY"),
        ({"VAPID_PRIVATE_KEY": "not-a-key"}, "VAPID_PRIVATE_KEY"),
        ({"VAPID_SUBJECT": None}, "VAPID_SUBJECT"),
        ({"VAPID_SUBJECT": "webpush@duo.example"}, "VAPID_SUBJECT"),
        ({"DATABASE_URL": "sqlite+aiosqlite:///var/x.db"}, "DATABASE_URL"),
    ],
)
def test_serve_refuses_missing_or_bad_keys_in_one_line(
    changes: dict[str, str | None] | str, complaint: str
) -> None:
    """Keys are read where they are used (create_app, the lifespan): `serve` checks them before
    uvicorn starts, so the refusal is not a traceback, whatever the number of workers."""
    if changes == "public only":
        public = {k: v for k, v in generate_private_jwk().items() if k != "d"}
        changes = {"EXTRACT_SIGNING_KEYS": json.dumps([public])}
    assert isinstance(changes, dict)
    result = run("serve", "--workers", "2", "--port", "1", env=production(**changes))
    assert_one_line_refusal(result, complaint)


@pytest.mark.parametrize(
    ("command", "changes", "complaint"),
    [
        (["worker"], {"VAPID_PRIVATE_KEY": None}, "VAPID_PRIVATE_KEY"),
        (["worker"], {"VAPID_PRIVATE_KEY": "not-a-key"}, "VAPID_PRIVATE_KEY"),
        (["extract", "export-public", "out"], {"EXTRACT_SIGNING_KEYS": None}, "EXTRACT"),
        (["extract", "export-public", "out"], {"EXTRACT_SIGNING_KEYS": "{"}, "not JSON"),
    ],
)
def test_commands_that_use_the_keys_refuse_them_in_one_line(
    command: list[str], changes: dict[str, str | None], complaint: str, tmp_path: Path
) -> None:
    result = run(*command, env=production(**changes))
    assert_one_line_refusal(result, complaint)


def test_a_key_problem_found_only_while_starting_is_one_line_too(tmp_path: Path) -> None:
    """Development keeps its VAPID key in the database: only the lifespan can find it broken.
    uvicorn would print the traceback and exit with 3; serve says what is wrong and exits 2."""
    database = tmp_path / "db.sqlite3"
    env = {"DUO_ENV": "development", "DATABASE_URL": f"sqlite+aiosqlite:///{database}"}
    assert run("migrate", env=env).returncode == 0
    with sqlite3.connect(database) as connection:
        connection.execute(
            "INSERT INTO push_vapid_keys (id, private_key_pem, public_key, created_at) "
            "VALUES (1, 'not a key', 'x', '2026-01-01 00:00:00')"
        )
    result = run("serve", "--port", "1", env=env)
    assert result.returncode == 2, result.stderr
    # What the server announced before it met the key, then the refusal: no traceback.
    lines = [line for line in result.stderr.splitlines() if "serve.starting" not in line]
    assert lines == [
        "configuration error: the VAPID key kept in the database "
        "(VAPID_PRIVATE_KEY is not a readable private key)"
    ], result.stderr
