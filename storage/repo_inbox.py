"""The inbox: every incoming update is recorded before it is handled, so a killed process loses none.

- Recording is insert-if-absent on (channel, key): an update delivered again (Telegram re-sends what a
  killed process had not confirmed) is recognised and not handled twice.
- An update is done in the transaction of the handler that handles it: the adapter puts the update being
  handled in ``current`` and ``storage.db.unit_of_work`` marks it done in the first of its transactions that
  changes something (one that only looked, as a handler letting the update through to the next does, is no
  effect of the update); an update whose handlers changed nothing is marked right after they ran.
- Rows not done are handled again on start, in arrival order; done rows are pruned after a while.
- Each row names its sender (the messenger's id of the person), so a worker can see that one of this person's
  earlier updates is still pending elsewhere (``earlier_pending``) and let it go first.
- Once across workers: the transaction that marks an update done must be the one that finds it not done.
  Should another worker have handled it meanwhile (a worker replaying on start what a live worker is handling),
  ``AlreadyHandled`` rolls this handling back, so the update's effects are written once whatever the race.
Channels are strings ("telegram", later "zalo") and keys are the messenger's update ids as strings.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, event, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import ORMExecuteState, Session
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import UpdateInbox

# With several workers on one inbox: pending this long, no live worker is handling it, so another may replay it.
REPLAY_AFTER = timedelta(seconds=60)


class AlreadyHandled(Exception):
    """Another worker has handled this update meanwhile: this handling's transaction is rolled back."""


@dataclass
class Handling:
    """The update this context is handling; ``done`` once a transaction marking it has committed."""

    channel: str
    key: str
    done: bool = False
    # Recorded in the inbox before this handling (a webhook or poll taken in, a replay): a mark that then finds
    # it done means another worker handled it (AlreadyHandled). Off for an update handed straight to a handler.
    recorded: bool = False
    retried: bool = False  # handled once more after its database connection broke (storage.db.lost_connection)


current: ContextVar[Handling | None] = ContextVar("cdht_inbox_current", default=None)

_WROTE = "cdht_wrote"  # Session.info flag: this session sent an INSERT, UPDATE or DELETE


@event.listens_for(Session, "do_orm_execute")
def _note_statement(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        state.session.info[_WROTE] = True


@event.listens_for(Session, "before_flush")
def _note_flush(session: Session, _context: object, _instances: object) -> None:
    if _pending(session):
        session.info[_WROTE] = True


def _pending(session: Session) -> bool:
    return bool(session.new or session.deleted or any(session.is_modified(o) for o in session.dirty))


def changed_anything(session: AsyncSession) -> bool:
    """Whether the session's transaction wrote, or is about to write on commit, anything."""
    return bool(session.sync_session.info.get(_WROTE)) or _pending(session.sync_session)


_SETTLES = "cdht_settles"  # Session.info flag: this transaction ends the update's handling


def settle(session: AsyncSession) -> None:
    """Marks the session's transaction as the one that ends the update being handled: it marks the update done
    as it commits even if it wrote nothing (a look that answered), instead of a transaction of its own after."""
    session.sync_session.info[_SETTLES] = True


def settles(session: AsyncSession) -> bool:
    """Whether the session's transaction marks the update done: it changed something, or it ends the update."""
    return bool(session.sync_session.info.get(_SETTLES)) or changed_anything(session)


@functools.cache
def _record(dialect: str) -> Any:
    """Insert-if-absent of one update, returning its key when new. Built once per dialect and run with the
    rows as parameters (one row: one execution; several: SQLAlchemy's batched "insertmanyvalues"): building it
    for every update through the ORM's bulk path cost more than the insert itself (bench/updates.py)."""
    table = UpdateInbox.__table__  # type: ignore[attr-defined]
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert(table)
        .values(
            channel=bindparam("channel"),
            key=bindparam("key"),
            payload=bindparam("payload", type_=table.c.payload.type),
            received_at=bindparam("received_at", type_=table.c.received_at.type),
            sender=bindparam("sender"),
        )
        .on_conflict_do_nothing(index_elements=["channel", "key"])
        .returning(table.c.key)
    )


async def record_updates(
    *,
    session: AsyncSession,
    channel: str,
    updates: Sequence[tuple[str, dict[str, Any]]],
    now: datetime,
    senders: Mapping[str, str | None] | None = None,
) -> set[str]:
    """Records the (key, payload) pairs not recorded yet, each with its sender from ``senders`` (by key; none:
    NULL); returns the keys that are new."""
    if not updates:
        return set()
    dialect = session.get_bind().dialect.name  # as every other prebuilt statement asks it
    senders = senders or {}
    rows = [
        {"channel": channel, "key": key, "payload": payload, "received_at": now, "sender": senders.get(key)}
        for key, payload in updates
    ]
    result = await session.exec(_record(dialect), params=rows[0] if len(rows) == 1 else rows)  # type: ignore[call-overload]
    return set(result.scalars())


# Built once: every update runs it (building a statement costs about as much as running this one).
# On the table, not the model: the ORM's bulk-update path (synchronising a session that holds no inbox row) cost
# more than the statement.
_INBOX = UpdateInbox.__table__  # type: ignore[attr-defined]
_MARK_DONE = (
    update(_INBOX)
    .where(
        _INBOX.c.channel == bindparam("inbox_channel"),
        _INBOX.c.key == bindparam("inbox_key"),
        _INBOX.c.done_at.is_(None),
    )
    .values(done_at=bindparam("inbox_done_at", type_=_INBOX.c.done_at.type))
)


async def mark_done(*, session: AsyncSession, channel: str, key: str, now: datetime) -> bool:
    """Marks the update done; False when it was done already (or is not in the inbox)."""
    result = await session.exec(  # type: ignore[call-overload]
        _MARK_DONE, params={"inbox_channel": channel, "inbox_key": key, "inbox_done_at": now}
    )
    return (result.rowcount or 0) == 1


async def is_pending(*, session: AsyncSession, channel: str, key: str) -> bool:
    """Whether the update is recorded and not done yet."""
    found = await session.exec(
        select(UpdateInbox.id).where(
            col(UpdateInbox.channel) == channel, col(UpdateInbox.key) == key, col(UpdateInbox.done_at).is_(None)
        )
    )
    return found.first() is not None


# Built once, run (WORKERS > 1 only) before each update is handled: one statement, on the partial index
# ix_update_inbox_pending_sender. An update not in the inbox has no id to compare: nothing is earlier.
_THIS = _INBOX.alias("this")
_EARLIER_PENDING = (
    select(_INBOX.c.id)
    .where(
        _INBOX.c.channel == bindparam("inbox_channel"),
        _INBOX.c.sender == bindparam("inbox_sender"),
        _INBOX.c.done_at.is_(None),
        _INBOX.c.id
        < select(_THIS.c.id)
        .where(_THIS.c.channel == bindparam("inbox_channel"), _THIS.c.key == bindparam("inbox_key"))
        .scalar_subquery(),
    )
    .limit(1)
)


async def earlier_pending(*, session: AsyncSession, channel: str, sender: str, key: str) -> bool:
    """Whether an update of ``sender`` recorded before the update ``key`` is still pending (not done)."""
    found = await session.exec(  # type: ignore[call-overload]
        _EARLIER_PENDING, params={"inbox_channel": channel, "inbox_sender": sender, "inbox_key": key}
    )
    return found.first() is not None


async def list_pending(
    *, session: AsyncSession, channel: str, received_before: datetime | None = None
) -> list[UpdateInbox]:
    """The updates of ``channel`` not done (received before ``received_before``, if given), in arrival order."""
    stmt = (
        select(UpdateInbox)
        .where(col(UpdateInbox.channel) == channel, col(UpdateInbox.done_at).is_(None))
        .order_by(col(UpdateInbox.id))
    )
    if received_before is not None:
        stmt = stmt.where(col(UpdateInbox.received_at) < received_before)
    return list((await session.exec(stmt)).all())


async def prune_done(*, session: AsyncSession, before: datetime) -> int:
    """Deletes the rows done before ``before``; returns how many."""
    result = await session.exec(  # type: ignore[call-overload]
        delete(UpdateInbox).where(col(UpdateInbox.done_at) < before)
    )
    return max(result.rowcount or 0, 0)
