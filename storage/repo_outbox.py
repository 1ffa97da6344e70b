"""The outbox: messages owed to people (reminders, notices, broadcasts), one row per person, kind, cycle."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Outbox, OutboxStatus

CITIZEN_REMINDER_KINDS = ("reminder",)


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
