"""The inbox: every incoming update is recorded before it is handled, so a killed process loses none.

- Recording is insert-if-absent on (channel, key): an update delivered again (Telegram re-sends what a
  killed process had not confirmed) is recognised and not handled twice.
- An update is done in the transaction of the handler that handles it: the adapter puts the update being
  handled in ``current`` and ``storage.db.unit_of_work`` marks it done as it commits; a handler that opens
  no transaction has its update marked right after it ran.
- Rows not done are handled again on start, in arrival order; done rows are pruned after a while.
Channels are strings ("telegram", later "zalo") and keys are the messenger's update ids as strings.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import UpdateInbox

_INSERT_CHUNK = 200  # rows per INSERT: payloads are large, keep statements small


@dataclass
class Handling:
    """The update this context is handling; ``done`` once a transaction marking it has committed."""

    channel: str
    key: str
    done: bool = False


current: ContextVar[Handling | None] = ContextVar("cdht_inbox_current", default=None)


def _insert(session: AsyncSession) -> Any:
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    return postgresql.insert(UpdateInbox) if dialect == "postgresql" else sqlite.insert(UpdateInbox)


async def record_updates(
    *, session: AsyncSession, channel: str, updates: Sequence[tuple[str, dict[str, Any]]], now: datetime
) -> set[str]:
    """Records the (key, payload) pairs not recorded yet; returns the keys that are new."""
    new: set[str] = set()
    for start in range(0, len(updates), _INSERT_CHUNK):
        rows = [
            {"channel": channel, "key": key, "payload": payload, "received_at": now}
            for key, payload in updates[start : start + _INSERT_CHUNK]
        ]
        stmt = (
            _insert(session)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["channel", "key"])
            .returning(col(UpdateInbox.key))
        )
        new.update((await session.exec(stmt)).scalars())  # type: ignore[call-overload]
    return new


async def mark_done(*, session: AsyncSession, channel: str, key: str, now: datetime) -> None:
    await session.exec(  # type: ignore[call-overload]
        update(UpdateInbox)
        .where(col(UpdateInbox.channel) == channel, col(UpdateInbox.key) == key, col(UpdateInbox.done_at).is_(None))
        .values(done_at=now)
    )


async def list_pending(*, session: AsyncSession, channel: str) -> list[UpdateInbox]:
    """The updates of ``channel`` not done, in arrival order."""
    stmt = (
        select(UpdateInbox)
        .where(col(UpdateInbox.channel) == channel, col(UpdateInbox.done_at).is_(None))
        .order_by(col(UpdateInbox.id))
    )
    return list((await session.exec(stmt)).all())


async def prune_done(*, session: AsyncSession, before: datetime) -> int:
    """Deletes the rows done before ``before``; returns how many."""
    result = await session.exec(  # type: ignore[call-overload]
        delete(UpdateInbox).where(col(UpdateInbox.done_at) < before)
    )
    return max(result.rowcount or 0, 0)
