"""Different people's updates at once, one person's strictly in arrival order: the rule both messengers
handle updates by (Telegram through ``PersonOrderedProcessor``, Zalo in bot.zalo.runtime).

``Lanes.turn(key)`` waits for the key's earlier updates (an ``asyncio.Lock`` per person, which wakes its
waiters first come, first served), then for one of ``limit`` slots, so at most ``limit`` updates are handled
at once and an update waiting behind its own person never holds a slot. A lane lives only while someone is
in it or waiting.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Hashable
from contextlib import asynccontextmanager
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

from bot import metrics

CHANNEL = "telegram"

BACKLOG = 1024  # updates taken in by Telegram's processor before its own semaphore makes the next wait


class Lanes:
    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("the limit of updates handled at once must be at least 1")
        self.limit = limit
        self._lanes: dict[Hashable, tuple[asyncio.Lock, int]] = {}  # key -> (lock, in or waiting)
        self._slots: asyncio.Semaphore | None = None  # made in the running loop, on first use
        self.running = 0  # updates being handled now
        self.peak = 0  # the most ever handled at once (for metrics and tests)

    @asynccontextmanager
    async def turn(self, key: Hashable) -> AsyncIterator[None]:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.limit)
        lane, users = self._lanes.get(key, (asyncio.Lock(), 0))
        self._lanes[key] = (lane, users + 1)
        try:
            async with lane, self._slots:
                self.running += 1
                self.peak = max(self.peak, self.running)
                try:
                    yield
                finally:
                    self.running -= 1
        finally:
            lane, users = self._lanes[key]
            if users == 1:
                del self._lanes[key]
            else:
                self._lanes[key] = (lane, users - 1)

    @property
    def busy(self) -> int:
        """People with an update being handled or waiting (for metrics and tests)."""
        return len(self._lanes)


def kind_of(update: object) -> str:
    """What a Telegram update is, for metrics and benchmarks: press, photo, document, command, text, other."""
    if not isinstance(update, Update):
        return "other"
    if update.callback_query is not None:
        return "press"
    message = update.effective_message
    if message is None:
        return "other"
    if message.photo:
        return "photo"
    if message.document:
        return "document"
    if message.text:
        return "command" if message.text.startswith("/") else "text"
    return "other"


def person_of(update: object) -> Hashable:
    """Whose lane a Telegram update takes: its sender's (else its chat's; else an update of its own)."""
    if isinstance(update, Update):
        if update.effective_user is not None:
            return ("user", update.effective_user.id)
        if update.effective_chat is not None:
            return ("chat", update.effective_chat.id)
        return ("update", update.update_id)
    return ("other", id(update))


class PersonOrderedProcessor(BaseUpdateProcessor):
    """python-telegram-bot's update processor with ``Lanes``: ``CONCURRENT_UPDATES`` at once, never two of
    one person's. PTB's own semaphore is set wide (BACKLOG): it is taken before the lane, so a narrow one
    would let a single person's queued updates hold every slot while others wait."""

    def __init__(self, limit: int) -> None:
        super().__init__(max_concurrent_updates=max(BACKLOG, limit))
        self.lanes = Lanes(limit)

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        async with self.lanes.turn(person_of(update)):
            metrics.UPDATES_RUNNING.labels(CHANNEL).inc()
            started = time.perf_counter()
            try:
                await coroutine
            finally:
                metrics.UPDATES_RUNNING.labels(CHANNEL).dec()
                metrics.observe_update(CHANNEL, kind_of(update), time.perf_counter() - started)

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass
