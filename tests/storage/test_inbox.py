"""The inbox records each update once, and a handler's transaction marks the update it handles done."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from storage import repo_inbox
from storage.db import Sessions, unit_of_work
from storage.models import UpdateInbox

NOW = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)


async def _rows(sessions: Sessions) -> list[UpdateInbox]:
    async with sessions() as s:
        return list((await s.exec(select(UpdateInbox).order_by(UpdateInbox.id))).all())


async def test_an_update_is_recorded_once(sessions: Sessions) -> None:
    async with unit_of_work(sessions) as session:
        new = await repo_inbox.record_updates(
            session=session, channel="telegram", updates=[("1", {"update_id": 1}), ("2", {"update_id": 2})], now=NOW
        )
    assert new == {"1", "2"}
    async with unit_of_work(sessions) as session:
        again = await repo_inbox.record_updates(
            session=session, channel="telegram", updates=[("2", {"update_id": 2}), ("3", {"update_id": 3})], now=NOW
        )
        # The same key on another channel is another update.
        zalo = await repo_inbox.record_updates(session=session, channel="zalo", updates=[("2", {"x": 1})], now=NOW)
    assert again == {"3"} and zalo == {"2"}
    async with sessions() as session:
        pending = await repo_inbox.list_pending(session=session, channel="telegram")
    assert [r.key for r in pending] == ["1", "2", "3"]
    assert pending[0].payload == {"update_id": 1}


async def test_the_handlers_transaction_marks_the_current_update_done(sessions: Sessions) -> None:
    async with unit_of_work(sessions) as session:
        await repo_inbox.record_updates(
            session=session, channel="telegram", updates=[("7", {}), ("8", {}), ("9", {})], now=NOW
        )
    handling = repo_inbox.Handling("telegram", "7")
    token = repo_inbox.current.set(handling)
    try:
        with pytest.raises(RuntimeError):
            async with unit_of_work(sessions) as session:
                session.add(UpdateInbox(channel="zalo", key="a", payload={}))
                raise RuntimeError("the handler failed: nothing it did commits, the update is not done")
        async with unit_of_work(sessions) as session:  # only looks (a handler letting the update through)
            await repo_inbox.list_pending(session=session, channel="telegram")
        assert not handling.done
        assert [r.done_at for r in await _rows(sessions)] == [None, None, None]
        async with unit_of_work(sessions) as session:  # the handler's change: an ORM row
            session.add(UpdateInbox(channel="zalo", key="b", payload={}))
        assert handling.done
    finally:
        repo_inbox.current.reset(token)
    assert [r.done_at is not None for r in await _rows(sessions)] == [True, False, False, False]

    handling = repo_inbox.Handling("telegram", "8")
    token = repo_inbox.current.set(handling)
    try:
        async with unit_of_work(sessions) as session:  # the handler's change: a statement
            await repo_inbox.mark_done(session=session, channel="zalo", key="b", now=NOW)
    finally:
        repo_inbox.current.reset(token)
    assert handling.done
    async with unit_of_work(sessions) as session:  # outside any update: marks nothing
        session.add(UpdateInbox(channel="zalo", key="c", payload={}))
    async with sessions() as session:
        assert [r.key for r in await repo_inbox.list_pending(session=session, channel="telegram")] == ["9"]


async def test_done_rows_are_pruned(sessions: Sessions) -> None:
    async with unit_of_work(sessions) as session:
        await repo_inbox.record_updates(session=session, channel="telegram", updates=[("1", {}), ("2", {})], now=NOW)
        await repo_inbox.mark_done(session=session, channel="telegram", key="1", now=NOW)
    async with unit_of_work(sessions) as session:
        assert await repo_inbox.prune_done(session=session, before=NOW + timedelta(seconds=1)) == 1
    assert [r.key for r in await _rows(sessions)] == ["2"]
