"""The durable inbox across worker processes on one database: an update delivered to worker A and sent again to
worker B (Telegram retries on another connection; the proxy balances) is handled once; an update a killed
worker had recorded is handled once when it restarts, whatever the retries meanwhile; and a worker replaying
on start what a live worker is handling at that moment does not handle it a second time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlmodel import select
from telegram import Update

from bot.inbox import REPLAY_AFTER, REPLAY_JOB, _replay_job, replay
from storage import repo_inbox
from storage.db import Sessions, make_engine, make_sessions, unit_of_work
from storage.models import Answer, UpdateInbox
from tests.bot.harness import Clock, Harness, User
from tests.bot.test_citizen_journey import make_unit, register
from tests.conftest import Database

NOW = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)
UPDATE_ID = 990001
LAN = 4201


@pytest.fixture
async def workers(database: Database, sessions: Sessions, tmp_path: Path) -> AsyncIterator[tuple[Harness, Harness]]:
    """Two bot processes on one database: A on the test's engine, B on an engine (pool) of its own."""
    other = make_engine(database.url, schema=database.schema)
    a = await Harness.start(sessions, tmp_path / "ev", clock=Clock(NOW), workers=2)
    b = await Harness.start(make_sessions(other), tmp_path / "ev", clock=Clock(NOW), workers=2)
    try:
        yield a, b
    finally:
        await a.stop()
        await b.stop()
        await other.dispose()


async def press_ten(a: Harness, sessions: Sessions) -> dict[str, Any]:
    """Lan registers through A and is shown indicator 1; returns the update of her pressing "10 điểm"."""
    await make_unit(sessions)
    lan = User(a, LAN)
    await register(lan)
    await lan.press_label("Người dân trong cộng đồng")
    ten = next(b["callback_data"] for row in a.api.last_markup() for b in row if b["text"] == "10 điểm")
    a.api.clear()
    user = {"id": LAN, "is_bot": False, "first_name": "Lan", "language_code": "vi"}
    message = {"message_id": 9, "date": 0, "chat": {"id": LAN, "type": "private"}, "text": "(buttons)"}
    callback = {"id": "cb1", "from": user, "chat_instance": "ci", "data": ten, "message": message}
    return {"update_id": UPDATE_ID, "callback_query": callback}


async def handled(sessions: Sessions) -> bool:
    async with sessions() as s:
        row = (await s.exec(select(UpdateInbox).where(UpdateInbox.key == str(UPDATE_ID)))).first()
        return row is not None and row.done_at is not None


async def wait_handled(sessions: Sessions) -> None:
    for _ in range(200):
        if await handled(sessions):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the update was never handled")


async def answers(sessions: Sessions) -> list[tuple[int, int | None]]:
    async with sessions() as s:
        return [(a.indicator, a.chosen) for a in (await s.exec(select(Answer))).all()]


def answered(*workers: Harness) -> int:
    """How many times the press was answered (answerCallbackQuery) across the workers: once per handling."""
    return sum(len(w.api.sent("answerCallbackQuery")) for w in workers)


def error_replies(*workers: Harness) -> list[str]:
    return [t for w in workers for t in w.api.texts() if "lỗi" in t.lower() or "thử lại" in t.lower()]


async def test_an_update_delivered_to_two_workers_is_handled_once(
    workers: tuple[Harness, Harness], sessions: Sessions
) -> None:
    a, b = workers
    press = await press_ten(a, sessions)
    await a.app.update_queue.put(Update.de_json(press, a.app.bot))  # the webhook route at A: recorded, queued
    await b.app.update_queue.put(Update.de_json(press, b.app.bot))  # sent again, to B: already in the inbox
    await wait_handled(sessions)
    await asyncio.sleep(0.2)  # B would have handled it by now, had it queued it
    assert answered(a, b) == 1
    assert len(a.api.sent("answerCallbackQuery")) == 1
    assert await answers(sessions) == [(1, 10)]


async def test_a_killed_workers_update_is_handled_once_when_it_restarts(
    workers: tuple[Harness, Harness], sessions: Sessions, tmp_path: Path
) -> None:
    a, b = workers
    press = await press_ten(a, sessions)
    async with unit_of_work(sessions) as session:  # A recorded it, answered 200... and was killed
        await repo_inbox.record_updates(
            session=session, channel="telegram", updates=[(str(UPDATE_ID), press)], now=real_now() - 2 * REPLAY_AFTER
        )
    await b.app.update_queue.put(Update.de_json(press, b.app.bot))  # a retry reaches B: known, not queued again
    await asyncio.sleep(0.2)
    assert answered(b) == 0 and not await handled(sessions)
    restarted = await Harness.start(sessions, tmp_path / "ev", clock=Clock(NOW), workers=2)  # A again
    try:
        assert await replay(restarted.app) == 1  # pending for longer than REPLAY_AFTER: nobody alive has it
        await b.app.update_queue.put(Update.de_json(press, b.app.bot))  # yet another retry: still nothing
        await asyncio.sleep(0.2)
    finally:
        await restarted.stop()
    assert answered(restarted, b) == 1
    assert await answers(sessions) == [(1, 10)]
    async with sessions() as s:
        assert await repo_inbox.list_pending(session=s, channel="telegram") == []


async def test_a_worker_replaying_what_a_live_worker_handles_does_not_handle_it_again(
    workers: tuple[Harness, Harness], sessions: Sessions, database: Database
) -> None:
    """The overlap REPLAY_AFTER keeps from happening, forced: A and B handle the same recorded update at the same
    moment. The effects are written once (the transaction that finds the update done by the other is rolled
    back, or reads the state the other wrote); the citizen sees no error. (The later one may still answer the
    press as out of date: replies are not transactional, which is why a replay leaves young updates alone.)"""
    a, b = workers
    if database.backend != "postgresql":
        pytest.skip("several worker processes need PostgreSQL (SQLite is one process by design)")
    press = await press_ten(a, sessions)
    async with unit_of_work(sessions) as session:
        await repo_inbox.record_updates(session=session, channel="telegram", updates=[(str(UPDATE_ID), press)], now=NOW)
    # Both take it as recorded (A from its intake, B from the inbox), as the queue and replay() mark it, and
    # both handle it at the same moment.
    for worker in (a, b):
        worker.app.update_queue.recorded.add(str(UPDATE_ID))  # type: ignore[attr-defined]
    await asyncio.gather(
        a.app.process_update(Update.de_json(press, a.app.bot)),
        b.app.process_update(Update.de_json(press, b.app.bot)),
    )
    assert await handled(sessions)
    assert 1 <= answered(a, b) <= 2
    assert await answers(sessions) == [(1, 10)]
    assert error_replies(a, b) == []
    async with sessions() as s:
        [row] = (await s.exec(select(UpdateInbox).where(UpdateInbox.key == str(UPDATE_ID)))).all()
        assert row.done_at is not None


async def test_a_worker_starting_while_another_takes_an_update_in_handles_it_once(
    workers: tuple[Harness, Harness], sessions: Sessions
) -> None:
    """The same race as it happens: A's webhook takes the update in while B, starting, replays the inbox."""
    a, b = workers
    press = await press_ten(a, sessions)
    await a.app.update_queue.put(Update.de_json(press, a.app.bot))
    assert await replay(b.app) == 0  # just received: in a live worker's hands, not B's to replay
    await wait_handled(sessions)
    await asyncio.sleep(0.2)
    assert answered(a, b) == 1
    assert await answers(sessions) == [(1, 10)]
    assert error_replies(a, b) == []


async def test_an_update_left_by_a_worker_that_never_came_back_is_replayed_by_the_minute_job(
    workers: tuple[Harness, Harness], sessions: Sessions
) -> None:
    a, b = workers
    press = await press_ten(a, sessions)
    async with unit_of_work(sessions) as session:  # recorded by a worker that is gone for good, 2 minutes ago
        await repo_inbox.record_updates(
            session=session, channel="telegram", updates=[(str(UPDATE_ID), press)], now=real_now() - 2 * REPLAY_AFTER
        )
    assert [j.name for j in b.app.job_queue.get_jobs_by_name(REPLAY_JOB)] == [REPLAY_JOB]  # type: ignore[union-attr]
    await _replay_job(SimpleNamespace(db=b.app.bot_data.sessions, application=b.app))  # type: ignore[arg-type]
    assert await handled(sessions)
    assert answered(a, b) == 1
    assert await answers(sessions) == [(1, 10)]


def real_now() -> datetime:
    return datetime.now(UTC)
