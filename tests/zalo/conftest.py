"""Zalo test plumbing: a fake Zalo Bot API on 127.0.0.1 per test, and our client pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.zalo.client import ZaloClient
from tests.fakes.zalo_api import TOKEN, FakeZaloApi


@pytest.fixture
async def zalo_api() -> AsyncIterator[FakeZaloApi]:
    async with FakeZaloApi() as fake:
        yield fake


@pytest.fixture
async def zalo(zalo_api: FakeZaloApi) -> AsyncIterator[ZaloClient]:
    async with ZaloClient(TOKEN, base_url=zalo_api.base_url, timeout=5) as client:
        yield client
