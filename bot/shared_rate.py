"""Send rates shared by every worker process: Telegram's ~30 messages a second per bot, Zalo's quota, and one
message a second to one chat hold for the whole cluster, not for each process (REDIS_URL; unset: each
process keeps its own limiters, as a single process needs).

Why Redis, not a row in PostgreSQL:
- Latency and load. Every Telegram call to a chat asks the bucket first, interactive replies included. In
  Redis that is one script call (~0.1-0.3 ms on a LAN, no transaction, no pool connection); in PostgreSQL it
  would be an UPDATE of one hot row in a transaction of its own: a pool connection held per waiting send, a
  statement added to every update the lean path counts (issue 9 item 1), and a dead tuple per message.
- Expiry for free. The per-chat gate is one short-lived key per person (``SET NX PX``); in PostgreSQL it
  would be a table of chats to prune.
- Time from one clock. The scripts read Redis's own ``TIME``, so workers on machines whose clocks drift
  still space their messages correctly.
Redis keeps nothing here worth saving: a restart forgets at most a second of pacing.

The algorithm is GCRA (a token bucket kept as one "theoretical arrival time"): ``acquire`` *reserves* the
next slot atomically and sleeps until it, so nothing polls and waiting senders form an orderly queue across
workers; a bucket of ``burst`` (2) lets no one-second window hold more than rate + 2 messages, as the
per-process limiter did (bot/reminders.py). Outbox sends queue in their own process first and reserve one
at a time, so a wave holds at most one reservation per worker ahead of a citizen's reply: replies are never
stuck behind thousands of reminders. A Telegram 429 (RetryAfter) pushes the shared bucket forward, pausing
every worker at once.

When Redis cannot be reached (down, or a timeout of half a second), sending goes on with per-process limits
at SEND_RATE / WORKERS (and ZALO_SEND_RATE / WORKERS), so the cluster as a whole stays under the limit
while it is away; a warning is logged once per outage and Redis is tried again every few seconds. The bot
starts even when Redis is away at start (citizens' replies matter more than the pace of a wave). What the
operator runs: a Redis server (no persistence needed), REDIS_URL on every worker, and WORKERS set to the
number of worker processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from redis.asyncio import Redis
from redis.exceptions import RedisError
from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

from bot.settings import Settings
from scheduler.dispatch import PER_CHAT_GAP, LocalChatGate

log = logging.getLogger(__name__)

BURST = 2  # messages that may go at once before the rate applies (see bot.reminders.rate_limiter)
TIMEOUT = 0.5  # seconds before Redis counts as away for this call
RETRY_REDIS = 5.0  # seconds of per-process limits before Redis is tried again
CHAT_HOLD = timedelta(seconds=60)  # a chat held by a worker that died is free again after this
OUTBOX = "outbox"  # rate_limit_args of an outbox send: queued in its process behind other outbox sends

# GCRA: KEYS[1] the bucket's arrival time (µs, Redis clock); ARGV: interval µs, burst. Reserves the next slot
# and returns how long to wait for it (µs).
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat - now - (tonumber(ARGV[2]) - 1) * interval
if wait < 0 then wait = 0 end
local new = tat + interval
redis.call('SET', KEYS[1], string.format('%d', new), 'PX', math.ceil((new - now) / 1000) + 1000)
return wait
"""
# KEYS[1] the bucket; ARGV: pause µs, interval µs, burst. No slot before now + pause.
_PAUSE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local new = now + tonumber(ARGV[1]) + (tonumber(ARGV[3]) - 1) * tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < new then
  redis.call('SET', KEYS[1], string.format('%d', new), 'PX', math.ceil((new - now) / 1000) + 1000)
end
return 0
"""
# KEYS: one per chat ("sending" while a message is on its way, "sent" for the gap after it); ARGV[1]: hold ms.
# For each chat: 0 when the caller now holds it, -1 when a message is on its way, else the ms until it is free.
_HOLD = """
local out = {}
for i, key in ipairs(KEYS) do
  if redis.call('SET', key, 'sending', 'NX', 'PX', ARGV[1]) then
    out[i] = 0
  elseif redis.call('GET', key) == 'sending' then
    out[i] = -1
  else
    local ttl = redis.call('PTTL', key)
    if ttl < 1 then ttl = 1 end
    out[i] = ttl
  end
end
return out
"""


class LocalBucket:
    """The same GCRA in one process (monotonic clock): the fallback while Redis is away."""

    def __init__(self) -> None:
        self.tat = 0.0

    def reserve(self, interval: float, burst: int) -> float:
        now = time.monotonic()
        tat = max(self.tat, now)
        self.tat = tat + interval
        return max(0.0, tat - now - (burst - 1) * interval)

    def pause(self, seconds: float, interval: float, burst: int) -> None:
        self.tat = max(self.tat, time.monotonic() + seconds + (burst - 1) * interval)


class SharedRate:
    """Buckets by name, in Redis when it answers, else in this process at ``rate / workers``."""

    def __init__(self, redis: Redis, *, workers: int = 1, prefix: str = "cdht") -> None:
        self.redis = redis
        self.workers = max(1, workers)
        self.prefix = prefix
        self._reserve = redis.register_script(_RESERVE)
        self._pause = redis.register_script(_PAUSE)
        self._hold = redis.register_script(_HOLD)
        self._local: dict[str, LocalBucket] = {}
        self._queues: dict[str, asyncio.Lock] = {}
        self._away_until = 0.0  # monotonic: per-process limits until then

    @classmethod
    def from_url(cls, url: str, *, workers: int = 1, prefix: str = "cdht", timeout: float = TIMEOUT) -> SharedRate:
        client = Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        return cls(client, workers=workers, prefix=prefix)

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    # ------------------------------------------------------------------ Redis, or this process while it is away

    def _redis_usable(self) -> bool:
        return time.monotonic() >= self._away_until

    def _redis_failed(self, exc: Exception) -> None:
        if self._redis_usable():  # once per outage
            log.warning(
                "Redis is unreachable (%s): sending at 1/%d of each rate in this process until it is back",
                type(exc).__name__,
                self.workers,
            )
        self._away_until = time.monotonic() + RETRY_REDIS

    async def _call(self, fn: Callable[[], Coroutine[Any, Any, Any]]) -> Any | None:
        """fn's answer, or None when Redis is away (then per-process limits apply for a while)."""
        if not self._redis_usable():
            return None
        try:
            return await fn()
        except (RedisError, OSError) as exc:
            self._redis_failed(exc)
            return None

    # ------------------------------------------------------------------ buckets

    async def acquire(self, bucket: str, rate: float, burst: int = BURST, *, queued: bool = False) -> None:
        """Waits for the next slot of ``bucket`` (``rate`` a second across the cluster). ``queued``: behind this
        process's other queued callers (outbox sends), so one reservation per process waits in the bucket."""
        if not queued:
            await asyncio.sleep(await self._reserve_slot(bucket, rate, burst))
            return
        queue = self._queues.setdefault(bucket, asyncio.Lock())
        async with queue:
            await asyncio.sleep(await self._reserve_slot(bucket, rate, burst))

    async def _reserve_slot(self, bucket: str, rate: float, burst: int) -> float:
        interval = 1.0 / rate
        micros = await self._call(lambda: self._reserve(keys=[self.key("rate", bucket)], args=[_us(interval), burst]))
        if micros is not None:
            return int(micros) / 1_000_000
        local = self._local.setdefault(bucket, LocalBucket())
        return local.reserve(interval * self.workers, burst)

    async def pause(self, bucket: str, seconds: float, rate: float, burst: int = BURST) -> None:
        """No slot of ``bucket`` before ``seconds`` from now, in every worker (a 429's retry_after)."""
        interval = 1.0 / rate
        self._local.setdefault(bucket, LocalBucket()).pause(seconds, interval * self.workers, burst)
        await self._call(
            lambda: self._pause(keys=[self.key("rate", bucket)], args=[_us(seconds), _us(interval), burst])
        )

    def chat_gate(self, channel: str) -> SharedChatGate:
        return SharedChatGate(self, channel)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.redis.aclose()

    @staticmethod
    def bucket_of(channel: str, token: str) -> str:
        """One bucket per bot: Telegram's and Zalo's limits are per bot token (its hash names it, never the token)."""
        return f"{channel}:{hashlib.sha256(token.encode()).hexdigest()[:16]}"


class SharedChatGate:
    """scheduler.dispatch.ChatGate across workers: one message on its way to a person at a time, and at least
    PER_CHAT_GAP between two, whichever worker sends them. Falls back to this process's gate while Redis is away."""

    def __init__(self, shared: SharedRate, channel: str) -> None:
        self.shared = shared
        self.channel = channel
        self.local = LocalChatGate()

    def _key(self, person_id: int) -> str:
        return self.shared.key("chat", self.channel, str(person_id))

    async def hold(self, people: Sequence[int], now: datetime) -> dict[int, timedelta]:
        if not people:
            return {}
        keys = [self._key(p) for p in people]
        ttl = int(CHAT_HOLD.total_seconds() * 1000)
        found = await self.shared._call(lambda: self.shared._hold(keys=keys, args=[ttl]))
        if found is None:
            return await self.local.hold(people, now)
        waits = {}
        for person, ms in zip(people, found, strict=True):
            if int(ms) < 0:  # on its way from some worker: try a gap later, as this process's gate does
                waits[person] = PER_CHAT_GAP
            elif int(ms) > 0:
                waits[person] = timedelta(milliseconds=int(ms))
        return waits

    async def release(self, person_id: int, sent_at: datetime | None) -> None:
        if self.local.holding(person_id):  # held while Redis was away
            await self.local.release(person_id, sent_at)
            return
        key = self._key(person_id)
        if sent_at is None:
            await self.shared._call(lambda: self.shared.redis.delete(key))
        else:
            gap = int(PER_CHAT_GAP.total_seconds() * 1000)
            await self.shared._call(lambda: self.shared.redis.set(key, "sent", px=gap))


class SharedRateLimiter(BaseRateLimiter[str]):
    """python-telegram-bot's rate limiter over the shared bucket: every request to a chat takes a slot (as
    AIORateLimiter counts them), outbox sends (``rate_limit_args=OUTBOX``) queue in their process first, and a
    RetryAfter pauses the bucket for every worker before the request is tried again (at most ``max_retries``)."""

    def __init__(self, shared: SharedRate, bucket: str, rate: float, *, burst: int = BURST, max_retries: int = 3):
        self.shared = shared
        self.bucket = bucket
        self.rate = rate
        self.burst = burst
        self.max_retries = max_retries

    async def initialize(self) -> None:
        """Nothing to open: the Redis client connects on first use."""

    async def shutdown(self) -> None:
        await self.shared.close()

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: str | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        counted = data.get("chat_id") is not None  # getMe, answerCallbackQuery... are not messages
        for attempt in range(self.max_retries + 1):
            if counted:
                await self.shared.acquire(self.bucket, self.rate, self.burst, queued=rate_limit_args == OUTBOX)
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as exc:
                if attempt == self.max_retries:
                    raise
                seconds = _retry_seconds(exc) + 0.1
                log.info("Telegram asked to slow down: every worker pauses %.1f s", seconds)
                await self.shared.pause(self.bucket, seconds, self.rate, self.burst)
                if not counted:
                    await asyncio.sleep(seconds)
        raise AssertionError("unreachable")


def from_settings(settings: Settings) -> SharedRate | None:
    """The shared buckets when REDIS_URL is set (the client connects on first use), else None."""
    if not settings.redis_url:
        return None
    parts = urlsplit(settings.redis_url)
    log.info("send rates shared through Redis at %s:%s", parts.hostname, parts.port or 6379)  # no password
    return SharedRate.from_url(settings.redis_url, workers=settings.workers)


def _us(seconds: float) -> int:
    return max(0, round(seconds * 1_000_000))


def _retry_seconds(exc: RetryAfter) -> float:
    value = getattr(exc, "_retry_after", None)
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(exc.retry_after)  # type: ignore[arg-type]
