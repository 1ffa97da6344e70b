"""The typed context every handler gets: database sessions, settings, criteria packs and the clock."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from telegram.ext import Application, CallbackContext, ExtBot

from bot.settings import Settings
from bot.shared_rate import SharedRate
from bot.shared_rate import from_settings as shared_rate_from
from conversations.criteria import Registry
from storage.db import Sessions


def _utcnow() -> datetime:
    return datetime.now(UTC)


RECENT_CHATS = 10_000  # chats whose last prompt this process remembers (a few MB)


class RecentChats:
    """What this process remembers of each chat it showed something to (``of(chat_id)``: a small dict), for the
    RECENT_CHATS most recent ones. python-telegram-bot's ``chat_data`` kept a dict for every chat ever seen:
    by December, one per citizen of a province, all in memory and walked by every full garbage collection.
    Forgetting is harmless: the memory only says which message to edit (bot.telegram.citizen)."""

    def __init__(self, size: int = RECENT_CHATS) -> None:
        self.size = size
        self._chats: OrderedDict[int | str, dict[str, Any]] = OrderedDict()

    def of(self, chat_id: int | str) -> dict[str, Any]:
        found = self._chats.get(chat_id)
        if found is None:
            found = self._chats[chat_id] = {}
            while len(self._chats) > self.size:
                self._chats.popitem(last=False)
        else:
            self._chats.move_to_end(chat_id)
        return found

    def __len__(self) -> int:
        return len(self._chats)


@dataclass
class BotData:
    settings: Settings
    sessions: Sessions
    registry: Registry
    clock: Callable[[], datetime] = field(default=_utcnow)
    # Per chat, the last prompt with buttons and the evidence receipt shown (see bot.telegram.citizen).
    shown: RecentChats = field(default_factory=RecentChats)
    # Album replies waiting for the album's last file (see bot.telegram.citizen).
    album_replies: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    # Each messenger's dispatcher in this process: called when a handler has just owed notices (a return,
    # a decision) so they go out now, on whichever messenger each citizen uses, not at the next interval.
    wakers: list[Callable[[], None]] = field(default_factory=list)
    # The Telegram bot's @username for t.me deep links (role passes, join links), once Telegram has told it;
    # None where no Telegram bot runs in this process (bot.app sets it).
    telegram_username: Callable[[], str | None] = field(default=lambda: None)

    # Send rates shared by every worker (REDIS_URL, bot.shared_rate): made on first use by ``shared_rate``.
    _shared_rate: SharedRate | None = field(default=None, init=False, repr=False)

    def shared_rate(self) -> SharedRate | None:
        """The cluster's send rates when REDIS_URL is set (one client for both messengers), else None."""
        if self._shared_rate is None:
            self._shared_rate = shared_rate_from(self.settings)
        return self._shared_rate

    def wake_dispatchers(self) -> None:
        for wake in self.wakers:
            wake()

    def now(self) -> datetime:
        return self.clock()

    def year(self) -> int:
        """The assessment cycle now: 01/01–31/12 in the configured time zone."""
        return self.now().astimezone(self.settings.zone).year


class Context(CallbackContext[ExtBot, dict, dict, BotData]):
    """``context.db``, ``context.settings``, ``context.registry`` instead of bare bot_data keys."""

    def __init__(self, application: Application, chat_id: int | None = None, user_id: int | None = None):
        super().__init__(application=application, chat_id=chat_id, user_id=user_id)

    @property
    def db(self) -> Sessions:
        return self.bot_data.sessions

    @property
    def settings(self) -> Settings:
        return self.bot_data.settings

    @property
    def registry(self) -> Registry:
        return self.bot_data.registry

    def now(self) -> datetime:
        return self.bot_data.now()

    def year(self) -> int:
        """The assessment cycle now: 01/01–31/12 in the configured time zone."""
        return self.bot_data.year()
