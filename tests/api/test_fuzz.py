"""Schemathesis against the contracts: cases generated from contract/openapi.json and from the
GraphQL schema, sent to a real server over HTTP, must never get a server error (5xx).

A bounded number of cases per operation (MAX_EXAMPLES) keeps this under a minute; the
requests carry a valid session, so the generated inputs reach past the sign-in check.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.core.result import Ok
from sqlalchemy import select

from api.database import create_engine, create_session_factory
from api.migrate import upgrade
from api.openapi import DOCUMENT
from auth.sessions import create_session
from graphql import (
    BooleanValueNode,
    IntValueNode,
    ListValueNode,
    NameNode,
    NullValueNode,
    ObjectFieldNode,
    ObjectValueNode,
    StringValueNode,
    ValueNode,
)
from records.demo import DEMO_CUSTOMER_NUMBER, seed_demo
from records.models import Person

# CI's bound; FUZZ_EXAMPLES=500 (and a different FUZZ_SEED) digs deeper on a developer's machine.
Case = schemathesis.Case[Any]
MAX_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
CLI = Path(sys.executable).parent / "duo-abroad"

rest = schemathesis.openapi.from_path(DOCUMENT)


def _literal(value: object) -> ValueNode:
    """A JSON value as a GraphQL literal (the JSON scalar's input)."""
    if value is None:
        return NullValueNode()
    if isinstance(value, bool):
        return BooleanValueNode(value=value)
    if isinstance(value, int):
        return IntValueNode(value=str(value))
    if isinstance(value, str):
        return StringValueNode(value=value)
    if isinstance(value, list):
        return ListValueNode(values=tuple(_literal(v) for v in value))
    assert isinstance(value, dict)
    return ObjectValueNode(
        fields=tuple(
            ObjectFieldNode(name=NameNode(value=k), value=_literal(v)) for k, v in value.items()
        )
    )


_keys = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True)
# Written out rather than with st.recursive, whose check takes a union of two containers over
# the same argument for an extension that does not recurse.
_json: st.SearchStrategy[object] = st.deferred(
    lambda: (
        st.none()
        | st.booleans()
        | st.integers(-(2**31), 2**31 - 1)
        | st.text(max_size=20)
        | st.lists(_json, max_size=3)
        | st.dictionaries(_keys, _json, max_size=3)
    )
)
_text = st.text(max_size=30).map(lambda t: StringValueNode(value=t))
# Strawberry's scalars: JSON takes any JSON value; the others are strings (valid or not).
schemathesis.graphql.scalar("JSON", _json.map(_literal))
for _name in ("Date", "DateTime", "Time"):
    schemathesis.graphql.scalar(_name, _text)
fuzz_settings = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize="FUZZ_SEED" not in os.environ,  # CI: the same cases every run, reproducible
    suppress_health_check=list(HealthCheck),
)


class Server:
    def __init__(self, base_url: str, cookie_name: str, token: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        self.session.cookies.set(cookie_name, token)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _prepare(url: str) -> str:
    engine = create_engine(url)
    try:
        async with create_session_factory(engine)() as db:
            await seed_demo(db, persons=2)
            person_id = await db.scalar(
                select(Person.id).where(Person.customer_number == DEMO_CUSTOMER_NUMBER)
            )
            assert person_id is not None
            issued = await create_session(
                db, person_id=person_id, absolute_timeout=timedelta(hours=1)
            )
            await db.commit()
            return issued.token
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`duo-abroad serve` on its own migrated database (SQLite, or a PostgreSQL scratch one)."""
    from tests.deploy.conftest import _drop, _recreate  # the same scratch-database helpers

    given = os.environ.get("DATABASE_URL", "")
    directory = tmp_path_factory.mktemp("fuzz")
    name = None
    if given.startswith("postgresql+asyncpg://"):
        from sqlalchemy import make_url

        name = f"{make_url(given).database}_fuzz"
        asyncio.run(_recreate(given, name))
        url = make_url(given).set(database=name).render_as_string(hide_password=False)
    else:
        url = f"sqlite+aiosqlite:///{directory / 'fuzz.sqlite3'}"
    upgrade(url)
    token = asyncio.run(_prepare(url))
    port = _free_port()
    env = {
        **os.environ,
        "DUO_ENV": "test",
        "DATABASE_URL": url,
        "PUBLIC_ORIGIN": f"http://localhost:{port}",
        "GRAPHQL_ADHOC": "1",  # introspection, for schemathesis to read the GraphQL schema
        "FORMS_ATTACHMENT_DIR": str(directory / "attachments"),
        "LOG_LEVEL": "WARNING",
    }
    log = directory / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603
            [str(CLI), "serve", "--port", str(port)], env=env, stdout=out, stderr=out
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(f"{base}/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield Server(base, "duo_session", token)
    finally:
        process.terminate()
        process.wait(timeout=20)
        if name is not None:
            asyncio.run(_drop(given, name))


# They end the session every later case relies on (and do nothing else worth fuzzing).
SESSION_ENDERS = {"Mutation.signOut", "Mutation.signOutEverywhere"}


def assert_no_server_error(response: schemathesis.Response) -> None:
    """No 5xx, and no masked unexpected error in a GraphQL answer (which is a 200: expected
    failures such as UNAUTHENTICATED or BAD_USER_INPUT are answers, not server errors)."""
    assert response.status_code < 500, (response.status_code, response.text[:2000])
    if response.headers.get("content-type", [""])[0].startswith("application/json"):
        body = response.json()
        errors = body.get("errors") if isinstance(body, dict) else None
        codes = [e.get("extensions", {}).get("code") for e in errors or []]
        assert "INTERNAL_SERVER_ERROR" not in codes, response.text[:2000]


@rest.parametrize()
@fuzz_settings
def test_rest_routes_never_answer_a_server_error(case: Case, server: Server) -> None:
    assert_no_server_error(case.call(base_url=server.base_url, session=server.session))


def test_graphql_never_answers_a_server_error(server: Server) -> None:
    """Every query and mutation field, as schemathesis builds documents for them from the
    introspected schema (schemathesis' pytest fixture loader does not run on pytest 9)."""
    schema = schemathesis.graphql.from_url(f"{server.base_url}/graphql")
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operations.append(result.ok())
    assert len(operations) > 20
    for operation in operations:
        if operation.label in SESSION_ENDERS:
            continue

        @fuzz_settings
        @given(case=operation.as_strategy())
        def check(case: Case) -> None:
            assert_no_server_error(case.call(base_url=server.base_url, session=server.session))

        check()
