"""Rate limits: fixed windows, Retry-After, and counters shared across processes via Redis."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from api.errors import RateLimited
from auth.ratelimit import Limit, MemoryRateLimiter, RedisRateLimiter, enforce

LIMIT = Limit("test", max_hits=3, window_seconds=60)


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = Redis.from_url("redis://127.0.0.1:6379/15")
    try:
        await client.ping()
    except RedisConnectionError:
        await client.aclose()
        pytest.skip("no Redis on 127.0.0.1:6379 (CI starts one)")
    yield client
    await client.aclose()


async def test_memory_limiter_counts_per_key() -> None:
    limiter = MemoryRateLimiter()
    assert [await limiter.hit(LIMIT, "a") for _ in range(3)] == [None, None, None]
    retry = await limiter.hit(LIMIT, "a")
    assert retry is not None
    assert 1 <= retry <= 60
    assert await limiter.hit(LIMIT, "b") is None


async def test_enforce_raises_with_retry_after() -> None:
    limiter = MemoryRateLimiter()
    for _ in range(3):
        await enforce(limiter, LIMIT, "ip")
    with pytest.raises(RateLimited) as caught:
        await enforce(limiter, LIMIT, "ip")
    assert caught.value.retry_after_seconds >= 1


async def test_redis_counters_are_shared_between_processes(redis: Redis) -> None:
    """Two app processes (two limiter instances, two connections) see one budget."""
    key = f"ip-{uuid.uuid4()}"
    other_process = Redis.from_url("redis://127.0.0.1:6379/15")
    try:
        first, second = RedisRateLimiter(redis), RedisRateLimiter(other_process)
        assert await first.hit(LIMIT, key) is None
        assert await second.hit(LIMIT, key) is None
        assert await first.hit(LIMIT, key) is None
        assert await second.hit(LIMIT, key) is not None
    finally:
        await other_process.aclose()
    ttl = await redis.ttl(f"duo:rl:test:{key}:{int(time.time() // 60)}")
    assert 0 < ttl <= 65
