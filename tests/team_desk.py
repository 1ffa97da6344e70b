"""The assessment team and the head at their desk, for citizens' tests: an assessment changed by the team,
confirmed, returned or decided through the same repository functions the officers' handlers use, without
going through the officers' screens (which their own tests drive)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations.criteria import default_registry
from scheduler import planning
from storage import repo_outbox as ro
from storage import repo_people as rp
from storage import repo_review as rv
from storage.db import Sessions, unit_of_work
from storage.models import Assessment, Person

DECIDED = datetime(2026, 12, 20, 3, 0, tzinfo=UTC)
SENT = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)  # the test bots' clock (tests.bot.harness, tests.zalo.people)
DESK = "99990"  # the officer at the desk: a Telegram person of their own, named in the audit trail


async def _officer(s: AsyncSession) -> int:
    person = await rp.get_person(session=s, channel="telegram", external_id=DESK)
    if person is None:
        person = await rp.create_person(session=s, channel="telegram", external_id=DESK, chat_id=DESK, locale="vi")
    assert person.id is not None
    return person.id


async def assessment_of(sessions: Sessions, channel: str, external_id: str) -> Assessment:
    async with sessions() as s:
        person = (
            await s.exec(select(Person).where(Person.channel == channel, Person.external_id == external_id))
        ).one()
        return (await s.exec(select(Assessment).where(Assessment.person_id == person.id))).one()


async def review(
    sessions: Sessions,
    channel: str,
    external_id: str,
    changes: dict[int, tuple[int, str]],
    *,
    confirm: bool = True,
    now: datetime = DECIDED,
) -> None:
    """The team sets ``changes`` (indicator -> (points, reason)) on the person's submitted assessment, then
    confirms the review."""
    a = await assessment_of(sessions, channel, external_id)
    async with unit_of_work(sessions) as s:
        a = await s.get(Assessment, a.id, with_for_update=True)
        assert a is not None
        pack = rv.pack_of(default_registry(), a)
        assert pack is not None
        for n, (points, reason) in changes.items():
            officer = await _officer(s)
            await rv.adjust(
                session=s, pack=pack, assessment=a, indicator=n, points=points, reason=reason, actor_id=officer
            )
        if confirm:
            await rv.confirm(session=s, pack=pack, assessment=a, actor_id=await _officer(s), now=now)


async def give_back(sessions: Sessions, channel: str, external_id: str, indicators: list[int], reason: str) -> None:
    """The team returns the person's submitted assessment for ``indicators``."""
    a = await assessment_of(sessions, channel, external_id)
    async with unit_of_work(sessions) as s:
        a = await s.get(Assessment, a.id, with_for_update=True)
        assert a is not None
        officer = await _officer(s)
        await rv.return_to_citizen(session=s, assessment=a, indicators=indicators, reason=reason, actor_id=officer)


async def decide(
    sessions: Sessions, unit_path: str, decision_no: str = "12/QĐ-UBND", now: datetime = DECIDED, due: datetime = SENT
) -> int:
    """The head's decision (dated ``now``) on every reviewed assessment under ``unit_path``, each citizen owed its
    notice from ``due`` (the test bots' clock, so the dispatcher sends it at once)."""
    async with unit_of_work(sessions) as s:
        outcomes = await rv.recognise(
            session=s,
            registry=default_registry(),
            unit_path=unit_path,
            year=2026,
            decision_no=decision_no,
            decision_date=now,
            actor_id=await _officer(s),
        )
        cycle = planning.decision_cycle(2026)
        rows = [
            ro.Owed(o.person_id, planning.DECISION, cycle, due, {"assessment_id": o.assessment_id, "total": o.total})
            for o in outcomes
        ]
        return await ro.enqueue_many(session=s, rows=rows)
