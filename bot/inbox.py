"""Telegram's side of the inbox (storage.repo_inbox): every update is recorded before it is handled, marked
done by the transaction that handles it, and what a killed process left unhandled is handled on the next start.

Recording happens where updates enter the Application: its update queue (``InboxQueue``). Polling, the Updater
puts each fetched update there before its next getUpdates confirms the batch to Telegram; the webhook route
(bot/web.py) puts it there before it answers 200. One hook for both, set through the builder's public
``update_queue`` (an ExtBot subclass recording in ``get_updates`` would cover polling only, and would have to
rebuild the bot the builder makes from the token, addresses, rate limiter and request objects).
An update already recorded (Telegram re-sends a batch a killed process had not confirmed, after the restart
has replayed it from the inbox) is not queued again.

Several workers share one inbox (WORKERS > 1): a pending update may then be in a live worker's hands, so a
worker replays only updates pending for longer than REPLAY_AFTER (at start, and every minute under a cluster
lock, which also picks up what a worker that never came back left). Should a replay still meet a live
worker's handling, the transaction that finds the update marked done by the other is rolled back
(storage.repo_inbox.AlreadyHandled): the effects are written once. One person's updates keep their arrival order
across workers too: each row names its sender, and an update waits (``in_order``) while an update of its sender
recorded before it is still pending at another worker, at most REPLAY_AFTER.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from telegram import Update
from telegram.error import NetworkError
from telegram.ext import Application

from bot.context import BotData, Context
from bot.lanes import after_earlier, sender_of
from storage import repo_inbox
from storage.cluster import once_per_cluster
from storage.db import Sessions, lost_connection, unit_of_work
from storage.inbox_writer import InboxWriter

log = logging.getLogger(__name__)

CHANNEL = "telegram"
KEEP_DONE = timedelta(days=2)  # Telegram keeps unconfirmed updates 24 hours: a re-sent one is still known
PRUNE_JOB = "inbox:prune"
REPLAY_JOB = "inbox:replay"
REPLAY_AFTER = repo_inbox.REPLAY_AFTER  # with several workers: pending this long, nobody alive is handling it


def replay_horizon(workers: int) -> datetime | None:
    """Replay what was received before this (None: everything pending, as one process owns the whole inbox)."""
    return _now() - REPLAY_AFTER if workers > 1 else None


def key_of(update: Update) -> str:
    return str(update.update_id)


class InboxUnavailable(NetworkError):
    """The inbox could not record an update. A Telegram error on purpose: the Updater's retry loop then backs
    off and fetches the same (unconfirmed) batch again, where any other error would end polling for good;
    the webhook route answers 503 and Telegram sends the update again."""


class InboxQueue(asyncio.Queue[object]):
    """The Application's update queue: an update is queued only once it is in the inbox, and only once."""

    def __init__(self, sessions: Sessions) -> None:
        super().__init__()
        self.sessions = sessions
        self.writer = InboxWriter(sessions, CHANNEL)
        self.recorded: set[str] = set()  # queued (or replayed) from the inbox, not handled yet

    async def put(self, item: object, raw: dict[str, Any] | None = None) -> None:
        """Queues ``item`` once it is in the inbox; ``raw``: the update as Telegram sent it (the webhook has it),
        recorded as it came instead of rebuilt from the decoded object (``to_dict``, ~3% of an update's CPU)."""
        if isinstance(item, Update):
            try:
                payload = raw if raw is not None else item.to_dict()
                new = await self.writer.record(key_of(item), payload, sender_of(item))
            except Exception as exc:  # its text may quote the payload: personal data stays out of the logs
                raise InboxUnavailable(
                    f"the inbox could not record update {item.update_id}: {type(exc).__name__}"
                ) from None
            if not new:
                log.info("update %s is already in the inbox: not handled again", item.update_id)
                return
            self.recorded.add(key_of(item))
        await super().put(item)


def in_order(sessions: Sessions) -> Callable[[object], Awaitable[None]]:
    """For PersonOrderedProcessor with several workers: an update from the queue (recorded with its sender)
    waits while an update of the same sender recorded before it is pending (another worker handles it)."""

    async def wait(update: object) -> None:
        sender = sender_of(update)
        if isinstance(update, Update) and sender is not None:
            await after_earlier(sessions, CHANNEL, sender, key_of(update))

    return wait


class InboxApplication(Application[Any, Context, dict, dict, BotData, Any]):
    """Handles each update with its inbox key in ``repo_inbox.current``, so the handler's transaction marks
    it done as it commits; an update whose handlers changed nothing (or failed) is marked after."""

    async def process_update(self, update: object) -> None:
        if not isinstance(update, Update):
            await super().process_update(update)
            return
        handling = repo_inbox.Handling(CHANNEL, key_of(update), recorded=self._recorded(key_of(update)))
        token = repo_inbox.current.set(handling)
        try:
            await super().process_update(update)
        finally:
            repo_inbox.current.reset(token)
        if handling.done:
            return
        try:
            async with unit_of_work(self.bot_data.sessions) as session:
                await repo_inbox.mark_done(session=session, channel=CHANNEL, key=handling.key, now=_now())
        except Exception as exc:  # the database is away: the update is handled again on the next start
            log.warning("could not mark update %s done: %s", update.update_id, type(exc).__name__)

    async def process_error(
        self, update: object | None, error: Exception, job: Any = None, coroutine: Any = None
    ) -> bool:
        """An update whose database connection broke under it (a restarted server) wrote nothing and sent
        nothing yet: it is handled once more on the renewed pool instead of the person being told to retry."""
        handling = repo_inbox.current.get()
        if isinstance(update, Update) and handling is not None and not handling.retried and lost_connection(error):
            handling.retried = True
            log.warning("update %s lost its database connection: handled once more", update.update_id)
            await super().process_update(update)
            return True  # no further handler groups: the retry went through them
        return await super().process_error(update, error, job, coroutine)

    def _recorded(self, key: str) -> bool:
        queue = self.update_queue
        if not isinstance(queue, InboxQueue) or key not in queue.recorded:
            return False
        queue.recorded.discard(key)
        return True


async def replay(app: Application, *, received_before: datetime | None = None) -> int:
    """Handles, in arrival order, the updates recorded but not done (a killed process); returns how many.
    ``received_before``: only those (default: the horizon for WORKERS, see replay_horizon)."""
    sessions: Sessions = app.bot_data.sessions
    if received_before is None:
        received_before = replay_horizon(app.bot_data.settings.workers)
    async with unit_of_work(sessions) as session:
        pruned = await repo_inbox.prune_done(session=session, before=_now() - KEEP_DONE)
        rows = await repo_inbox.list_pending(session=session, channel=CHANNEL, received_before=received_before)
    if pruned:
        log.debug("pruned %d handled updates from the inbox", pruned)
    if rows:
        log.info("handling %d update(s) received before the last stop but not handled", len(rows))
    for row in rows:
        async with unit_of_work(sessions) as session:
            if not await repo_inbox.is_pending(session=session, channel=CHANNEL, key=row.key):
                continue  # handled meanwhile by the worker that received it (several workers, one inbox)
        try:
            update = Update.de_json(row.payload, app.bot)
        except Exception as exc:  # not an update this version can read: do not try it on every start
            log.error("inbox update %s cannot be read (%s): dropped", row.key, type(exc).__name__)
            async with unit_of_work(sessions) as session:
                await repo_inbox.mark_done(session=session, channel=CHANNEL, key=row.key, now=_now())
            continue
        if isinstance(app.update_queue, InboxQueue):
            app.update_queue.recorded.add(row.key)
        await app.process_update(update)
    return len(rows)


def schedule_pruning(app: Application) -> None:
    """Deletes handled updates older than KEEP_DONE, hourly, in this process's JobQueue; with several workers,
    also replays every minute what has been pending longer than REPLAY_AFTER (a worker killed for good)."""
    if app.job_queue is None:
        return
    app.job_queue.run_repeating(_prune_job, interval=3600, first=3600, name=PRUNE_JOB)
    if app.bot_data.settings.workers > 1:
        app.job_queue.run_repeating(_replay_job, interval=REPLAY_AFTER.total_seconds(), name=REPLAY_JOB)


async def _replay_job(context: Context) -> None:
    async with once_per_cluster(context.db, REPLAY_JOB) as mine:
        if mine:
            await replay(context.application, received_before=_now() - REPLAY_AFTER)


async def _prune_job(context: Context) -> None:
    async with once_per_cluster(context.db, PRUNE_JOB) as mine:  # one worker prunes; the others skip this hour
        if not mine:
            return
        async with unit_of_work(context.db) as session:
            await repo_inbox.prune_done(session=session, before=_now() - KEEP_DONE)


def _now() -> datetime:
    return datetime.now(UTC)
