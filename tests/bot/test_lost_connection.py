"""PostgreSQL restarted (or a firewall cut the pool's connections) while the bot runs: the next update is
handled as if nothing happened, on either messenger, instead of the person being told to try again.

Pooled connections are not tested at every checkout (that cost three round trips twice an update): one idle
for storage.db.IDLE_PING is tested first; one in steady use fails its first statement, SQLAlchemy renews the
pool, and the update (or its inbox insert) is tried once more (storage.db.lost_connection)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from storage import db
from storage.db import Sessions
from storage.models import Answer
from tests.bot.harness import Harness, User
from tests.bot.test_citizen_journey import make_unit, register


async def _cut_pooled_connections(engine: AsyncEngine) -> int:
    """Ends, on the server, every connection the engine's pool holds (what a server restart does to them)."""
    held = engine.sync_engine.pool.checkedin()
    connections = [await engine.connect() for _ in range(held)]
    pids = [(await c.execute(text("select pg_backend_pid()"))).scalar_one() for c in connections]
    for c in connections:
        await c.close()  # back to the pool, alive as far as the pool knows
    killer = db.make_engine(engine.url.render_as_string(hide_password=False))
    try:
        async with killer.connect() as conn:
            for pid in pids:
                await conn.execute(text("select pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        await killer.dispose()
    await asyncio.sleep(0.1)  # the server closes the sockets
    return len(pids)


async def _chosen(sessions: Sessions) -> list[int | None]:
    async with sessions() as s:
        return [a.chosen for a in (await s.exec(select(Answer))).all()]


@pytest.fixture
def postgres_only(engine: AsyncEngine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("a server that drops connections: PostgreSQL")


@pytest.fixture
async def lan(postgres_only: None, sessions: Sessions, tmp_path: Path) -> AsyncIterator[User]:
    """A registered citizen on the indicators' first screen, their pool's connections then cut by the server."""
    await make_unit(sessions)
    bot = await Harness.start(sessions, tmp_path / "ev")
    try:
        citizen = User(bot, 5101)
        await register(citizen)
        await citizen.press_label("Người dân trong cộng đồng")
        yield citizen
    finally:
        await bot.stop()


async def test_a_press_after_the_connections_were_cut_is_handled_once_more(
    lan: User, sessions: Sessions, engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    assert await _cut_pooled_connections(engine) >= 1
    with caplog.at_level(logging.WARNING):
        await lan.press_label("10 điểm")
    assert "handled once more" in caplog.text
    assert "lỗi" not in lan.last_text().lower()  # no "something went wrong, try again"
    assert await _chosen(sessions) == [10]


async def test_an_idle_connection_is_tested_before_use_so_nothing_fails(
    lan: User,
    sessions: Sessions,
    engine: AsyncEngine,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert await _cut_pooled_connections(engine) >= 1
    monkeypatch.setattr(db, "IDLE_PING", 0.0)  # every pooled connection counts as idle: tested, replaced
    with caplog.at_level(logging.WARNING):
        await lan.press_label("10 điểm")
    assert "lost" not in caplog.text  # the checkout replaced the dead ones: no statement failed
    assert await _chosen(sessions) == [10]
