"""Wallet credentials issued per second and presentations verified per second, beside the raw
ES256 sign/verify cost measured in the same run.

Measured one at a time on one core, each step as the app runs it:
  - issue, whole flow: a credential offer (service, one transaction), then over HTTP
    in-process the token request (tx_code), the nonce, and the credential request with a key
    proof (proof check, a twin extract signed and stored, the SD-JWT VC signed, audit);
  - issue, SD-JWT VC only: build_credential (disclosures, digests, one ES256 signature);
  - verify a presentation with a KB-JWT: offline (saved JWKS and Status List Token, the CLI
    path), online through ExtractIssuer.verify_presentation, and over HTTP in-process.
An issued credential costs two ES256 signatures (the twin extract and the SD-JWT) and one
verification (the key proof); a presentation with key binding costs two verifications.

Usage: .venv/bin/python bench/wallet.py [--count 200] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from joserfc import jws
from joserfc.jwk import ECKey
from sqlalchemy import select

from api.app import create_app
from api.database import create_engine, create_session_factory
from api.logging import configure_logging
from api.migrate import upgrade_connection
from api.settings import Settings
from auth.audit import RequestMeta
from bench.extracts import NoLimit, per_second, raw_ecdsa, timed
from bench.scratch import postgres_database, sqlite_database
from extracts import sdjwt, sdjwt_vc, statuslist
from extracts.issuer import ExtractIssuer
from extracts.verify import keys_from_jwks
from records import service as records
from records.demo import seed_demo
from records.models import Diploma
from wallet import service

PRE_AUTH = service.PRE_AUTHORIZED_GRANT


def proof(key: ECKey, audience: str, nonce: str) -> str:
    header = {"typ": service.PROOF_TYP, "alg": "ES256", "jwk": key.as_dict(private=False)}
    claims = {"aud": audience, "iat": int(time.time()), "nonce": nonce}
    return jws.serialize_compact(header, json.dumps(claims).encode(), key, algorithms=["ES256"])


def kb_presentation(credential: str, key: ECKey, audience: str, nonce: str) -> str:
    """Disclose the birth date and the first result, with a KB-JWT (RFC 9901 §4.3)."""
    jwt, *disclosures, _ = credential.split("~")
    chosen = [disclosures[0], disclosures[-1]]
    claims = {
        "iat": int(time.time()),
        "aud": audience,
        "nonce": nonce,
        "sd_hash": sdjwt.sd_hash(jwt, chosen),
    }
    kb = jws.serialize_compact(
        {"alg": "ES256", "typ": "kb+jwt"}, json.dumps(claims).encode(), key, algorithms=["ES256"]
    )
    return sdjwt.serialize(jwt, chosen, kb)


async def run(count: int, database_url: str) -> None:
    settings = Settings(environment="test", database_url=database_url, log_level="WARNING")
    configure_logging(settings)
    engine = create_engine(database_url)
    async with engine.begin() as conn:
        await upgrade_connection(conn)
    factory = create_session_factory(engine)
    async with factory() as db:
        await seed_demo(db, persons=100, today=date(2026, 11, 28), seed=20261128)
        diplomas = [(d.person_id, d.id) for d in (await db.scalars(select(Diploma))).all()]
    app = create_app(settings, session_factory=factory, rate_limiter=NoLimit())
    issuer: ExtractIssuer = app.state.extract_issuer
    ring = await issuer.ring()
    origin = settings.public_origin
    holder = ECKey.generate_key("P-256", private=True)
    credentials: list[str] = []
    endpoint_times: list[float] = []

    transport = httpx.ASGITransport(app=cast(Any, app))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as c:

        async def issue(i: int) -> None:
            person_id, diploma_id = diplomas[i % len(diplomas)]
            async with factory() as db:
                created = await service.create_offer(
                    db,
                    person_id,
                    diploma_id,
                    secret_key=settings.secret_key,
                    credential_issuer=origin,
                    meta=RequestMeta(),
                )
                await db.commit()
            offer = json.loads(parse_qs(urlsplit(created.offer_uri).query)["credential_offer"][0])
            code = offer["grants"][PRE_AUTH]["pre-authorized_code"]
            form = {"grant_type": PRE_AUTH, "pre-authorized_code": code, "tx_code": created.tx_code}
            token = (await c.post("/wallet/token", data=form)).json()["access_token"]
            nonce = (await c.post("/wallet/nonce")).json()["c_nonce"]
            t0 = time.perf_counter()
            response = await c.post(
                "/wallet/credential",
                json={
                    "credential_configuration_id": sdjwt_vc.CONFIGURATION_ID,
                    "proofs": {"jwt": [proof(holder, origin, nonce)]},
                },
                headers={"Authorization": f"Bearer {token}"},
            )
            endpoint_times.append(time.perf_counter() - t0)
            credentials.append(response.json()["credentials"][0]["credential"])

        await timed(20, issue)  # warm-up: connections, statement caches
        credentials.clear()
        endpoint_times.clear()
        flow_times = await timed(count, issue)

        # The SD-JWT VC alone (what the credential endpoint signs).
        async with factory() as db:
            person = await records.get_person(db, diplomas[0][0])
            diploma = await records.get_diploma(db, diplomas[0][0], diplomas[0][1])
        holder_jwk = holder.as_dict(private=False)
        t0 = time.perf_counter()
        for i in range(count):
            sdjwt_vc.build_credential(
                person=person,
                diploma=diploma,
                status_index=i,
                holder_jwk=holder_jwk,
                ring=ring,
                issuer=origin,
                public_origin=origin,
                valid_for=issuer.config.valid_for,
                now=datetime.now(UTC),
            )
        build = (time.perf_counter() - t0) / count

        audience, nonce = "https://employer.example", "n-0123456789"
        presentations = [kb_presentation(cr, holder, audience, nonce) for cr in credentials]

        async def online(i: int) -> None:
            async with factory() as db:
                verdict = await issuer.verify_presentation(
                    db, presentations[i % len(presentations)], audience=audience, nonce=nonce
                )
            assert verdict.valid, verdict

        online_times = await timed(count, online)

        async def over_http(i: int) -> None:
            body = {"jws": presentations[i % len(presentations)], "audience": audience}
            response = await c.post("/extracts/verify", json={**body, "nonce": nonce})
            assert response.json()["result"] == "valid", response.text

        await timed(20, over_http)
        http_times = await timed(count, over_http)

    async with factory() as db:
        published = await issuer.token_status_list(db, 1)
    keys = keys_from_jwks(json.loads(ring.jwks_json))
    saved = {
        statuslist.token_status_url(origin, 1): sdjwt_vc.open_token_status_list(
            published.jws, keys.get
        )
    }
    t0 = time.perf_counter()
    for presentation in presentations:
        verdict = sdjwt_vc.verify_offline(
            presentation, keys.get, saved, now=datetime.now(UTC), audience=audience, nonce=nonce
        )
        assert verdict.valid, verdict
    offline = (time.perf_counter() - t0) / len(presentations)
    await engine.dispose()

    raw_sign, raw_verify = raw_ecdsa(credentials[0].split("~")[0].rsplit(".", 1)[0].encode(), 2000)
    flow_rate, flow_ms, flow_p95 = per_second(flow_times)
    end_rate, end_ms, end_p95 = per_second(endpoint_times)
    online_rate, online_ms, online_p95 = per_second(online_times)
    http_rate, http_ms, http_p95 = per_second(http_times)
    print(f"database: {database_url.split('@')[-1]}")
    print(f"credential: {len(credentials[0])} chars; presentation: {len(presentations[0])} chars")
    print(f"{count} credentials and presentations, one at a time")
    print("baseline (cryptography, OpenSSL):")
    print(f"  raw ES256 sign           {raw_sign * 1e6:8.1f} µs   {1 / raw_sign:9.0f}/s")
    print(f"  raw ES256 verify         {raw_verify * 1e6:8.1f} µs   {1 / raw_verify:9.0f}/s")
    print("issue (2 signatures + 1 verification each):")
    print(
        f"  SD-JWT VC only           {build * 1e6:8.1f} µs   {1 / build:9.0f}/s   "
        f"= {build / raw_sign:.1f}x a raw signature"
    )
    print(
        f"  credential endpoint      {end_ms * 1000:8.1f} µs   {end_rate:9.0f}/s   "
        f"p95 {end_p95:.2f} ms   = {end_ms / 1000 / raw_sign:.0f}x"
    )
    print(
        f"  whole flow (offer..cred) {flow_ms * 1000:8.1f} µs   {flow_rate:9.0f}/s   "
        f"p95 {flow_p95:.2f} ms   = {flow_ms / 1000 / raw_sign:.0f}x"
    )
    print("verify a presentation with key binding (2 verifications each):")
    print(
        f"  offline (CLI path)       {offline * 1e6:8.1f} µs   {1 / offline:9.0f}/s   "
        f"= {offline / raw_verify:.1f}x a raw verification"
    )
    print(
        f"  online, service          {online_ms * 1000:8.1f} µs   {online_rate:9.0f}/s   "
        f"p95 {online_p95:.2f} ms   = {online_ms / 1000 / raw_verify:.0f}x"
    )
    print(
        f"  online, HTTP in-proc     {http_ms * 1000:8.1f} µs   {http_rate:9.0f}/s   "
        f"p95 {http_p95:.2f} ms   = {http_ms / 1000 / raw_verify:.0f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument(
        "--database-url",
        help="a postgresql+asyncpg:// server URL: the bench creates and drops its own database "
        "duo_bench_wallet there (default: a temporary SQLite file)",
    )
    args = parser.parse_args()
    database = (
        postgres_database(args.database_url, "duo_bench_wallet")
        if args.database_url
        else sqlite_database("duo-bench-wallet-")
    )
    try:
        asyncio.run(run(args.count, database.url))
    finally:
        database.drop()


if __name__ == "__main__":
    main()
