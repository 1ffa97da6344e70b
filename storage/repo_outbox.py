"""The outbox: messages owed to people (reminders, notices, broadcasts), one row per person, kind, cycle.

A row's life: ``pending`` (due at ``due_at``) -> ``claimed`` by one dispatcher until ``lease_until`` ->
``sent`` | ``blocked`` | ``failed`` | ``cancelled``, or back to ``pending`` for a later try.
- Enqueueing is insert-if-absent on (person, kind, cycle), so planning twice never owes twice.
- Claiming locks the due rows with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several processes take
  disjoint rows; SQLite (one process) runs the same statements without row locks, and the claim's UPDATE
  repeats the "still claimable" condition, so even there a row cannot be claimed twice.
- A claim whose lease ran out (its process died) is claimable again; each claim carries its own token and
  every mark is conditional on it, so a late process cannot overwrite a row someone else now holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, String, and_, cast, exists, func, literal, or_, true, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations.identity import Channel
from storage import tally_counters as tc
from storage.models import (
    Assessment,
    AssessmentStatus,
    Broadcast,
    Outbox,
    OutboxStatus,
    Person,
    Role,
    Unit,
    utcnow,
)
from storage.repo_roles import subtree_ids

CITIZEN_REMINDER_KINDS = ("reminder",)
ERROR_LIMIT = 500  # Outbox.last_error length
_INSERT_CHUNK = 500  # rows per INSERT: well under SQLite's bound-parameter limit


@dataclass(frozen=True)
class Owed:
    """A row to enqueue."""

    person_id: int
    kind: str
    cycle: str
    due_at: datetime
    payload: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- enqueue and cancel


def _insert(session: AsyncSession) -> Any:
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    return postgresql.insert(Outbox) if dialect == "postgresql" else sqlite.insert(Outbox)


async def enqueue_many(*, session: AsyncSession, rows: Iterable[Owed]) -> int:
    """Inserts the rows not already owed (same person, kind, cycle); returns how many were new. Each row
    carries its person's channel, so the dispatcher can pace every messenger on its own."""
    owed = list(rows)
    inserted = 0
    for start in range(0, len(owed), _INSERT_CHUNK):
        chunk = owed[start : start + _INSERT_CHUNK]
        channels = dict(
            (
                await session.exec(
                    select(Person.id, Person.channel).where(col(Person.id).in_([r.person_id for r in chunk]))
                )
            ).all()
        )
        values = [
            {
                "person_id": r.person_id,
                "channel": channels.get(r.person_id, Channel.TELEGRAM.value),  # unknown: the insert's key check refuses
                "kind": r.kind,
                "cycle": r.cycle,
                "due_at": r.due_at,
                "status": OutboxStatus.PENDING,
                "attempts": 0,
                "payload": r.payload,
                "created_at": utcnow(),
            }
            for r in chunk
        ]
        stmt = _insert(session).values(values).on_conflict_do_nothing(index_elements=["person_id", "kind", "cycle"])
        result = await session.exec(stmt)
        inserted += max(result.rowcount or 0, 0)
    return inserted


async def enqueue(
    *,
    session: AsyncSession,
    person_id: int,
    kind: str,
    cycle: str,
    due_at: datetime,
    payload: dict[str, Any] | None = None,
) -> bool:
    """Owes one message unless it is already owed; True when the row is new."""
    return await enqueue_many(session=session, rows=[Owed(person_id, kind, cycle, due_at, payload or {})]) == 1


async def cancel_pending(*, session: AsyncSession, person_id: int, kinds: Iterable[str]) -> int:
    """Cancels the person's reminders not yet sent; returns how many."""
    result = await session.exec(
        update(Outbox)
        .where(
            col(Outbox.person_id) == person_id,
            col(Outbox.kind).in_(list(kinds)),
            col(Outbox.status) == OutboxStatus.PENDING,
        )
        .values(status=OutboxStatus.CANCELLED)
    )
    return result.rowcount or 0


async def cancel_other_cycles(*, session: AsyncSession, kinds: Iterable[str], year: int) -> int:
    """Cancels pending rows of ``kinds`` whose cycle is not of ``year`` (cycles read "2026:d7")."""
    result = await session.exec(
        update(Outbox)
        .where(
            col(Outbox.kind).in_(list(kinds)),
            col(Outbox.status) == OutboxStatus.PENDING,
            ~col(Outbox.cycle).startswith(f"{year}:"),
        )
        .values(status=OutboxStatus.CANCELLED, last_error="cycle closed")
    )
    return result.rowcount or 0


async def get_row(*, session: AsyncSession, row_id: int) -> Outbox | None:
    return await session.get(Outbox, row_id)


# --------------------------------------------------------------------------- claim and mark


def _claimable(now: datetime) -> ColumnElement[bool]:
    return or_(
        and_(col(Outbox.status) == OutboxStatus.PENDING, col(Outbox.due_at) <= now),
        and_(col(Outbox.status) == OutboxStatus.CLAIMED, col(Outbox.lease_until) < now),
    )


async def claim_due(
    *,
    session: AsyncSession,
    token: str,
    now: datetime,
    lease_until: datetime,
    limit: int,
    channel: str | None = None,
) -> list[Outbox]:
    """Claims up to ``limit`` due rows (oldest first; of one messenger's people when ``channel`` is given) for
    ``token`` until ``lease_until``; keep the transaction short: commit right after, and send outside it."""
    mine = col(Outbox.channel) == channel if channel is not None else true()
    ids = list(
        (
            await session.exec(
                select(Outbox.id)
                .where(_claimable(now), mine)
                .order_by(col(Outbox.due_at), col(Outbox.id))
                .limit(limit)
                .with_for_update(skip_locked=True)  # rendered as nothing on SQLite
            )
        ).all()
    )
    if not ids:
        return []
    await session.exec(
        update(Outbox)
        .where(col(Outbox.id).in_(ids), _claimable(now))
        .values(
            status=OutboxStatus.CLAIMED,
            claimed_by=token,
            lease_until=lease_until,
            attempts=col(Outbox.attempts) + 1,
        )
        .execution_options(synchronize_session=False)
    )
    rows = await session.exec(
        select(Outbox)
        .where(col(Outbox.id).in_(ids), col(Outbox.claimed_by) == token)
        .order_by(col(Outbox.due_at), col(Outbox.id))
        .execution_options(populate_existing=True)
    )
    return list(rows.all())


async def _finish(session: AsyncSession, row_id: int, token: str, **values: Any) -> bool:
    """Updates a row this claim still holds; False when it no longer does (lease lost)."""
    if values.get("last_error"):
        values["last_error"] = str(values["last_error"])[:ERROR_LIMIT]
    result = await session.exec(
        update(Outbox)
        .where(
            col(Outbox.id) == row_id,
            col(Outbox.claimed_by) == token,
            col(Outbox.status) == OutboxStatus.CLAIMED,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return (result.rowcount or 0) == 1


async def mark_sent(*, session: AsyncSession, row_id: int, token: str, now: datetime) -> bool:
    return await _finish(
        session, row_id, token, status=OutboxStatus.SENT, sent_at=now, lease_until=None, last_error=None
    )


async def reschedule(
    *, session: AsyncSession, row_id: int, token: str, due_at: datetime, error: str | None, refund: bool = False
) -> bool:
    """Back to pending, due at ``due_at``; ``refund`` gives back the attempt the claim counted (a
    rate-limit answer or a deferral is no failure of the message)."""
    values: dict[str, Any] = {
        "status": OutboxStatus.PENDING,
        "due_at": due_at,
        "claimed_by": None,
        "lease_until": None,
        "last_error": error,
    }
    if refund:
        values["attempts"] = col(Outbox.attempts) - 1
    return await _finish(session, row_id, token, **values)


async def mark_failed(*, session: AsyncSession, row_id: int, token: str, error: str) -> bool:
    return await _finish(session, row_id, token, status=OutboxStatus.FAILED, lease_until=None, last_error=error)


async def mark_cancelled(*, session: AsyncSession, row_id: int, token: str, reason: str) -> bool:
    return await _finish(session, row_id, token, status=OutboxStatus.CANCELLED, lease_until=None, last_error=reason)


async def mark_blocked(
    *, session: AsyncSession, row_id: int, token: str, person_id: int, now: datetime, reason: str
) -> bool:
    """The person cannot be reached (they blocked the bot): this row and every other one still pending
    for them are closed, and the person is marked so nothing more is planned for them."""
    held = await _finish(session, row_id, token, status=OutboxStatus.BLOCKED, lease_until=None, last_error=reason)
    await session.exec(
        update(Outbox)
        .where(col(Outbox.person_id) == person_id, col(Outbox.status) == OutboxStatus.PENDING)
        .values(status=OutboxStatus.BLOCKED, last_error=reason)
        .execution_options(synchronize_session=False)
    )
    await session.exec(
        update(Person)
        .where(col(Person.id) == person_id, col(Person.blocked_at).is_(None))
        .values(blocked_at=now)
        .execution_options(synchronize_session=False)
    )
    return held


async def counts(*, session: AsyncSession, kind: str, cycle: str) -> dict[str, int]:
    """Rows of one (kind, cycle) by status, e.g. a broadcast's delivery so far."""
    stmt = (
        select(Outbox.status, func.count())
        .where(col(Outbox.kind) == kind, col(Outbox.cycle) == cycle)
        .group_by(col(Outbox.status))
    )
    return {status: n for status, n in (await session.exec(stmt)).all()}


# --------------------------------------------------------------------------- whom to plan for


async def citizens_unplanned(
    *, session: AsyncSession, year: int, kind: str, cycle: str, ready_step: str
) -> list[tuple[int, str, bool, bool, str | None]]:
    """Registered people with no row yet for (kind, cycle): (id, step, reminders, blocked, this year's
    assessment status or None). The planner decides who of them is owed a reminder."""
    stmt = (
        select(Person.id, Person.step, Person.reminders, Person.blocked_at, Assessment.status)
        .outerjoin(Assessment, and_(col(Assessment.person_id) == Person.id, col(Assessment.year) == year))
        .where(
            col(Person.step) == ready_step,
            col(Person.unit_id).is_not(None),
            ~exists().where(col(Outbox.person_id) == Person.id, col(Outbox.kind) == kind, col(Outbox.cycle) == cycle),
        )
        .order_by(col(Person.id))
    )
    return [
        (pid, step, reminders, blocked is not None, status)
        for pid, step, reminders, blocked, status in (await session.exec(stmt)).all()
    ]


async def people_with_roles(*, session: AsyncSession, roles: Iterable[str]) -> list[Person]:
    """Everyone holding one of ``roles`` somewhere."""
    stmt = (
        select(Person)
        .where(exists().where(col(Role.person_id) == Person.id, col(Role.role).in_(list(roles))))
        .order_by(col(Person.id))
    )
    return list((await session.exec(stmt)).all())


async def has_row(*, session: AsyncSession, person_id: int, kind: str, cycle: str) -> bool:
    stmt = select(Outbox.id).where(
        col(Outbox.person_id) == person_id, col(Outbox.kind) == kind, col(Outbox.cycle) == cycle
    )
    return (await session.exec(stmt)).first() is not None


async def superseded(*, session: AsyncSession, row: Outbox) -> bool:
    """A later row of the same person and kind exists: e.g. a second return overtakes the first one's notice."""
    stmt = select(Outbox.id).where(
        col(Outbox.person_id) == row.person_id, col(Outbox.kind) == row.kind, col(Outbox.id) > row.id
    )
    return (await session.exec(stmt.limit(1))).first() is not None


async def count_awaiting_review(*, session: AsyncSession, roots: Sequence[Unit] | None) -> int:
    """Submitted assessments waiting for the team in the subtrees of ``roots`` (None: everywhere)."""
    stmt = select(func.count()).select_from(Assessment).where(col(Assessment.status) == AssessmentStatus.SUBMITTED)
    if roots is not None:
        if not roots:
            return 0
        stmt = stmt.where(or_(*(col(Assessment.unit_id).in_(subtree_ids(u)) for u in roots)))
    return int((await session.exec(stmt)).one())


# --------------------------------------------------------------------------- year rollover


async def expire_unfinished(*, session: AsyncSession, before_year: int) -> int:
    """Closes the drafts (and returned assessments) of past cycles as expired; they are kept, not deleted."""
    unfinished = (
        col(Assessment.year) < before_year,
        col(Assessment.status).in_([AssessmentStatus.DRAFT, AssessmentStatus.RETURNED]),
    )
    counted = await tc.expiring(session, unfinished)
    result = await session.exec(
        update(Assessment)
        .where(*unfinished)
        .values(status=AssessmentStatus.EXPIRED, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    await tc.add(session, counted)
    return result.rowcount or 0


# --------------------------------------------------------------------------- broadcasts


class BroadcastStatus(StrEnum):
    AWAITING_TEXT = "awaiting_text"  # the officer chose a unit and is typing the text
    DRAFT = "draft"  # text stored, waiting for the officer's confirmation
    QUEUED = "queued"  # recipients' rows are in the outbox
    DONE = "done"  # every row has an outcome; the officer's summary is owed
    CANCELLED = "cancelled"


def _recipients(unit: Unit) -> Any:
    return select(Person.id).where(col(Person.unit_id).in_(subtree_ids(unit)), col(Person.blocked_at).is_(None))


async def count_recipients(*, session: AsyncSession, unit: Unit) -> int:
    """People in ``unit``'s subtree who have not blocked the bot."""
    return int((await session.exec(select(func.count()).select_from(_recipients(unit).subquery()))).one())


async def recipient_ids(*, session: AsyncSession, unit: Unit) -> list[int]:
    return list((await session.exec(_recipients(unit).order_by(col(Person.id)))).all())


async def cancel_open_broadcasts(*, session: AsyncSession, officer_id: int) -> int:
    """Drops the officer's broadcasts still being written or waiting for confirmation."""
    result = await session.exec(
        update(Broadcast)
        .where(
            col(Broadcast.officer_id) == officer_id,
            col(Broadcast.status).in_([BroadcastStatus.AWAITING_TEXT, BroadcastStatus.DRAFT]),
        )
        .values(status=BroadcastStatus.CANCELLED)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


async def start_broadcast(*, session: AsyncSession, officer_id: int, unit_id: int) -> Broadcast:
    """A new broadcast waiting for its text; any earlier unfinished one of the officer is dropped."""
    await cancel_open_broadcasts(session=session, officer_id=officer_id)
    found = Broadcast(officer_id=officer_id, unit_id=unit_id, text="", status=BroadcastStatus.AWAITING_TEXT)
    session.add(found)
    await session.flush()
    return found


async def get_broadcast(*, session: AsyncSession, broadcast_id: int, lock: bool = False) -> Broadcast | None:
    stmt = select(Broadcast).where(col(Broadcast.id) == broadcast_id)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.exec(stmt)).first()


async def finished_broadcasts(*, session: AsyncSession, kind: str) -> list[Broadcast]:
    """Queued broadcasts none of whose rows is still pending or claimed (locked: one process closes each)."""
    open_rows = exists().where(
        col(Outbox.kind) == kind,
        col(Outbox.cycle) == literal("broadcast:", String) + cast(Broadcast.id, String),
        col(Outbox.status).in_([OutboxStatus.PENDING, OutboxStatus.CLAIMED]),
    )
    stmt = (
        select(Broadcast)
        .where(col(Broadcast.status) == BroadcastStatus.QUEUED, ~open_rows)
        .order_by(col(Broadcast.id))
        .with_for_update(skip_locked=True)
    )
    return list((await session.exec(stmt)).all())


# --------------------------------------------------------------------------- for operators


async def summary(*, session: AsyncSession) -> list[tuple[str, str, int, datetime | None]]:
    """(kind, status, rows, earliest due time) for everything in the outbox."""
    stmt = (
        select(Outbox.kind, Outbox.status, func.count(), func.min(Outbox.due_at))
        .group_by(col(Outbox.kind), col(Outbox.status))
        .order_by(col(Outbox.kind), col(Outbox.status))
    )
    out = []
    for kind, status, n, due in (await session.exec(stmt)).all():
        if isinstance(due, datetime) and due.tzinfo is None:  # SQLite hands min() back without its zone
            due = due.replace(tzinfo=UTC)
        out.append((kind, status, n, due))
    return out
