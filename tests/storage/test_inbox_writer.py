"""Updates arriving together are recorded together (storage.inbox_writer): one transaction for a burst, each
caller answered only once its own row has committed, each key new once, arrival order kept for replays."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from storage import repo_inbox
from storage.db import Sessions
from storage.inbox_writer import InboxWriter


def _commits(engine: AsyncEngine) -> list[int]:
    seen: list[int] = []
    event.listen(engine.sync_engine, "commit", lambda _conn: seen.append(1))
    return seen


async def _pending_keys(sessions: Sessions) -> list[str]:
    async with sessions() as session:
        return [r.key for r in await repo_inbox.list_pending(session=session, channel="telegram")]


async def test_a_burst_is_recorded_in_a_few_transactions_in_arrival_order(
    sessions: Sessions, engine: AsyncEngine
) -> None:
    writer = InboxWriter(sessions, "telegram")
    commits = _commits(engine)
    keys = [str(n) for n in range(1, 51)]
    answers = await asyncio.gather(*(writer.record(k, {"update_id": int(k)}) for k in keys))
    assert answers == [True] * 50
    assert await _pending_keys(sessions) == keys
    # The first arrival is recorded alone; everything arriving meanwhile goes in the next transaction.
    assert len(commits) <= 3, len(commits)


async def test_each_key_is_new_once_within_a_burst_and_after_it(sessions: Sessions) -> None:
    writer = InboxWriter(sessions, "telegram")
    first = await writer.record("7", {"update_id": 7})
    burst = await asyncio.gather(*(writer.record(k, {"update_id": int(k)}) for k in ["8", "9", "8", "7", "9"]))
    assert first is True
    assert burst == [True, True, False, False, False]  # Telegram re-sent 8 and 9 within the burst, 7 after it
    assert await _pending_keys(sessions) == ["7", "8", "9"]


class _Failing:
    """Sessions whose every transaction fails (the database away)."""

    def __init__(self, real: Sessions) -> None:
        self.real = real

    def __call__(self) -> Any:
        raise OSError("database away")


async def test_when_the_database_is_away_every_waiting_caller_is_told(sessions: Sessions) -> None:
    writer = InboxWriter(_Failing(sessions), "telegram")  # type: ignore[arg-type]
    results = await asyncio.gather(*(writer.record(str(k), {}) for k in range(5)), return_exceptions=True)
    assert all(isinstance(r, OSError) for r in results), results
    # And the writer goes on once the database is back.
    writer.sessions = sessions
    assert await writer.record("99", {}) is True


async def test_a_caller_that_gives_up_does_not_strand_the_others(sessions: Sessions) -> None:
    writer = InboxWriter(sessions, "telegram")
    first = asyncio.create_task(writer.record("1", {}))
    await asyncio.sleep(0)  # "1" is being written alone
    later = [asyncio.create_task(writer.record(str(k), {})) for k in range(2, 6)]
    await first
    while writer._waiting:  # noqa: ASYNC110 (until "2" has taken 2-5 along and is writing them)
        await asyncio.sleep(0)
    later[0].cancel()  # its webhook request was cut while it wrote the others' rows
    assert await asyncio.wait_for(asyncio.gather(*later[1:]), 10) == [True] * 3
    assert await _pending_keys(sessions) == ["1", "2", "3", "4", "5"]
