"""Dispatch on SQLite and PostgreSQL with a fake ``send``: every outcome, the per-chat gap, quiet hours, a
dispatcher stopped mid-wave, and (PostgreSQL) two dispatchers sharing one wave of 1,000 rows."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text
from sqlmodel import SQLModel

from scheduler.dispatch import Dispatcher, Failed, RetryAfter, Skipped, Unreachable, backoff
from scheduler.planning import Policy
from storage.db import Sessions, make_engine, make_sessions, upgrade
from storage.models import OutboxStatus, Person
from tests.conftest import PG_URL
from tests.scheduler.builders import Clock, RecordingSend, make_people, owe, rows

NOW = datetime(2026, 12, 24, 2, 0, tzinfo=UTC)  # 09:00 in Hà Nội
POLICY = Policy(zone=ZoneInfo("Asia/Ho_Chi_Minh"))


def dispatcher(sessions: Sessions, send: RecordingSend, clock: Clock, **kw: object) -> Dispatcher:
    values: dict[str, object] = {"batch_size": 10, "lease": timedelta(minutes=5), "max_attempts": 3}
    values.update(kw)
    return Dispatcher(sessions, send, clock=clock, worker="test", policy=POLICY, **values)  # type: ignore[arg-type]


async def test_sends_every_due_row_once_and_leaves_the_rest(sessions: Sessions) -> None:
    ids = await make_people(sessions, 25)
    await owe(sessions, ids[:23], NOW - timedelta(seconds=1))
    await owe(sessions, ids[23:], NOW + timedelta(hours=1))
    send, clock = RecordingSend(), Clock(NOW)
    stats = await dispatcher(sessions, send, clock).run()
    assert (stats.claimed, stats.sent) == (23, 23)
    assert sorted(send.counts().values()) == [1] * 23
    found = await rows(sessions)
    assert [r.status for r in found] == [OutboxStatus.SENT] * 23 + [OutboxStatus.PENDING] * 2
    assert all(r.sent_at == NOW and r.attempts == 1 and r.lease_until is None for r in found[:23])
    assert (await dispatcher(sessions, send, clock).run()).claimed == 0


async def test_retry_after_reschedules_without_counting_an_attempt(sessions: Sessions) -> None:
    [pid] = await make_people(sessions, 1)
    await owe(sessions, [pid], NOW)
    await dispatcher(sessions, RecordingSend(outcome=RetryAfter(12)), Clock(NOW)).run()
    [row] = await rows(sessions)
    assert (row.status, row.due_at, row.attempts) == (OutboxStatus.PENDING, NOW + timedelta(seconds=12), 0)
    assert row.last_error == "retry after 12s" and row.claimed_by is None


async def test_unreachable_blocks_the_person_and_their_other_rows(sessions: Sessions) -> None:
    [pid, other] = await make_people(sessions, 2)
    await owe(sessions, [pid, other], NOW)
    await owe(sessions, [pid], NOW + timedelta(days=2), cycle="2026:d3")

    class BlockOne(RecordingSend):
        async def __call__(self, row):  # type: ignore[no-untyped-def]
            await super().__call__(row)
            return Unreachable() if row.person_id == pid else self.outcome

    stats = await dispatcher(sessions, BlockOne(), Clock(NOW)).run()
    assert (stats.sent, stats.blocked) == (1, 1)
    assert {(r.person_id, r.cycle): r.status for r in await rows(sessions)} == {
        (pid, "2026:d7"): OutboxStatus.BLOCKED,
        (other, "2026:d7"): OutboxStatus.SENT,
        (pid, "2026:d3"): OutboxStatus.BLOCKED,
    }
    async with sessions() as s:
        assert (await s.get(Person, pid)).blocked_at == NOW
        assert (await s.get(Person, other)).blocked_at is None


async def test_errors_back_off_then_fail_after_max_attempts(sessions: Sessions) -> None:
    [pid] = await make_people(sessions, 1)
    await owe(sessions, [pid], NOW)
    clock = Clock(NOW)
    send = RecordingSend(outcome=Failed("NetworkError: Bad Gateway"))
    for attempt in (1, 2):
        await dispatcher(sessions, send, clock).run()
        [row] = await rows(sessions)
        assert (row.status, row.attempts, row.due_at) == (OutboxStatus.PENDING, attempt, clock.now + backoff(attempt))
        assert row.last_error == "NetworkError: Bad Gateway"
        assert (await dispatcher(sessions, send, clock).run()).claimed == 0  # not before the backoff
        clock.now = row.due_at
    await dispatcher(sessions, send, clock).run()  # attempt 3 of 3
    [row] = await rows(sessions)
    assert (row.status, row.attempts) == (OutboxStatus.FAILED, 3)
    assert backoff(1) == timedelta(seconds=30) and backoff(20) == timedelta(hours=1)


async def test_permanent_errors_fail_at_once_and_skips_cancel(sessions: Sessions) -> None:
    [a, b] = await make_people(sessions, 2)
    await owe(sessions, [a], NOW)
    await dispatcher(
        sessions, RecordingSend(outcome=Failed("BadRequest: can't parse", permanent=True)), Clock(NOW)
    ).run()
    await owe(sessions, [b], NOW)
    await dispatcher(sessions, RecordingSend(outcome=Skipped("reminders off")), Clock(NOW)).run()
    assert [(r.status, r.last_error) for r in await rows(sessions)] == [
        (OutboxStatus.FAILED, "BadRequest: can't parse"),
        (OutboxStatus.CANCELLED, "reminders off"),
    ]


async def test_one_chat_gets_at_most_one_message_a_second(sessions: Sessions) -> None:
    [pid] = await make_people(sessions, 1)
    for cycle in ("a", "b", "c"):
        await owe(sessions, [pid], NOW, kind="broadcast", cycle=cycle)
    clock, send = Clock(NOW), RecordingSend()
    d = dispatcher(sessions, send, clock)
    stats = await d.run()
    assert (stats.sent, stats.deferred) == (1, 2)
    clock.advance(seconds=0.5)
    assert (await d.run()).sent == 0  # still within the second
    clock.advance(seconds=0.5)
    assert (await d.run()).sent == 1
    clock.advance(seconds=1)
    assert (await d.run()).sent == 1
    assert len(send.delivered) == 3 and all(r.attempts == 1 for r in await rows(sessions))


async def test_nothing_goes_out_in_the_quiet_hours(sessions: Sessions) -> None:
    ids = await make_people(sessions, 2)
    await owe(sessions, ids, NOW - timedelta(hours=8))
    night = datetime(2026, 12, 24, 14, 0, tzinfo=UTC)  # 21:00 in Hà Nội
    send = RecordingSend()
    assert (await dispatcher(sessions, send, Clock(night)).run()).claimed == 0
    assert (await dispatcher(sessions, send, Clock(night + timedelta(hours=11))).run()).sent == 2  # 08:00


async def test_a_dispatcher_stopped_mid_wave_leaves_nothing_lost_or_doubled(sessions: Sessions) -> None:
    ids = await make_people(sessions, 60)
    await owe(sessions, ids, NOW)
    clock = Clock(NOW)
    first = RecordingSend(hang_after=5)  # five go through, then the network hangs
    task = asyncio.create_task(dispatcher(sessions, first, clock).run())
    while len(first.delivered) < 5 or first.started < 10:
        first.changed.clear()
        await asyncio.wait_for(first.changed.wait(), 5)
    for _ in range(100):  # the five outcomes are being recorded
        if sum(r.status == OutboxStatus.SENT for r in await rows(sessions)) == 5:
            break
        await asyncio.sleep(0.01)
    task.cancel()  # the process stops with the rest of what it claimed unsent
    with pytest.raises(asyncio.CancelledError):
        await task
    status = [r.status for r in await rows(sessions)]
    stuck = status.count(OutboxStatus.CLAIMED)
    assert status.count(OutboxStatus.SENT) == 5 and stuck >= 5  # its batch, and maybe the next, claimed

    second = RecordingSend()
    assert (await dispatcher(sessions, second, clock).run()).sent == 55 - stuck  # the stopped claims wait
    clock.advance(minutes=5, seconds=1)  # their lease is over
    assert (await dispatcher(sessions, second, clock).run()).sent == stuck
    delivered = first.counts() + second.counts()
    assert sorted(delivered) == sorted(r.id for r in await rows(sessions))  # nothing lost
    assert set(delivered.values()) == {1}  # nothing doubled
    assert all(r.status == OutboxStatus.SENT for r in await rows(sessions))


# --------------------------------------------------------------------------- two processes, one PostgreSQL


@pytest.fixture
async def two_engines(postgres_schema: str):  # type: ignore[no-untyped-def]
    """Two engines (two "processes") on the session's PostgreSQL schema, emptied first."""
    engines = [make_engine(PG_URL, schema=postgres_schema) for _ in range(2)]
    await upgrade(engines[0])
    names = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
    async with engines[0].begin() as conn:
        await conn.execute(text(f"truncate {names} restart identity cascade"))
    yield engines
    for engine in engines:
        await engine.dispose()


async def test_two_dispatchers_on_postgresql_send_each_of_1000_rows_exactly_once(two_engines) -> None:  # type: ignore[no-untyped-def]
    a_sessions, b_sessions = (make_sessions(e) for e in two_engines)
    ids = await make_people(a_sessions, 1000)
    await owe(a_sessions, ids, NOW)
    clock = Clock(NOW)
    a_send, b_send = RecordingSend(delay=0.002), RecordingSend(delay=0.002)
    a = Dispatcher(a_sessions, a_send, clock=clock, worker="a", batch_size=25)
    b = Dispatcher(b_sessions, b_send, clock=clock, worker="b", batch_size=25)
    a_stats, b_stats = await asyncio.gather(a.run(), b.run())
    delivered = a_send.counts() + b_send.counts()
    assert len(delivered) == 1000 and set(delivered.values()) == {1}
    assert not set(a_send.delivered) & set(b_send.delivered)
    assert a_stats.sent > 0 and b_stats.sent > 0  # both really took part
    assert a_stats.sent + b_stats.sent == 1000 and a_stats.lost == b_stats.lost == 0
    found = await rows(a_sessions)
    assert {r.status for r in found} == {OutboxStatus.SENT} and {r.attempts for r in found} == {1}
    assert {r.claimed_by.split("#")[0] for r in found} == {"a", "b"}
