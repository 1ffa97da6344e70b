"""Reminders, notices and broadcasts to the people who use Zalo: the outbox rows of channel "zalo", claimed by
a dispatcher of their own and sent at ``ZALO_SEND_RATE`` (aiolimiter, the limiter python-telegram-bot uses; with
REDIS_URL one bucket shared by every worker, bot.shared_rate), composed exactly as for Telegram (bot.reminders)
and cut into messages of at most 2000 characters.

Zalo's 429 (quota) puts the row back for later: never dropped, never doubled (the outbox's lease and outcome
rules hold as for Telegram). A Telegram process keeps its own dispatcher for Telegram's rows, so each
messenger is paced on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

from aiolimiter import AsyncLimiter

from bot import metrics
from bot.context import BotData
from bot.message_split import split_message
from bot.reminders import PLAN_LOCK, Composed, Composer, policy_for
from bot.shared_rate import SharedRate
from bot.zalo.client import ZaloBadRequest, ZaloClient, ZaloError, ZaloQuotaExceeded, ZaloUnauthorized
from bot.zalo.draw import TEXT_LIMIT
from conversations.identity import Channel
from scheduler import jobs
from scheduler.dispatch import Dispatcher, Failed, Outcome, RetryAfter, Sent
from storage.cluster import once_per_cluster
from storage.db import unit_of_work
from storage.models import Outbox

log = logging.getLogger(__name__)

QUOTA_PAUSE = 60.0  # seconds before a row refused for Zalo's quota is tried again (the quota is unpublished)


class ZaloSender:
    """``send(row) -> Outcome`` for the dispatcher of Zalo's rows."""

    def __init__(self, client: ZaloClient, data: BotData) -> None:
        self.client = client
        self.data = data
        # The composing is the same as for Telegram (what is owed now, in the person's language); only the
        # sending differs.
        self.composer = Composer(data.sessions, data.registry, data.settings, data.clock)
        self.limiter = AsyncLimiter(1, 1 / data.settings.zalo_send_rate)
        self.shared = data.shared_rate()
        token = data.settings.zalo_bot_token
        self.bucket = SharedRate.bucket_of("zalo", token.get_secret_value() if token else "")

    @contextlib.asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        """One message's turn: the cluster's bucket with REDIS_URL, this process's limiter without."""
        if self.shared is None:
            async with self.limiter:
                yield
            return
        await self.shared.acquire(self.bucket, self.data.settings.zalo_send_rate, burst=1, queued=True)
        yield

    async def __call__(self, row: Outbox) -> Outcome:
        async with unit_of_work(self.data.sessions) as session:
            composed = await self.composer.compose(session, row)
        if not isinstance(composed, Composed):
            return composed
        try:
            for part in split_message(composed.text, TEXT_LIMIT):
                async with self._slot():
                    await self.client.send_message(str(composed.chat_id), part, parse_mode="html")
        except ZaloQuotaExceeded:
            metrics.RATE_LIMITED.labels("zalo").inc()
            if self.shared is not None:  # every worker holds back, not only this one
                await self.shared.pause(self.bucket, QUOTA_PAUSE, self.data.settings.zalo_send_rate, burst=1)
            return RetryAfter(QUOTA_PAUSE)
        except ZaloUnauthorized as exc:
            return Failed(f"ZaloUnauthorized: {exc.description}")
        except ZaloBadRequest as exc:
            return Failed(f"ZaloBadRequest: {exc.description}", permanent=True)
        except ZaloError as exc:  # network, server: try again later
            return Failed(f"{type(exc).__name__}: {exc.description}")
        metrics.SENT.labels("zalo").inc()
        return Sent()


def make_dispatcher(client: ZaloClient, data: BotData) -> Dispatcher:
    settings = data.settings
    shared = data.shared_rate()
    return Dispatcher(
        data.sessions,
        ZaloSender(client, data),
        policy=policy_for(settings),
        batch_size=settings.dispatch_batch,
        lease=timedelta(seconds=settings.lease_seconds),
        max_attempts=settings.max_attempts,
        clock=data.clock,
        channel=Channel.ZALO,
        gate=shared.chat_gate(Channel.ZALO) if shared is not None else None,
    )


async def run_dispatch(client: ZaloClient, data: BotData, stop: asyncio.Event, *, plan: bool) -> None:
    """Sends Zalo's due rows every DISPATCH_INTERVAL until ``stop``; ``plan``: also plans who is owed what
    (where no Telegram process's JobQueue does it), every PLANNING_INTERVAL."""
    settings = data.settings
    dispatcher = make_dispatcher(client, data)
    policy = policy_for(settings)
    planned_at: float | None = None
    loop = asyncio.get_running_loop()
    wake = asyncio.Event()  # notices just owed by a handler (BotData.wake_dispatchers): send them now
    data.wakers.append(wake.set)
    while not stop.is_set():
        wake.clear()  # before the round: a wake during it is for rows it may not have claimed
        try:
            if plan and (planned_at is None or loop.time() - planned_at >= settings.planning_interval):
                planned_at = loop.time()
                async with once_per_cluster(data.sessions, PLAN_LOCK) as mine:  # skipped while another plans
                    if mine:
                        await jobs.plan(sessions=data.sessions, policy=policy, now=data.now())
            await dispatcher.run()
            if plan:  # no Telegram process's job does it: tell officers their broadcasts are done
                await jobs.close_broadcasts(sessions=data.sessions, now=data.now())
        except Exception as exc:  # the database away for a moment: the next round tries again
            log.warning("Zalo dispatch round failed: %s", type(exc).__name__)
        stopped, woken = asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())
        await asyncio.wait((stopped, woken), timeout=settings.dispatch_interval, return_when=asyncio.FIRST_COMPLETED)
        for waiting in (stopped, woken):
            waiting.cancel()
    data.wakers.remove(wake.set)
    shared = data.shared_rate()
    if shared is not None:
        await shared.close()
