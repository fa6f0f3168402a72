"""Fixed-window rate limits on authentication steps, per IP and per account.

With REDIS_URL the counters are shared by every process; without it (the embedded default,
one process) they live in memory. While Redis cannot be reached, each process counts on its own
(sign-in keeps working, a little more permissively), logged once per outage.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Protocol

from redis import exceptions as redis_errors
from redis.asyncio import Redis

from api.errors import RateLimited
from api.outages import Dependency


@dataclass(frozen=True, slots=True)
class Limit:
    name: str
    max_hits: int
    window_seconds: int


# Generous for people on flaky networks, tight enough to make guessing pointless.
ACTIVATION_PER_IP = Limit("activation-ip", 10, 15 * 60)
ACTIVATION_PER_ACCOUNT = Limit("activation-account", 10, 60 * 60)
RECOVERY_PER_IP = Limit("recovery-ip", 10, 15 * 60)
# Passkey autofill asks for sign-in options on every visit of the sign-in page, whether or not
# anyone signs in, and a campus or a mobile carrier puts many people behind one address: the
# options get a wide allowance (each is one short-lived challenge row), the attempts a tight one.
LOGIN_OPTIONS_PER_IP = Limit("login-options-ip", 300, 60)
LOGIN_PER_IP = Limit("login-ip", 60, 60)
LOGIN_PER_ACCOUNT = Limit("login-account", 20, 60)
REGISTRATION_PER_IP = Limit("registration-ip", 30, 15 * 60)
REGISTRATION_PER_ACCOUNT = Limit("registration-account", 20, 60 * 60)


class RateLimiter(Protocol):
    async def hit(self, limit: Limit, key: str) -> int | None:
        """Count one hit; return seconds to wait if the limit is exceeded, else None."""


class MemoryRateLimiter:
    def __init__(self) -> None:
        self._windows: dict[str, tuple[int, int]] = {}

    async def hit(self, limit: Limit, key: str) -> int | None:
        now = time.time()
        window = int(now // limit.window_seconds)
        slot = f"{limit.name}:{key}"
        started, count = self._windows.get(slot, (window, 0))
        if started != window:
            started, count = window, 0
        count += 1
        self._windows[slot] = (started, count)
        if len(self._windows) > 100_000:  # keep memory bounded under a flood of keys
            self._windows = {k: v for k, v in self._windows.items() if v[0] == window}
        if count > limit.max_hits:
            return max(1, math.ceil((window + 1) * limit.window_seconds - now))
        return None


class RedisRateLimiter:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def hit(self, limit: Limit, key: str) -> int | None:
        now = time.time()
        window = int(now // limit.window_seconds)
        slot = f"duo:rl:{limit.name}:{key}:{window}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(slot)
            pipe.expire(slot, limit.window_seconds + 5)
            count, _ = await pipe.execute()
        if int(count) > limit.max_hits:
            return max(1, math.ceil((window + 1) * limit.window_seconds - now))
        return None


class ResilientRateLimiter:
    """Redis's shared counters, and this process's own while Redis is out (degraded, not
    broken: a sign-in must not fail because a counter cannot be shared)."""

    def __init__(
        self,
        shared: RateLimiter,
        *,
        outage: Dependency,
        fallback: RateLimiter | None = None,
        retry_seconds: float = 5.0,
    ) -> None:
        self._shared = shared
        self._local = fallback or MemoryRateLimiter()
        self._outage = outage
        self._retry_seconds = retry_seconds
        self._skip_until = 0.0

    async def hit(self, limit: Limit, key: str) -> int | None:
        if time.monotonic() < self._skip_until:
            # Redis failed a moment ago: do not make every sign-in wait for its timeout.
            return await self._local.hit(limit, key)
        try:
            result = await self._shared.hit(limit, key)
        except (redis_errors.ConnectionError, redis_errors.TimeoutError) as exc:
            self._outage.failed(exc, degraded="sign-in rate limits counted per process")
            self._skip_until = time.monotonic() + self._retry_seconds
            return await self._local.hit(limit, key)
        self._outage.ok()
        return result


async def enforce(limiter: RateLimiter, limit: Limit, key: str) -> None:
    retry_after = await limiter.hit(limit, key)
    if retry_after is not None:
        raise RateLimited(
            "Too many attempts. Please wait a moment and try again.",
            retry_after_seconds=retry_after,
        )
