"""`duo-abroad extract …`: offline verification with saved public documents, staff revocation."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.settings import Settings
from extracts.cli import UnusableInput, public_documents, revoke, verify_files, write_documents
from tests.extracts.flows import create_extract, fetch_jws, flip, holder

CLI = Path(sys.executable).parent / "duo-abroad"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own console script
        [str(CLI), *args], capture_output=True, text=True, check=False, timeout=60
    )


@pytest.mark.parametrize(
    "args",
    [
        ["extract"],
        ["extract", "revoke"],
        ["extract", "verify"],
        ["extract", "export-public"],
        ["extract", "generate-key"],
        ["extract", "rotate-key"],
    ],
)
def test_help(args: list[str]) -> None:
    result = run_cli(*args, "--help")
    assert result.returncode == 0, result.stderr
    assert "usage: duo-abroad extract" in result.stdout


async def test_offline_verify_valid_revoked_and_tampered(
    client: httpx.AsyncClient,
    db: AsyncSession,
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    _, diploma_id = await holder(client, db, given_names="Chen", family_name="Wei")
    extract = await create_extract(client, diploma_id)
    token = await fetch_jws(client, extract["id"])
    jws_file = tmp_path / "extract.jws"
    jws_file.write_text(token)
    # The JSON from GET /extracts/{id} works as well as the bare JWS.
    json_file = tmp_path / "extract.json"
    json_file.write_text((await client.get(f"/extracts/{extract['id']}")).text)
    public = tmp_path / "public"
    written = write_documents(public, await public_documents(session_factory, settings))
    assert [p.name for p in written] == ["jwks.json", "status-1.jws", "token-status-1.jwt"]
    # Exported documents are the ones served over HTTP.
    served = (await client.get("/.well-known/jwks.json")).json()
    assert json.loads((public / "jwks.json").read_text()) == served

    offline = ["--jwks", str(public / "jwks.json"), "--status", str(public / "status-1.jws")]
    valid = run_cli("extract", "verify", str(jws_file), *offline)
    assert valid.returncode == 0, valid.stderr
    assert valid.stdout.startswith("VALID")
    assert "Chen Wei" in valid.stdout
    assert "Algorithms: 8.5 (6 EC)" in valid.stdout
    assert "status list of" in valid.stdout
    assert run_cli("extract", "verify", str(json_file), *offline).returncode == 0

    tampered_file = tmp_path / "tampered.jws"
    tampered_file.write_text(flip(token, token.index(".") + 30))
    tampered = run_cli("extract", "verify", str(tampered_file), *offline)
    assert tampered.returncode == 1
    assert tampered.stdout.startswith("TAMPERED")
    assert "Chen Wei" not in tampered.stdout  # nothing unverified is shown as content

    await revoke(db, uuid.UUID(extract["id"]), reason="Issued in error", staff="jdv")
    await db.commit()
    # The old saved list still says valid (and how old it is); a fresh one says revoked.
    write_documents(public, await public_documents(session_factory, settings))
    revoked = run_cli("extract", "verify", str(jws_file), *offline)
    assert revoked.returncode == 1
    assert revoked.stdout.startswith("REVOKED")


async def test_unusable_input_exits_2(
    client: httpx.AsyncClient,
    db: AsyncSession,
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    _, diploma_id = await holder(client, db)
    token = await fetch_jws(client, (await create_extract(client, diploma_id))["id"])
    (tmp_path / "e.jws").write_text(token)
    write_documents(tmp_path, await public_documents(session_factory, settings))
    jwks = str(tmp_path / "jwks.json")
    # A status list that was changed after signing is refused, not trusted.
    status = (tmp_path / "status-1.jws").read_text()
    (tmp_path / "forged.jws").write_text(flip(status, status.index(".") + 40))
    with pytest.raises(UnusableInput, match=r"forged\.jws"):
        verify_files(tmp_path / "e.jws", Path(jwks), [tmp_path / "forged.jws"])
    forged = run_cli(
        "extract",
        "verify",
        str(tmp_path / "e.jws"),
        "--jwks",
        jwks,
        "--status",
        str(tmp_path / "forged.jws"),
    )
    assert forged.returncode == 2
    assert forged.stderr == (
        f"cannot verify: --status {tmp_path / 'forged.jws'}: its signature does not hold: "
        "it was changed after DUO signed it\n"
    )
    missing = run_cli(
        "extract", "verify", str(tmp_path / "nope.jws"), "--jwks", jwks, "--status", jwks
    )
    assert missing.returncode == 2
    assert "Traceback" not in missing.stderr


def test_generate_key_prints_a_usable_private_jwk() -> None:
    result = run_cli("extract", "generate-key")
    assert result.returncode == 0
    jwk = json.loads(result.stdout)
    assert (jwk["kty"], jwk["crv"]) == ("EC", "P-256")
    assert jwk["d"]
    assert jwk["kid"]


@pytest.mark.parametrize(
    ("jwks_text", "complaint"),
    [
        ("not json", " is not JSON (Expecting value, line 1 column 1)"),
        ("[1, 2]", ' is not a JWK Set (a JSON object with a "keys" array)'),  # was a traceback
        ('{"keys": "none"}', ' is not a JWK Set (a JSON object with a "keys" array)'),
        ('{"keys": []}', " holds no EC P-256 key"),
        (
            '{"keys": [{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}]}',
            ": a key cannot be used",
        ),
    ],
)
def test_a_jwks_file_that_cannot_be_used_is_named_with_the_reason(
    tmp_path: Path, jwks_text: str, complaint: str
) -> None:
    (tmp_path / "jwks.json").write_text(jwks_text)
    (tmp_path / "e.jws").write_text("a.b.c")
    jwks = tmp_path / "jwks.json"
    result = run_cli(
        "extract", "verify", str(tmp_path / "e.jws"), "--jwks", str(jwks), "--status", "s.jws"
    )
    assert result.returncode == 2
    assert result.stderr.startswith(f"cannot verify: --jwks {jwks}{complaint}"), result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_a_status_list_file_that_cannot_be_used_is_named_with_the_reason(tmp_path: Path) -> None:
    from extracts.keys import KeyRing, generate_private_jwk, import_jwk

    ring = KeyRing([import_jwk(generate_private_jwk())])
    (tmp_path / "jwks.json").write_bytes(ring.jwks_json)
    (tmp_path / "garbage.jws").write_text("<html>Not Found</html>\n")
    (tmp_path / "extract.jws").write_text(ring.sign(b'{"iss": "x"}', typ="duo-extract+jwt"))
    jwks = str(tmp_path / "jwks.json")
    expectations = {
        "garbage.jws": "This is not a signed status list (a compact JWS).",
        "extract.jws": "This is a signed diploma extract, not a status list.",
        "missing.jws": "no such file",
    }
    for name, complaint in expectations.items():
        status = tmp_path / name
        result = run_cli(
            "extract",
            "verify",
            str(tmp_path / "extract.jws"),
            "--jwks",
            jwks,
            "--status",
            str(status),
        )
        assert result.returncode == 2
        assert result.stderr == f"cannot verify: --status {status}: {complaint}\n"
