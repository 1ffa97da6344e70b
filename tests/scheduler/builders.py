"""Test data for the scheduler tests: units, people and outbox rows, inserted in bulk."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import insert
from sqlmodel import col, select

from scheduler.dispatch import Outcome, Sent
from storage import repo_outbox as ro
from storage import repo_people as rp
from storage.db import Sessions, unit_of_work
from storage.models import Outbox, Person


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


async def make_people(sessions: Sessions, count: int, *, first_user_id: int = 10_000, code: str = "THON1") -> list[int]:
    """``count`` registered people in one unit; returns their ids."""
    async with unit_of_work(sessions) as s:
        unit = await rp.find_unit(session=s, code=code) or await rp.add_unit(session=s, code=code, name="Thôn 1")
        rows = [
            {
                "channel": "telegram",
                "external_id": str(first_user_id + i),
                "chat_id": str(first_user_id + i),
                "locale": "vi",
                "step": "ready",
                "rev": 1,
                "reminders": True,
                "unit_id": unit.id,
                "full_name": f"Người {i}",
            }
            for i in range(count)
        ]
        await s.exec(insert(Person).values(rows))
        made = [str(first_user_id + i) for i in range(count)]
        ids = (await s.exec(select(Person.id).where(col(Person.external_id).in_(made)).order_by(Person.id))).all()
    return list(ids)[:count]


async def owe(
    sessions: Sessions, person_ids: list[int], due: datetime, kind: str = "reminder", cycle: str = "2026:d7"
) -> None:
    async with unit_of_work(sessions) as s:
        await ro.enqueue_many(session=s, rows=[ro.Owed(pid, kind, cycle, due, {"year": 2026}) for pid in person_ids])


async def rows(sessions: Sessions) -> list[Outbox]:
    async with sessions() as s:
        return list((await s.exec(select(Outbox).order_by(Outbox.id))).all())


class RecordingSend:
    """A fake ``send``: records each delivered row id; ``hang_after`` makes later sends wait forever
    (a process stuck on the network), ``delay`` adds a little random latency to interleave dispatchers."""

    def __init__(self, *, hang_after: int | None = None, delay: float = 0.0, outcome: Outcome | None = None) -> None:
        self.delivered: list[int] = []
        self.hang_after = hang_after
        self.delay = delay
        self.outcome = outcome or Sent()
        self.started = 0
        self.changed = asyncio.Event()  # set on every start and delivery, for tests waiting on progress

    async def __call__(self, row: Outbox) -> Outcome:
        self.started += 1
        self.changed.set()
        if self.hang_after is not None and self.started > self.hang_after:
            await asyncio.Event().wait()
        if self.delay:
            await asyncio.sleep(random.uniform(0, self.delay))
        else:
            await asyncio.sleep(0)
        assert row.id is not None
        self.delivered.append(row.id)
        self.changed.set()
        return self.outcome

    def counts(self) -> Counter[int]:
        return Counter(self.delivered)
