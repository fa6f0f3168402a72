"""The browser family of a User-Agent header, for the access log (`ua`)."""

from __future__ import annotations

from ua_parser import parse_user_agent

# Headers are client input: a family name comes from ua-parser's rules, never the raw header.
_LONGEST = 512


def user_agent_family(header: bytes | None) -> str:
    """ "Chrome Mobile", "Mobile Safari", "Firefox", "curl" …; "Other" when unknown or absent.

    ua-parser (with its Rust matcher, ua-parser-rs) answers in a few microseconds and caches
    recent answers, so the access log can afford it on every request.
    """
    if not header:
        return "Other"
    parsed = parse_user_agent(header[:_LONGEST].decode("latin-1"))
    return parsed.family if parsed is not None else "Other"
