"""The Redis server these tests share (REDIS_URL of the tests: CDHT_TEST_REDIS_URL, default the local one), with a
key prefix of its own per test so runs side by side on one server never meet."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

REDIS_URL = os.environ.get("CDHT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REQUIRE_REDIS = os.environ.get("CDHT_REQUIRE_REDIS") == "1"


async def _reachable() -> str | None:
    client = Redis.from_url(REDIS_URL, socket_timeout=1, socket_connect_timeout=1)
    try:
        await client.ping()
        return None
    except Exception as exc:  # any failure means: not reachable
        return f"{type(exc).__name__}: {exc}"
    finally:
        await client.aclose()


@pytest.fixture(scope="session")
def redis_url() -> str:
    problem = asyncio.run(_reachable())
    if problem:
        if REQUIRE_REDIS:
            pytest.fail(f"Redis at {REDIS_URL} is required but not reachable: {problem}")
        pytest.skip(f"Redis not reachable: {problem}")
    return REDIS_URL


@pytest.fixture
async def redis_prefix(redis_url: str) -> AsyncIterator[str]:
    """A prefix no other test uses; its keys are deleted afterwards."""
    prefix = f"cdht-test-{uuid.uuid4().hex[:10]}"
    yield prefix
    client = Redis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()
