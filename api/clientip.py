"""The client's IP address: the TCP peer, or what trusted proxies (TRUSTED_PROXIES) say it was.

Per-IP rate limits, the audit trail, sessions and the access log all use `client_ip()`; the
edge (api.http) resolves the address once per request. `X-Forwarded-For` is believed only as far
as it was written by a trusted proxy: starting from the TCP peer, each hop is replaced by the
address it reports (the right-most entry not yet used) while the hop is a trusted proxy. So a
client behind Caddy cannot choose its address by sending its own header, and anything that
reaches the app directly is seen as itself. uvicorn's own proxy-header handling (which trusts
127.0.0.1 by default) is off (api.cli), so this is the only place that reads the header.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from typing import Any

from litestar.connection import ASGIConnection
from litestar.types import Scope

from api.settings import Network
from auth.audit import RequestMeta

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_STATE_KEY = "duo.client_ip"


def _address(text: str) -> Address | None:
    """An address as proxies write it: bare, `[v6]`, `[v6]:port` or `v4:port`."""
    text = text.strip()
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # "::ffff:10.0.0.1" is the IPv4 client 10.0.0.1
    return address


def _trusted(address: Address, networks: Sequence[Network]) -> bool:
    return any(address.version == n.version and address in n for n in networks)


def resolve(
    peer: str | None, forwarded_for: Iterable[str], trusted: Sequence[Network]
) -> str | None:
    """The client address: the peer, walked back through X-Forwarded-For while hops are trusted."""
    if peer is None:
        return None
    current = _address(peer)
    if current is None:
        return peer  # not an IP (a Unix socket path, a test transport): nothing to walk
    hops = [hop for value in forwarded_for for hop in value.split(",")]
    while hops and _trusted(current, trusted):
        previous = _address(hops.pop())
        if previous is None:
            break  # a trusted proxy never writes garbage: what is left was sent by the client
        current = previous
    return str(current)


def resolve_scope(scope: Scope, trusted: Sequence[Network]) -> str | None:
    """Resolve once for this request (the edge calls it) and remember the answer in the scope."""
    client = scope.get("client")
    peer = client[0] if client else None
    forwarded = [v.decode("latin-1") for k, v in scope["headers"] if k == b"x-forwarded-for"]
    address = resolve(peer, forwarded, trusted)
    state: dict[str, Any] = scope.setdefault("state", {})
    state[_STATE_KEY] = address
    return address


def client_ip(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The client's address for rate limits, audit events and sessions."""
    state = connection.scope.get("state") or {}
    if _STATE_KEY in state:
        return state[_STATE_KEY]  # type: ignore[no-any-return]
    # Not through the edge (never in the app): believe no header at all.
    return connection.client.host if connection.client else None


def request_meta(connection: ASGIConnection[Any, Any, Any, Any]) -> RequestMeta:
    """Who is asking, as the audit trail records it: the client's address and user agent."""
    return RequestMeta(
        ip_address=client_ip(connection), user_agent=connection.headers.get("user-agent")
    )
