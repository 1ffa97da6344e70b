"""Different people's updates at once, one person's strictly in arrival order: the rule both messengers
handle updates by (Telegram through ``PersonOrderedProcessor``, Zalo in bot.zalo.runtime).

``Lanes.turn(key)`` waits for the key's earlier updates (an ``asyncio.Lock`` per person, which wakes its
waiters first come, first served), then for one of ``limit`` slots, so at most ``limit`` updates are handled
at once and an update waiting behind its own person never holds a slot. A lane lives only while someone is
in it or waiting.

Several workers (WORKERS > 1) each keep their own lanes, and a round-robin proxy may hand one person's two
quick updates to two workers. There the update also waits, in its lane before taking a slot, for the person's
updates recorded before it in the shared inbox (``after_earlier``); a single worker runs no such look.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextlib import asynccontextmanager
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

from bot import metrics
from storage import repo_inbox
from storage.db import Sessions

log = logging.getLogger(__name__)

CHANNEL = "telegram"

BACKLOG = 1024  # updates taken in by Telegram's processor before its own semaphore makes the next wait
FIRST_LOOK, LONGEST_PAUSE = 0.02, 0.2  # seconds between looks at the inbox while an earlier update is pending


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
    async def turn(self, key: Hashable, first: Callable[[], Awaitable[object]] | None = None) -> AsyncIterator[None]:
        """The key's turn, with a slot; ``first`` is awaited once the key's earlier updates here are done."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.limit)
        lane, users = self._lanes.get(key, (asyncio.Lock(), 0))
        self._lanes[key] = (lane, users + 1)
        try:
            async with lane:
                # ``first`` (the wait for the person's earlier updates at other workers) runs holding the lane
                # but no slot: the person's later updates here would wait for this one anyway, and a slot held
                # while polling would keep someone else's update waiting for an update of another worker.
                if first is not None:
                    await first()
                async with self._slots:
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


def sender_of(update: object) -> str | None:
    """Whose update it is, as the inbox keeps it: the id of the lane it takes (``person_of``: the Telegram user,
    else the chat; None for an update of neither)."""
    kind, who = person_of(update)
    return str(who) if kind in ("user", "chat") else None


async def after_earlier(sessions: Sessions, channel: str, sender: str, key: str) -> None:
    """Returns once no update of ``sender`` recorded in the inbox before update ``key`` is pending (another
    worker has it), looking again after 20 ms, 40 ms, ... at most 200 ms apart; or after REPLAY_AFTER, when the
    earlier one's worker is taken for dead (a replay handles its update) and this one goes on."""
    give_up = time.monotonic() + repo_inbox.REPLAY_AFTER.total_seconds()
    pause = FIRST_LOOK
    while True:
        try:
            async with sessions() as session:
                if not await repo_inbox.earlier_pending(session=session, channel=channel, sender=sender, key=key):
                    return
        except Exception as exc:  # the database away: the handling meets it and deals with it
            log.warning("could not look for earlier %s updates of the sender: %s", channel, type(exc).__name__)
            return
        left = give_up - time.monotonic()
        if left <= 0:
            log.warning("%s update %s went on before an earlier update of its sender, pending too long", channel, key)
            return
        await asyncio.sleep(min(pause, left))
        pause = min(pause * 2, LONGEST_PAUSE)


class PersonOrderedProcessor(BaseUpdateProcessor):
    """python-telegram-bot's update processor with ``Lanes``: ``CONCURRENT_UPDATES`` at once, never two of
    one person's. PTB's own semaphore is set wide (BACKLOG): it is taken before the lane, so a narrow one
    would let a single person's queued updates hold every slot while others wait. ``in_order`` (several
    workers only): awaited in the update's lane before its slot, to let the person's earlier updates at other
    workers go first (bot.inbox.in_order)."""

    def __init__(self, limit: int, in_order: Callable[[object], Awaitable[None]] | None = None) -> None:
        super().__init__(max_concurrent_updates=max(BACKLOG, limit))
        self.lanes = Lanes(limit)
        self.in_order = in_order

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        in_order = self.in_order
        first = (lambda: in_order(update)) if in_order is not None else None
        async with self.lanes.turn(person_of(update), first):
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
