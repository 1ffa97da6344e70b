"""The send rates shared by worker processes (bot.shared_rate): two workers on one Redis never exceed the rate
together, one chat gets one message at a time and a second apart whichever worker sends, a 429 pauses every
worker, replies overtake a wave, and with Redis away each worker falls back to its share of the rate."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from telegram.error import RetryAfter

from bot.reminders import make_dispatcher, policy_for
from bot.shared_rate import OUTBOX, SharedChatGate, SharedRate, SharedRateLimiter
from scheduler import jobs
from scheduler.dispatch import Dispatcher, Sent
from storage.db import Sessions
from storage.models import Outbox, OutboxStatus
from tests.bot.harness import Clock, Harness, User
from tests.bot.officer_helpers import press, register, seed_commune, texts_to
from tests.scheduler.builders import make_people, owe, rows

NOW = datetime(2026, 12, 24, 2, 0, tzinfo=UTC)  # 09:00 in Hà Nội on 24/12: the 7-days-before reminder


def two_workers(url: str, prefix: str) -> tuple[SharedRate, SharedRate]:
    """Two processes' SharedRate on one Redis (two clients, two connection pools)."""
    return shared(url, prefix), shared(url, prefix)


def shared(url: str, prefix: str) -> SharedRate:
    """A generous timeout: other people's tests load this 2-core machine, and a slow answer is no outage here."""
    return SharedRate.from_url(url, prefix=prefix, timeout=5)


def most_in_a_window(times: list[float], width: float = 1.0) -> int:
    """The most timestamps that fall in any window ``width`` seconds long."""
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= width:
            start += 1
        best = max(best, end - start + 1)
    return best


async def take_many(rates: SharedRate, bucket: str, rate: float, count: int, *, queued: bool) -> list[float]:
    async def one() -> float:
        await rates.acquire(bucket, rate, queued=queued)
        return time.monotonic()

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def test_two_workers_on_one_redis_keep_the_rate_together(redis_url: str, redis_prefix: str) -> None:
    rate, each = 40.0, 40
    first, second = two_workers(redis_url, redis_prefix)
    try:
        began = time.monotonic()
        a, b = await asyncio.gather(
            take_many(first, "telegram:x", rate, each, queued=True),
            take_many(second, "telegram:x", rate, each, queued=False),
        )
        took = time.monotonic() - began
        # Apart (two prefixes: what per-process limiters amount to) the same load goes twice as fast.
        apart = shared(redis_url, redis_prefix + "-apart")
        c, d = await asyncio.gather(
            take_many(first, "telegram:y", rate, each, queued=True),
            take_many(apart, "telegram:y", rate, each, queued=True),
        )
        await apart.close()
    finally:
        await first.close()
        await second.close()
    # The burst of 2 on top of the rate; times are taken when each waiter wakes, so a loaded machine (2 cores,
    # shared) adds a little bunching: 10% of slack, far below the doubling of unshared buckets below.
    assert most_in_a_window(a + b) <= rate * 1.1 + 2
    assert took >= (2 * each - 2) / rate * 0.95
    assert len(a) == len(b) == each
    assert most_in_a_window(c + d) > rate + 2  # the check above can fail: unshared buckets break the limit


async def test_one_chat_one_message_at_a_time_across_workers(redis_url: str, redis_prefix: str) -> None:
    first, second = two_workers(redis_url, redis_prefix)
    gate_a, gate_b = first.chat_gate("telegram"), second.chat_gate("telegram")
    now = datetime.now(UTC)
    try:
        assert await gate_a.hold([7, 8], now) == {}
        waiting = await gate_b.hold([7, 9], now)
        assert set(waiting) == {7}  # 7 has a message on its way from the other worker; 9 is free
        await gate_a.release(7, now)  # sent: free a second later
        again = await gate_b.hold([7], now)
        assert timedelta(milliseconds=500) < again[7] <= timedelta(seconds=1)
        await gate_a.release(8, None)  # nothing sent: free at once
        assert await gate_b.hold([8], now) == {}
        await asyncio.sleep(again[7].total_seconds() + 0.05)
        assert await gate_b.hold([7], now) == {}
        assert set(await first.chat_gate("zalo").hold([7], now)) == set()  # each messenger has its own chats
    finally:
        await first.close()
        await second.close()


async def test_a_retry_after_pauses_every_worker(redis_url: str, redis_prefix: str) -> None:
    first, second = two_workers(redis_url, redis_prefix)
    limiter_a = SharedRateLimiter(first, "telegram:z", 30, max_retries=1)
    limiter_b = SharedRateLimiter(second, "telegram:z", 30, max_retries=1)
    refused: list[bool] = []

    async def refused_once() -> dict[str, Any]:
        if not refused:
            refused.append(True)
            raise RetryAfter(1)
        return {"ok": True}

    async def fine() -> dict[str, Any]:
        return {"ok": True}

    chat = {"chat_id": 5, "text": "x"}
    try:
        began = time.monotonic()
        assert await limiter_a.process_request(refused_once, (), {}, "sendMessage", chat, OUTBOX) == {"ok": True}
        retried = time.monotonic() - began
        began = time.monotonic()
        await limiter_b.process_request(fine, (), {}, "sendMessage", {"chat_id": 6}, None)
        other = time.monotonic() - began
        began = time.monotonic()
        await limiter_b.process_request(fine, (), {}, "answerCallbackQuery", {"callback_query_id": "q"}, None)
        uncounted = time.monotonic() - began
    finally:
        await limiter_a.shutdown()
        await limiter_b.shutdown()
    assert retried >= 1.0  # waited Telegram's retry_after (+0.1), then went through
    assert other < 0.5  # the pause is over for the other worker too, and it was not paused again
    assert uncounted < 0.1  # no chat, no message: not counted


async def test_the_other_worker_waits_out_the_pause(redis_url: str, redis_prefix: str) -> None:
    first, second = two_workers(redis_url, redis_prefix)
    try:
        await first.pause("telegram:p", 1.0, 30)
        began = time.monotonic()
        await second.acquire("telegram:p", 30)
        assert time.monotonic() - began >= 0.9
    finally:
        await first.close()
        await second.close()


async def test_a_reply_overtakes_a_wave_queued_in_its_process(redis_url: str, redis_prefix: str) -> None:
    rates = shared(redis_url, redis_prefix)
    try:
        wave = asyncio.gather(*(rates.acquire("telegram:w", 20, queued=True) for _ in range(60)))  # 3 s of sends
        await asyncio.sleep(0.3)
        began = time.monotonic()
        await rates.acquire("telegram:w", 20)  # a citizen's reply
        waited = time.monotonic() - began
        assert not wave.done()
        await wave
    finally:
        await rates.close()
    assert waited < 0.25  # behind at most one queued send per worker, not the 2.7 s of wave left


async def test_with_redis_away_each_worker_sends_at_its_share(caplog: pytest.LogCaptureFixture) -> None:
    rates = SharedRate.from_url("redis://127.0.0.1:1/0", workers=2, prefix="cdht-test-away")
    caplog.set_level(logging.WARNING, logger="bot.shared_rate")
    try:
        times = await take_many(rates, "telegram:a", 20, 12, queued=True)
        gate = rates.chat_gate("telegram")
        now = datetime.now(UTC)
        assert await gate.hold([1], now) == {}
        assert set(await gate.hold([1], now)) == {1}  # this process's gate still holds the chat
    finally:
        await rates.close()
    # 12 at 20/s shared by 2 workers: 10/s here, so ≥ (12 - 2) / 10 s.
    assert max(times) - min(times) >= 0.95
    assert most_in_a_window(times) <= 10 + 2
    warnings = [r for r in caplog.records if "Redis is unreachable" in r.getMessage()]
    assert len(warnings) == 1  # once per outage, not per message
    assert "127.0.0.1:1" not in warnings[0].getMessage()


class TimedSend:
    """A fake send that records when (real time) each person got each row."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, int, float]] = []  # (person, row, time)

    async def __call__(self, row: Outbox) -> Sent:
        assert row.id is not None
        self.sent.append((row.person_id, row.id, time.monotonic()))
        await asyncio.sleep(0.01)
        return Sent()


async def test_two_dispatchers_keep_a_second_between_one_persons_messages(
    sessions: Sessions, redis_url: str, redis_prefix: str
) -> None:
    people = await make_people(sessions, 3)
    now = datetime.now(UTC)
    for cycle in ("2026:d7", "2026:d3", "2026:d1"):  # three rows for each person, all due now
        await owe(sessions, people, now - timedelta(seconds=1), cycle=cycle)
    workers = [shared(redis_url, redis_prefix) for _ in range(2)]
    send = TimedSend()
    dispatchers = [
        Dispatcher(sessions, send, batch_size=5, worker=f"w{i}", gate=w.chat_gate("telegram"))
        for i, w in enumerate(workers)
    ]
    try:
        deadline = time.monotonic() + 10
        while len(send.sent) < 9 and time.monotonic() < deadline:
            await asyncio.gather(*(d.run() for d in dispatchers))
            await asyncio.sleep(0.05)
    finally:
        for w in workers:
            await w.close()
    assert sorted(r for _, r, _ in send.sent) == sorted(r.id for r in await rows(sessions))  # each row once
    assert all(r.status == OutboxStatus.SENT for r in await rows(sessions))
    for person in people:
        times = sorted(t for p, _, t in send.sent if p == person)
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert len(times) == 3 and min(gaps) >= 0.95, gaps


async def test_the_bot_sends_replies_and_reminders_through_the_shared_bucket(
    sessions: Sessions, tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    """REDIS_URL set: python-telegram-bot's limiter is the shared one, and a reminder (an outbox send, queued in
    its process) and a citizen's replies both go out through it on the real Application."""
    await seed_commune(sessions)
    h = await Harness.start(
        sessions, tmp_path / "evidence", clock=Clock(NOW), rate_limit=True, redis_url=redis_url, workers=2
    )
    try:
        limiter = h.app.bot.rate_limiter
        assert isinstance(limiter, SharedRateLimiter)
        limiter.shared.prefix = redis_prefix  # this test's keys only
        lan = User(h, 1001)
        await register(lan, "THON1", "Nguyễn Thị Lan")
        await press(lan, "Người dân trong cộng đồng")
        data = h.app.bot_data
        assert (await jobs.plan(sessions=sessions, policy=policy_for(data.settings), now=NOW)).reminders == 1
        h.api.clear()
        dispatcher = make_dispatcher(h.app.bot, data, policy_for(data.settings))
        assert isinstance(dispatcher.gate, SharedChatGate)
        assert (await dispatcher.run()).sent == 1
        [text] = texts_to(h.api, 1001)
        assert "Còn <b>7 ngày</b>" in text
        client = Redis.from_url(redis_url)
        try:
            assert await client.exists(f"{redis_prefix}:rate:{limiter.bucket}")  # the bucket lives in Redis
            assert await client.get(f"{redis_prefix}:chat:telegram:{(await rows(sessions))[0].person_id}") == b"sent"
        finally:
            await client.aclose()
    finally:
        await h.stop()
