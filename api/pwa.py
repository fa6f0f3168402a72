"""Serving the PWA: static files, and the service worker stamped with the shell's version."""

from __future__ import annotations

import hashlib
from pathlib import Path

from litestar import Response, get
from litestar.handlers import HTTPRouteHandler

PLACEHOLDER = "__SHELL_VERSION__"
# The worker's own scripts: the module worker (what the app registers: sw.js plus the outbox
# replay, which imports js/*.js) and sw.js, which it imports and which also runs alone as the
# classic worker where browsers lack module workers.
WORKER_SCRIPTS = ("sw-module.js", "sw.js")


def shell_version(pwa_dir: Path) -> str:
    """A hash of every file under pwa/ (operations.js and the worker scripts' sources included).

    Both worker scripts carry it, so any change yields new bytes and so a new worker, whether
    or not the browser also compares the modules the worker imports.
    """
    digest = hashlib.sha256()
    for path in sorted(p for p in pwa_dir.rglob("*") if p.is_file()):
        digest.update(path.relative_to(pwa_dir).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def service_worker_routes(pwa_dir: Path) -> list[HTTPRouteHandler]:
    """GET /sw-module.js and /sw.js with the version filled in, computed once at startup."""
    version = shell_version(pwa_dir)
    return [_stamped(pwa_dir, name, version) for name in WORKER_SCRIPTS]


def _stamped(pwa_dir: Path, name: str, version: str) -> HTTPRouteHandler:
    body = (pwa_dir / name).read_text(encoding="utf-8").replace(PLACEHOLDER, version).encode()

    @get(f"/{name}", name=f"pwa:{name}", include_in_schema=False, cache=False)
    async def worker_script() -> Response[bytes]:
        # Browsers check for a new worker on navigation; never let a cache hide one.
        return Response(
            body,
            media_type="text/javascript",  # Litestar adds the charset
            headers={"cache-control": "no-cache"},
        )

    return worker_script
