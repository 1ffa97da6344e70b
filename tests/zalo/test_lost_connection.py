"""Zalo's side of tests/bot/test_lost_connection.py: a message that arrives after PostgreSQL cut the pool's
connections is recorded and handled, each tried once more on the renewed pool."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import Sessions
from tests.bot.test_citizen_journey import make_unit
from tests.bot.test_lost_connection import _cut_pooled_connections, postgres_only  # noqa: F401 (a fixture)
from tests.fakes.zalo_api import FakeZaloApi
from tests.zalo.people import Typist, make_bot


@pytest.mark.usefixtures("postgres_only")
async def test_a_zalo_message_after_the_connections_were_cut_is_recorded_and_handled(
    zalo_api: FakeZaloApi, sessions: Sessions, engine: AsyncEngine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    await make_unit(sessions)
    bot = make_bot(zalo_api, sessions, tmp_path / "evidence")
    an = Typist(bot, zalo_api)
    await an.say("Xin chào")
    await an.say("đồng ý")
    assert await _cut_pooled_connections(engine) >= 1
    with caplog.at_level(logging.WARNING):
        answer = await an.say("Nguyễn Văn An")
    assert "trying once more" in caplog.text
    assert "mã" in answer.lower(), answer  # the next step (the unit code), not silence
    async with sessions() as s:
        names = (await s.exec(text("select full_name from person"))).all()  # type: ignore[call-overload]
    assert [n for (n,) in names] == ["Nguyễn Văn An"]
