"""Dispatch: claim the due outbox rows, send them through an injected ``send``, record each outcome.

Rules.
- Rows are claimed in short transactions (a batch at a time, with a lease) and sent outside them; each
  outcome is written in its own short transaction right after its send, shielded from cancellation, so a
  stopped dispatcher leaves only the rows it had not finished, and those are reclaimed once the lease ends.
- A batch is sent concurrently and the next one is claimed while it goes, so at most two batches are in
  flight: the rate limiter inside ``send`` (python-telegram-bot's AIORateLimiter) is the throttle and never
  waits for the database, and the batch size bounds what is queued in it, so nothing floods.
- One chat gets at most one message a second: a row for a person who has a message on its way, or had one
  less than a second ago, goes back to pending for when the chat is free (``ChatGate``: this process's
  ``LocalChatGate``, or one shared by every worker, bot.shared_rate, when REDIS_URL is set).
- ``RetryAfter`` puts the row back for when Telegram says (not counted as an attempt); ``Unreachable``
  closes it and marks the person blocked; ``Failed`` retries with exponential backoff until
  ``max_attempts``, or at once gives up when the error is permanent; ``Skipped`` cancels it (nothing to
  say any more: submitted meanwhile, reminders switched off).
- Nothing goes out during the quiet hours.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from scheduler.planning import Policy
from storage import repo_outbox as ro
from storage.db import Sessions, unit_of_work
from storage.models import Outbox

log = logging.getLogger(__name__)

PER_CHAT_GAP = timedelta(seconds=1)  # Telegram: about one message a second to one chat
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_CAP = timedelta(hours=1)


# --------------------------------------------------------------------------- what a send can come to


@dataclass(frozen=True)
class Sent:
    pass


@dataclass(frozen=True)
class RetryAfter:
    """Telegram's flood control: try again after ``seconds``."""

    seconds: float


@dataclass(frozen=True)
class Unreachable:
    """The person blocked the bot (or the chat is gone): stop sending to them."""

    reason: str = "forbidden"


@dataclass(frozen=True)
class Failed:
    """Anything else; ``permanent`` when trying again cannot help (e.g. a message Telegram rejects)."""

    error: str
    permanent: bool = False


@dataclass(frozen=True)
class Skipped:
    """Nothing to send any more (the person submitted meanwhile, switched reminders off, left)."""

    reason: str


Outcome = Sent | RetryAfter | Unreachable | Failed | Skipped
Send = Callable[[Outbox], Awaitable[Outcome]]


def backoff(attempts: int, base: timedelta = BACKOFF_BASE, cap: timedelta = BACKOFF_CAP) -> timedelta:
    """Wait before try ``attempts + 1``: 30 s, 1 min, 2 min … at most an hour."""
    return min(base * (2 ** max(attempts - 1, 0)), cap)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def worker_name() -> str:
    """host:pid, short enough to leave room for the claim counter in Outbox.claimed_by (64)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}"


class ChatGate(Protocol):
    """Who may be sent to now: at most one message on its way to a person, and PER_CHAT_GAP between two."""

    async def hold(self, people: Sequence[int], now: datetime) -> dict[int, timedelta]:
        """Holds each person's chat for a send; returns, for those not held, how long until they are free."""
        ...

    async def release(self, person_id: int, sent_at: datetime | None) -> None:
        """The send is over: free the chat PER_CHAT_GAP after ``sent_at`` (None: nothing was sent, free now)."""
        ...


class LocalChatGate:
    """The gate of one process (a single worker, or any worker while Redis is away)."""

    def __init__(self, keep: int = 120) -> None:
        self.keep = keep
        self._last_sent: dict[int, datetime] = {}  # person id -> when this process last sent to them
        self._in_flight: set[int] = set()  # people a message is on its way to

    async def hold(self, people: Sequence[int], now: datetime) -> dict[int, timedelta]:
        if len(self._last_sent) > self.keep:
            self._last_sent = {p: t for p, t in self._last_sent.items() if now - t < PER_CHAT_GAP}
        waits = {}
        for person in people:
            last = self._last_sent.get(person)
            if person in self._in_flight:
                waits[person] = PER_CHAT_GAP
            elif last is not None and now - last < PER_CHAT_GAP:
                waits[person] = last + PER_CHAT_GAP - now
            else:
                self._in_flight.add(person)
        return waits

    def holding(self, person_id: int) -> bool:
        return person_id in self._in_flight

    async def release(self, person_id: int, sent_at: datetime | None) -> None:
        self._in_flight.discard(person_id)
        if sent_at is not None:
            self._last_sent[person_id] = sent_at


@dataclass
class WaveStats:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    deferred: int = 0
    blocked: int = 0
    failed: int = 0
    skipped: int = 0
    lost: int = 0  # outcomes not recorded because the lease had passed to another claim


class Dispatcher:
    """Sends what is due. One per process; several processes may share one PostgreSQL database."""

    def __init__(
        self,
        sessions: Sessions,
        send: Send,
        *,
        policy: Policy | None = None,
        batch_size: int = 30,
        lease: timedelta = timedelta(seconds=300),
        max_attempts: int = 5,
        clock: Callable[[], datetime] = _utcnow,
        worker: str | None = None,
        channel: str | None = None,  # only this messenger's rows: each messenger sends at its own rate
        gate: ChatGate | None = None,  # one message a second per chat: this process's, or the cluster's
    ) -> None:
        self.sessions = sessions
        self.send = send
        self.policy = policy
        self.batch_size = batch_size
        self.lease = lease
        self.max_attempts = max_attempts
        self.clock = clock
        self.worker = (worker or worker_name())[:48]
        self.channel = channel
        self._claims = itertools.count(1)
        self.gate: ChatGate = gate or LocalChatGate(keep=4 * batch_size)
        self._running = asyncio.Lock()

    async def run(self) -> WaveStats:
        """Sends until nothing is due. The next batch is claimed while the previous one is still being sent
        (two batches in flight at most), so the rate limiter always has a request waiting and never idles
        between batches. A second call while one runs returns at once: a repeating job never stacks waves."""
        total = WaveStats()
        if self._running.locked():
            return total
        async with self._running:
            sending: list[asyncio.Task[None]] = []
            try:
                while self.policy is None or not self.policy.is_quiet(self.clock()):
                    batch = await self._claim(total)
                    if batch is None:
                        break
                    sending.append(asyncio.create_task(self._send(*batch, total)))
                    if len(sending) == 2:
                        await sending.pop(0)
                await asyncio.gather(*sending)
            finally:  # stopped (cancelled): stop the sends too; their rows wait for the lease to end
                for task in sending:
                    task.cancel()
                await asyncio.gather(*sending, return_exceptions=True)
        return total

    async def _claim(self, stats: WaveStats) -> tuple[list[Outbox], str] | None:
        """Claims one batch; returns the rows to send now (None when nothing is due)."""
        token = f"{self.worker}#{next(self._claims)}"
        now = self.clock()
        async with unit_of_work(self.sessions) as session:
            rows = await ro.claim_due(
                session=session,
                token=token,
                now=now,
                lease_until=now + self.lease,
                limit=self.batch_size,
                channel=self.channel,
            )
        if not rows:
            return None
        stats.claimed += len(rows)
        to_send, deferred = [], []
        people = list(dict.fromkeys(row.person_id for row in rows))
        try:
            waits = await self.gate.hold(people, now)
        except Exception:  # the gate failed: hold nobody, send nothing of this batch now
            log.exception("the per-chat gate failed")
            waits = dict.fromkeys(people, PER_CHAT_GAP)
        held: set[int] = set()
        for row in rows:
            if row.person_id in waits or row.person_id in held:  # a person twice in a batch: one now
                deferred.append((row, waits.get(row.person_id, PER_CHAT_GAP)))
            else:
                held.add(row.person_id)
                to_send.append(row)
        if deferred:
            await self._defer(deferred, token, now, stats)
        return to_send, token

    async def _send(self, rows: list[Outbox], token: str, stats: WaveStats) -> None:
        await asyncio.gather(*(self._deliver(row, token, stats) for row in rows))

    async def _defer(self, rows: list[tuple[Outbox, timedelta]], token: str, now: datetime, stats: WaveStats) -> None:
        async with unit_of_work(self.sessions) as session:
            for row, wait in rows:
                assert row.id is not None
                await ro.reschedule(
                    session=session,
                    row_id=row.id,
                    token=token,
                    due_at=now + max(wait, PER_CHAT_GAP / 10),
                    error=None,
                    refund=True,
                )
        stats.deferred += len(rows)

    async def _deliver(self, row: Outbox, token: str, stats: WaveStats) -> None:
        sent_at: datetime | None = None
        try:
            if row.lease_until is not None and self.clock() >= row.lease_until:
                return  # the lease ran out while waiting: another process may hold the row now
            try:
                outcome = await self.send(row)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug in rendering must not stop the wave
                log.exception("sending outbox row %s (%s) failed", row.id, row.kind)
                outcome = Failed(f"{type(exc).__name__}: {exc}")
            if isinstance(outcome, Sent):
                sent_at = self.clock()
        finally:
            with contextlib.suppress(Exception):  # a gate that cannot free a chat lets its hold expire
                await asyncio.shield(self.gate.release(row.person_id, sent_at))
        # Once sent, the outcome is recorded even if this task is cancelled meanwhile.
        await asyncio.shield(self._record(row, token, outcome, stats))

    async def _record(self, row: Outbox, token: str, outcome: Outcome, stats: WaveStats) -> None:
        now = self.clock()
        assert row.id is not None
        async with unit_of_work(self.sessions) as session:
            match outcome:
                case Sent():
                    held = await ro.mark_sent(session=session, row_id=row.id, token=token, now=now)
                    stats.sent += 1
                case RetryAfter(seconds=seconds):
                    due = now + timedelta(seconds=max(seconds, 1))
                    held = await ro.reschedule(
                        session=session,
                        row_id=row.id,
                        token=token,
                        due_at=self._allowed(due),
                        error=f"retry after {seconds:g}s",
                        refund=True,
                    )
                    stats.retried += 1
                case Unreachable(reason=reason):
                    held = await ro.mark_blocked(
                        session=session, row_id=row.id, token=token, person_id=row.person_id, now=now, reason=reason
                    )
                    stats.blocked += 1
                case Failed(error=error, permanent=permanent) if permanent or row.attempts >= self.max_attempts:
                    held = await ro.mark_failed(session=session, row_id=row.id, token=token, error=error)
                    stats.failed += 1
                case Failed(error=error):
                    held = await ro.reschedule(
                        session=session,
                        row_id=row.id,
                        token=token,
                        due_at=self._allowed(now + backoff(row.attempts)),
                        error=error,
                    )
                    stats.retried += 1
                case Skipped(reason=reason):
                    held = await ro.mark_cancelled(session=session, row_id=row.id, token=token, reason=reason)
                    stats.skipped += 1
                case _:
                    raise TypeError(f"not an outcome: {outcome!r}")
        if not held:
            stats.lost += 1
            log.warning("outbox row %s: lease lost before its outcome was recorded", row.id)

    def _allowed(self, moment: datetime) -> datetime:
        return self.policy.next_allowed(moment) if self.policy is not None else moment
