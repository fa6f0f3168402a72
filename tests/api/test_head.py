"""HEAD answers like GET without a body, on every GET route of the app (#16 item 12)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
from litestar import Litestar
from litestar.routes import HTTPRoute
from sqlalchemy.ext.asyncio import AsyncSession

from tests.support import sign_in

# Headers that differ between any two requests, whatever the method.
VARYING = {"date", "x-request-id", "set-cookie"}

# Files a path parameter of type `path` is filled with (one that exists, per route).
EXISTING_FILES = {
    "/{file_path:path}": ["index.html", "manifest.webmanifest", "js/app.js", "locales/nl.json"],
    "/staff/static/{file_path:path}": ["staff.css"],
}
SAMPLES: dict[type, str] = {str: "x", int: "0", uuid.UUID: str(uuid.UUID(int=7)), Path: "nope.txt"}


def _paths(route: HTTPRoute) -> list[str]:
    if route.path in EXISTING_FILES:
        return [route.path_format.replace("{file_path}", f) for f in EXISTING_FILES[route.path]]
    path = route.path_format
    for name, parameter in route.path_parameters.items():
        path = path.replace("{" + name + "}", SAMPLES[parameter.type])
    return [path]


def _comparable(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k not in VARYING}


def get_paths(app: Litestar) -> list[str]:
    routes = [r for r in app.routes if isinstance(r, HTTPRoute) and "GET" in r.methods]
    assert len(routes) > 30  # every route of the app, not a hand-picked few
    return [p for r in routes for p in _paths(r)]


async def _check(client: httpx.AsyncClient, path: str) -> None:
    got = await client.get(path)
    head = await client.head(path)
    assert head.status_code == got.status_code, path
    assert head.status_code != 405, path
    assert head.content == b"", path
    assert _comparable(head) == _comparable(got), path


async def test_head_on_every_get_route_signed_out(app: Litestar, client: httpx.AsyncClient) -> None:
    for path in [*get_paths(app), "/", "/sw.js", "/manifest.webmanifest", "/no-such-file.txt"]:
        await _check(client, path)


async def test_head_on_every_get_route_signed_in(
    app: Litestar, client: httpx.AsyncClient, db: AsyncSession, person_factory: Any
) -> None:
    me = await person_factory()
    await sign_in(client, db, me.person["id"])
    for path in get_paths(app):
        await _check(client, path)


async def test_head_on_the_home_page_has_the_get_length(client: httpx.AsyncClient) -> None:
    got = await client.get("/", headers={"accept-encoding": "identity"})
    head = await client.head("/", headers={"accept-encoding": "identity"})
    assert head.status_code == 200
    assert head.headers["content-type"].startswith("text/html")
    assert head.headers["content-length"] == str(len(got.content))
    assert head.content == b""


async def test_head_on_a_post_only_route_is_still_refused(client: httpx.AsyncClient) -> None:
    response = await client.head("/auth/login/options")
    assert response.status_code == 405
