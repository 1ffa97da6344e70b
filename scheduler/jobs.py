"""The scheduler's periodic work on the database: plan what is owed now, close finished broadcasts.

``plan`` is idempotent and cheap when nothing is due, so it can run every few minutes in every process:
the year rollover is a no-op once done, a reminder slot loads only the people not yet planned for it, and
the outbox's (person, kind, cycle) key turns a second insert into nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from scheduler import planning
from scheduler.planning import CitizenFacts, OfficerFacts, Planned, Policy
from storage import repo_outbox as ro
from storage import repo_roles as rr
from storage.db import Sessions, unit_of_work
from storage.journey import READY
from storage.models import Broadcast, RoleName, Unit

REVIEW_ROLES = frozenset({RoleName.REVIEWER, RoleName.OFFICER})  # told when assessments wait for review
REPORT_ROLES = frozenset({RoleName.OFFICER, RoleName.HEAD})  # told when the upward report is due


@dataclass
class PlanReport:
    expired: int = 0  # past cycles' unfinished assessments closed
    cancelled: int = 0  # past cycles' reminders withdrawn
    reminders: int = 0
    notices: int = 0


def _owed(p: Planned) -> ro.Owed:
    return ro.Owed(p.person_id, p.kind, p.cycle, p.due_at, p.payload)


async def plan(*, sessions: Sessions, policy: Policy, now: datetime) -> PlanReport:
    """Rolls the cycle over if the year changed, then owes every reminder and notice whose time has come."""
    year = policy.year(now)
    report = PlanReport()
    async with unit_of_work(sessions) as session:
        report.expired = await ro.expire_unfinished(session=session, before_year=year)
        report.cancelled = await ro.cancel_other_cycles(session=session, kinds=ro.CITIZEN_REMINDER_KINDS, year=year)
    for slot in planning.citizen_slots(now, policy):
        async with unit_of_work(sessions) as session:
            found = await ro.citizens_unplanned(
                session=session, year=year, kind=slot.kind, cycle=slot.cycle, ready_step=READY
            )
            facts = [CitizenFacts(pid, step == READY, on, blocked, status) for pid, step, on, blocked, status in found]
            owed = planning.citizen_reminders(facts, slot)
            report.reminders += await ro.enqueue_many(session=session, rows=[_owed(p) for p in owed])
    review = planning.review_slot(now, policy)
    if review is not None or planning.report_slots(now, policy):
        async with unit_of_work(sessions) as session:
            facts_o = await _officer_facts(session, review)
            owed = planning.officer_notices(facts_o, now, policy)
            report.notices = await ro.enqueue_many(session=session, rows=[_owed(p) for p in owed])
    return report


async def _officer_facts(session: AsyncSession, review: planning.Slot | None) -> list[OfficerFacts]:
    out = []
    for person in await ro.people_with_roles(session=session, roles=REVIEW_ROLES | REPORT_ROLES):
        assert person.id is not None
        held = {r.role for r in await rr.roles_of(session=session, person_id=person.id)}
        pending = 0
        counts = person.reminders and person.blocked_at is None and bool(held & REVIEW_ROLES)
        if (
            counts
            and review is not None
            and not await ro.has_row(session=session, person_id=person.id, kind=review.kind, cycle=review.cycle)
        ):
            roots = await rr.scope_roots(session=session, person=person, roles=REVIEW_ROLES)
            pending = await ro.count_awaiting_review(session=session, roots=roots)
        out.append(
            OfficerFacts(person.id, person.reminders, person.blocked_at is not None, pending, bool(held & REPORT_ROLES))
        )
    return out


async def queue_broadcast(*, session: AsyncSession, broadcast: Broadcast, unit: Unit, due_at: datetime) -> int:
    """Owes the broadcast to everyone reachable in ``unit``'s subtree; returns how many."""
    assert broadcast.id is not None
    cycle = planning.broadcast_cycle(broadcast.id)
    ids = await ro.recipient_ids(session=session, unit=unit)
    count = await ro.enqueue_many(
        session=session,
        rows=[ro.Owed(pid, planning.BROADCAST, cycle, due_at, {"broadcast_id": broadcast.id}) for pid in ids],
    )
    broadcast.status = ro.BroadcastStatus.QUEUED
    session.add(broadcast)
    return count


async def close_broadcasts(*, sessions: Sessions, now: datetime) -> int:
    """Marks done the broadcasts whose every row has an outcome, and owes each officer their summary."""
    async with unit_of_work(sessions) as session:
        done = await ro.finished_broadcasts(session=session, kind=planning.BROADCAST)
        for broadcast in done:
            assert broadcast.id is not None
            broadcast.status = ro.BroadcastStatus.DONE
            session.add(broadcast)
            if broadcast.officer_id is None:
                continue  # its officer erased themselves (/deleteme): nobody to tell
            await ro.enqueue(
                session=session,
                person_id=broadcast.officer_id,
                kind=planning.BROADCAST_SUMMARY,
                cycle=planning.broadcast_cycle(broadcast.id),
                due_at=now,
                payload={"broadcast_id": broadcast.id},
            )
    return len(done)
