"""Serving the PWA: static files, and the service worker stamped with the shell's version."""

from __future__ import annotations

import hashlib
from pathlib import Path

from litestar import Response, get
from litestar.handlers import HTTPRouteHandler

PLACEHOLDER = "__SHELL_VERSION__"


def shell_version(pwa_dir: Path) -> str:
    """A hash of every shell file: any change (operations.js included) yields a new worker."""
    digest = hashlib.sha256()
    for path in sorted(p for p in pwa_dir.rglob("*") if p.is_file() and p.name != "sw.js"):
        digest.update(path.relative_to(pwa_dir).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def service_worker_route(pwa_dir: Path) -> HTTPRouteHandler:
    """GET /sw.js with its VERSION filled in, computed once at startup."""
    source = (pwa_dir / "sw.js").read_text(encoding="utf-8")
    body = source.replace(PLACEHOLDER, shell_version(pwa_dir)).encode()

    @get("/sw.js", include_in_schema=False, cache=False)
    async def service_worker() -> Response[bytes]:
        # Browsers check for a new worker on navigation; never let a cache hide one.
        return Response(
            body,
            media_type="text/javascript; charset=utf-8",
            headers={"cache-control": "no-cache"},
        )

    return service_worker
