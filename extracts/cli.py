"""`duo-abroad extract …`: staff revocation, offline verification, keys, public documents.

Heavy imports happen inside the handlers, so `duo-abroad --help` stays quick.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from api.settings import Settings

if TYPE_CHECKING:  # only for annotations here; the handlers import what they run
    from joserfc.jwk import ECKey
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from extracts.models import Extract
    from extracts.sdjwt_vc import Verification as PresentationVerification
    from extracts.verify import SavedStatusList, Verification

Command = Callable[[argparse.Namespace, Settings], int]
EXIT_VALID, EXIT_NOT_VALID, EXIT_UNUSABLE = 0, 1, 2


def add_extract_commands(sub: Any) -> None:
    """Register `extract` and its actions on the top-level subparsers of api.cli."""
    extract = sub.add_parser("extract", help="diploma extracts (DUO staff, verifiers, operators)")
    actions = extract.add_subparsers(dest="action", required=True, metavar="ACTION")

    revoke = actions.add_parser(
        "revoke", help="revoke an extract: its status-list bit flips, verifiers see 'revoked'"
    )
    revoke.add_argument("extract_id", metavar="ID", help="the extract id (jti)")
    revoke.add_argument("--reason", required=True, help="why (kept with the extract and audited)")
    revoke.add_argument(
        "--revoked-by", default=os.environ.get("USER", "cli"), help="staff member (audit log)"
    )
    revoke.set_defaults(handler=_revoke)

    verify = actions.add_parser(
        "verify",
        help="verify an extract or a wallet presentation offline with a saved JWKS and status list",
    )
    verify.add_argument(
        "file",
        metavar="FILE",
        help="the extract (.jws, or the JSON with a jws) or an SD-JWT VC presentation",
    )
    verify.add_argument("--jwks", required=True, help="saved /.well-known/jwks.json")
    verify.add_argument(
        "--status",
        required=True,
        action="append",
        help="saved /extracts/status/N or, for presentations, /extracts/token-status/N (repeat)",
    )
    verify.add_argument(
        "--issuer",
        help="the issuer (iss) to accept, e.g. https://duo.nl (default: that of the status lists)",
    )
    verify.add_argument(
        "--audience", help="presentations: your audience; requires the holder's key binding"
    )
    verify.add_argument("--nonce", help="presentations: the nonce you gave the holder")
    verify.set_defaults(handler=_verify)

    export = actions.add_parser(
        "export-public", help="save jwks.json and status-N.jws into DIR for offline verification"
    )
    export.add_argument("directory", metavar="DIR")
    export.set_defaults(handler=_export_public)

    generate = actions.add_parser(
        "generate-key", help="print a new private P-256 JWK for EXTRACT_SIGNING_KEYS"
    )
    generate.set_defaults(handler=_generate_key)

    rotate = actions.add_parser(
        "rotate-key",
        help="development: add a database key that signs from the next start on",
    )
    rotate.set_defaults(handler=_rotate_key)


# --- revoke ------------------------------------------------------------------------------------


async def revoke(db: AsyncSession, extract_id: uuid.UUID, *, reason: str, staff: str) -> Extract:
    """Revoke and audit as `staff:<name>`; the caller commits."""
    from auth.audit import RequestMeta
    from extracts import service

    return await service.revoke_extract(
        db,
        extract_id,
        reason=reason,
        actor=f"staff:{staff}",
        meta=RequestMeta(user_agent="duo-abroad extract revoke"),
    )


def _with_database(settings: Settings, work: Callable[[Any], Any]) -> Any:
    from api.database import create_engine, create_session_factory

    async def run() -> Any:
        engine = create_engine(settings.database_url)
        try:
            return await work(create_session_factory(engine))
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _revoke(args: argparse.Namespace, settings: Settings) -> int:
    from api.errors import DomainError

    try:
        extract_id = uuid.UUID(args.extract_id)
    except ValueError:
        print(f"not an extract id: {args.extract_id!r}", file=sys.stderr)
        return EXIT_UNUSABLE

    async def work(factory: async_sessionmaker[AsyncSession]) -> int:
        async with factory() as db:
            try:
                extract = await revoke(db, extract_id, reason=args.reason, staff=args.revoked_by)
            except DomainError as exc:
                print(exc.message, file=sys.stderr)
                return EXIT_UNUSABLE
            await db.commit()
        print(
            f"extract {extract.id} revoked at {extract.revoked_at:%Y-%m-%d %H:%M} UTC "
            f"(status index {extract.status_index}): {extract.revoked_reason}"
        )
        print("verifiers see it in the status list within its cache time (5 minutes).")
        return EXIT_VALID

    result: int = _with_database(settings, work)
    return result


# --- verify (offline) --------------------------------------------------------------------------


class UnusableInput(ValueError):
    """A file given to `extract verify` that cannot be used; the message names it."""


def _read_text(path: Path, role: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise UnusableInput(f"{role} {path}: no such file") from exc
    except UnicodeDecodeError as exc:
        raise UnusableInput(f"{role} {path}: not a text file (UTF-8)") from exc
    except OSError as exc:
        raise UnusableInput(f"{role} {path}: cannot be read ({exc.strerror})") from exc


def _one_line(text: str) -> str:
    """A saved token: the file's own final line break is not part of it, anything else is."""
    return text.removesuffix("\n").removesuffix("\r")


def read_extract_file(path: Path) -> str:
    """The compact JWS in a file: bare, or inside JSON from /extracts/{id} or /s/{token}."""
    text = _read_text(path, "the extract")
    if text.lstrip().startswith("{"):
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UnusableInput(
                f"the extract {path}: not JSON ({exc.msg}, line {exc.lineno} column {exc.colno})"
            ) from exc
        token = document.get("jws") if isinstance(document, dict) else None
        if not isinstance(token, str):
            raise UnusableInput(f"the extract {path}: the JSON holds no 'jws'")
        return token
    return _one_line(text)


def read_jwks(path: Path) -> dict[str, ECKey]:
    """The keys of a saved /.well-known/jwks.json; UnusableInput saying what is wrong."""
    from api.settings import SettingsError
    from extracts.verify import keys_from_jwks

    text = _read_text(path, "--jwks")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UnusableInput(
            f"--jwks {path} is not JSON ({exc.msg}, line {exc.lineno} column {exc.colno}); "
            "save DUO's /.well-known/jwks.json"
        ) from exc
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise UnusableInput(
            f'--jwks {path} is not a JWK Set (a JSON object with a "keys" array); '
            "save DUO's /.well-known/jwks.json"
        )
    try:
        keys = keys_from_jwks(document)
    except SettingsError as exc:
        raise UnusableInput(f"--jwks {path}: a key cannot be used: {exc}") from exc
    if not keys:
        raise UnusableInput(f"--jwks {path} holds no EC P-256 key")
    return keys


def read_status_list(path: Path, keys: dict[str, ECKey], jwks: Path) -> SavedStatusList:
    """A saved /extracts/status/N, checked against the keys; UnusableInput saying why not."""
    from api.errors import InvalidInput
    from extracts.verify import open_status_list

    text = _one_line(_read_text(path, "--status"))
    try:
        return open_status_list(text, keys.get)
    except InvalidInput as exc:
        reason = exc.message
        if "unknown_issuer" in reason:
            reason = f"it is not signed by a key in --jwks {jwks}"
        elif "tampered" in reason:
            reason = "its signature does not hold: it was changed after DUO signed it"
        raise UnusableInput(f"--status {path}: {reason}") from exc


def verify_files(
    file: Path,
    jwks: Path,
    status_files: Sequence[Path],
    *,
    issuer: str | None = None,
    now: datetime | None = None,
) -> Verification:
    """Verify using only files; UnusableInput (or InvalidInput) for input that cannot be used."""
    from extracts.verify import verify_offline

    keys = read_jwks(jwks)
    lists = {}
    for status_file in status_files:
        saved = read_status_list(status_file, keys, jwks)
        lists[saved.url] = saved
    return verify_offline(read_extract_file(file), keys, lists, issuer=issuer, now=now)


def verify_presentation_files(
    file: Path,
    jwks: Path,
    status_files: Sequence[Path],
    *,
    now: datetime,
    audience: str | None = None,
    nonce: str | None = None,
) -> PresentationVerification:
    """An SD-JWT VC presentation against saved files; ValueError/OSError for unusable input."""
    from extracts import sdjwt_vc
    from extracts.sdjwt import SdJwtError

    keys = read_jwks(jwks)
    lists = {}
    for status_file in status_files:
        try:
            saved = sdjwt_vc.open_token_status_list(
                status_file.read_text(encoding="utf-8"), keys.get
            )
        except SdJwtError as exc:
            raise ValueError(f"{status_file}: {exc.message}") from exc
        lists[saved.uri] = saved
    token = file.read_text(encoding="utf-8").strip()
    return sdjwt_vc.verify_offline(token, keys.get, lists, now=now, audience=audience, nonce=nonce)


def describe_presentation(verification: PresentationVerification, now: datetime) -> list[str]:
    """The verdict, then exactly what the holder disclosed, key binding and status age."""
    body = verification.as_json()
    lines = [verification.result.value.upper()]
    if verification.reason and not verification.valid:
        lines.append(f"reason     {verification.reason}: {verification.message or ''}".rstrip())
    if "claims" not in body:
        lines.append("Nothing in this presentation is vouched for by DUO.")
        return lines
    lines.append(f"issuer     {body['issuer']} (key {body['kid']})")
    lines.append(f"type       {body['vct']}")
    claims = body["claims"]
    for name, value in claims.items():
        if name == "results":
            lines.append(f"results    {len(value)} disclosed")
            for result in value:
                credits = f" ({result['credits']} EC)" if "credits" in result else ""
                lines.append(f"  - {result.get('subject')}: {result.get('grade')}{credits}")
        else:
            lines.append(f"{name:<10} {value}")
    binding = body["holderBinding"]
    if binding["proved"] and binding["matchedYourAudienceAndNonce"]:
        lines.append(f"holder     proved possession for {binding['audience']} (your nonce)")
    elif binding["proved"]:
        lines.append(
            f"holder     proved possession for {binding['audience']}, nonce {binding['nonce']!r} "
            "(not compared: give --audience and --nonce)"
        )
    else:
        lines.append("holder     did not prove possession of the credential's key")
    issued = verification.status_list_issued_at
    if issued is not None:
        hours = (now - issued).total_seconds() / 3600
        lines.append(
            f"revocation checked against the status list of {issued:%Y-%m-%d %H:%M} UTC "
            f"({hours:.1f} h old: fetch a newer one to see later revocations)"
        )
    return lines


def describe(verification: Verification, now: datetime) -> list[str]:
    """What a person reads: the verdict first, then the content that the signature covers."""
    lines = [f"{verification.result.value.upper()}"]
    payload = verification.payload
    if payload is None:
        lines.append("The signature does not hold: nothing in this file is vouched for by DUO.")
        return lines
    holder, diploma = payload.get("holder", {}), payload.get("diploma", {})
    lines += [
        f"issuer     {verification.issuer} (key {verification.kid})",
        f"extract    {payload.get('jti')} issued {payload.get('issuedAt')}",
        f"holder     {holder.get('name')}, born {holder.get('dateOfBirth')}",
        f"diploma    {diploma.get('programme')} ({diploma.get('programmeCode') or 'no code'}), "
        f"level {diploma.get('level')}",
        f"           {diploma.get('institution')}, awarded {diploma.get('awardedOn')}",
    ]
    for result in diploma.get("results", []):
        credits = f" ({result['credits']} EC)" if result.get("credits") is not None else ""
        lines.append(f"  - {result.get('subject')}: {result.get('grade')}{credits}")
    if isinstance(payload.get("exp"), int):
        lines.append(
            f"valid until {datetime.fromtimestamp(payload['exp'], UTC):%Y-%m-%d %H:%M} UTC"
        )
    issued = verification.status_list_issued_at
    if issued is not None:
        hours = (now - issued).total_seconds() / 3600
        lines.append(
            f"revocation checked against the status list of {issued:%Y-%m-%d %H:%M} UTC "
            f"({hours:.1f} h old: fetch a newer one to see later revocations)"
        )
    return lines


def _verify(args: argparse.Namespace, settings: Settings) -> int:
    from api.errors import DomainError

    now = datetime.now(UTC)
    if _is_presentation(Path(args.file)):
        try:
            presented = verify_presentation_files(
                Path(args.file),
                Path(args.jwks),
                [Path(p) for p in args.status],
                now=now,
                audience=args.audience,
                nonce=args.nonce,
            )
        except (OSError, ValueError, UnusableInput) as exc:
            print(f"cannot verify: {exc}", file=sys.stderr)
            return EXIT_UNUSABLE
        print("\n".join(describe_presentation(presented, now)))
        return EXIT_VALID if presented.valid else EXIT_NOT_VALID
    try:
        verification = verify_files(
            Path(args.file),
            Path(args.jwks),
            [Path(p) for p in args.status],
            issuer=args.issuer,
            now=now,
        )
    except DomainError as exc:
        print(f"cannot verify {args.file}: {exc.message}", file=sys.stderr)
        return EXIT_UNUSABLE
    except UnusableInput as exc:
        print(f"cannot verify: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    except (OSError, ValueError) as exc:  # e.g. a status index beyond the saved list
        print(f"cannot verify {args.file}: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    print("\n".join(describe(verification, now)))
    return EXIT_VALID if verification.valid else EXIT_NOT_VALID


def _is_presentation(path: Path) -> bool:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return False  # verify_files reports the problem
    return not text.startswith("{") and "~" in text


# --- public documents and keys -----------------------------------------------------------------


async def public_documents(
    factory: async_sessionmaker[AsyncSession], settings: Settings
) -> dict[str, bytes]:
    """jwks.json and every status list in use (status-N.jws, and token-status-N.jwt for
    wallet presentations), as served over HTTP."""
    from sqlalchemy import func, select

    from extracts import statuslist
    from extracts.issuer import ExtractIssuer
    from extracts.models import Extract

    issuer = ExtractIssuer(settings, factory)
    documents = {"jwks.json": (await issuer.ring()).jwks_json}
    async with factory() as db:
        highest = await db.scalar(select(func.max(Extract.status_index)))
        for number in range(1, statuslist.list_position(highest or 0)[0] + 1):
            published = await issuer.status_list(db, number)
            documents[f"status-{number}.jws"] = published.jws.encode()
            token_list = await issuer.token_status_list(db, number)
            documents[f"token-status-{number}.jwt"] = token_list.jws.encode()
    return documents


def write_documents(directory: Path, documents: dict[str, bytes]) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in documents.items():
        path = directory / name
        path.write_bytes(content)
        written.append(path)
    return written


def _export_public(args: argparse.Namespace, settings: Settings) -> int:
    documents: dict[str, bytes] = _with_database(
        settings, lambda factory: public_documents(factory, settings)
    )
    for path in write_documents(Path(args.directory), documents):
        print(f"wrote {path}")
    return EXIT_VALID


def _generate_key(args: argparse.Namespace, settings: Settings) -> int:
    from extracts.keys import generate_private_jwk

    print(json.dumps(generate_private_jwk()))
    print(
        "\nPut it first in the EXTRACT_SIGNING_KEYS array (newest first) and keep the older "
        "keys listed, so extracts they signed keep verifying. This is a private key: store it "
        "as a secret.",
        file=sys.stderr,
    )
    return EXIT_VALID


def _rotate_key(args: argparse.Namespace, settings: Settings) -> int:
    from extracts.keys import add_database_key

    if settings.extract_signing_keys:
        print(
            "keys come from EXTRACT_SIGNING_KEYS here: rotate by putting a new key "
            "(`duo-abroad extract generate-key`) first in that list",
            file=sys.stderr,
        )
        return EXIT_UNUSABLE

    async def work(factory: async_sessionmaker[AsyncSession]) -> str:
        async with factory() as db:
            kid = await add_database_key(db)
            await db.commit()
            return kid

    kid: str = _with_database(settings, work)
    print(f"new signing key {kid}; restart the server to sign with it (older keys still verify)")
    return EXIT_VALID
