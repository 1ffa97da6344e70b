"""The outbox on SQLite and PostgreSQL: idempotent enqueue, leased claims, conditional marks, the planning
run, the year rollover, and cancellation on submission inside the submitting transaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from conversations import flow
from conversations.criteria import default_registry
from scheduler import jobs
from scheduler.planning import Policy
from storage import journey as jr
from storage import repo_assessments as ra
from storage import repo_outbox as ro
from storage import repo_people as rp
from storage import repo_roles as rr
from storage.db import Sessions, unit_of_work
from storage.models import Assessment, AssessmentStatus, OutboxStatus, Person, RoleName
from tests.scheduler.builders import make_people, owe, rows

VN = ZoneInfo("Asia/Ho_Chi_Minh")
NOW = datetime(2026, 12, 24, 2, 0, tzinfo=UTC)  # 09:00 in Hà Nội, the 7-days-before reminder
POLICY = Policy(zone=VN)


async def test_enqueue_is_insert_if_absent(sessions: Sessions) -> None:
    [pid] = await make_people(sessions, 1)
    async with unit_of_work(sessions) as s:
        assert await ro.enqueue(session=s, person_id=pid, kind="reminder", cycle="2026:d7", due_at=NOW)
        assert not await ro.enqueue(session=s, person_id=pid, kind="reminder", cycle="2026:d7", due_at=NOW)
        assert await ro.enqueue(session=s, person_id=pid, kind="reminder", cycle="2026:d3", due_at=NOW)
    async with unit_of_work(sessions) as s:  # and across transactions, in bulk
        owed = [ro.Owed(pid, "reminder", c, NOW) for c in ("2026:d7", "2026:d3", "2026:d1")]
        assert await ro.enqueue_many(session=s, rows=owed) == 1
    assert sorted(r.cycle for r in await rows(sessions)) == ["2026:d1", "2026:d3", "2026:d7"]


async def test_claim_takes_due_rows_once_until_the_lease_ends(sessions: Sessions) -> None:
    ids = await make_people(sessions, 3)
    await owe(sessions, ids[:2], NOW - timedelta(minutes=1))
    await owe(sessions, ids[2:], NOW + timedelta(hours=1))  # not due yet
    lease = NOW + timedelta(minutes=5)
    async with unit_of_work(sessions) as s:
        first = await ro.claim_due(session=s, token="a#1", now=NOW, lease_until=lease, limit=10)
    assert [r.person_id for r in first] == ids[:2]
    assert all(r.status == OutboxStatus.CLAIMED and r.attempts == 1 and r.claimed_by == "a#1" for r in first)
    async with unit_of_work(sessions) as s:
        assert (
            await ro.claim_due(session=s, token="b#1", now=NOW + timedelta(minutes=4), lease_until=lease, limit=10)
            == []
        )
    # The lease ran out (its process died): the rows are claimable again, and the old token is powerless.
    later = NOW + timedelta(minutes=6)
    async with unit_of_work(sessions) as s:
        again = await ro.claim_due(
            session=s, token="b#1", now=later, lease_until=later + timedelta(minutes=5), limit=10
        )
    assert [r.person_id for r in again] == ids[:2] and all(r.attempts == 2 for r in again)
    async with unit_of_work(sessions) as s:
        assert not await ro.mark_sent(session=s, row_id=first[0].id, token="a#1", now=later)
        assert await ro.mark_sent(session=s, row_id=again[0].id, token="b#1", now=later)
    statuses = [r.status for r in await rows(sessions)]
    assert statuses == [OutboxStatus.SENT, OutboxStatus.CLAIMED, OutboxStatus.PENDING]


async def test_blocked_closes_every_pending_row_of_the_person(sessions: Sessions) -> None:
    [pid] = await make_people(sessions, 1)
    await owe(sessions, [pid], NOW, cycle="2026:d7")
    await owe(sessions, [pid], NOW + timedelta(days=3), cycle="2026:d3")
    async with unit_of_work(sessions) as s:
        [row] = await ro.claim_due(session=s, token="t", now=NOW, lease_until=NOW + timedelta(minutes=5), limit=10)
        await ro.mark_blocked(session=s, row_id=row.id, token="t", person_id=pid, now=NOW, reason="forbidden")
    assert [r.status for r in await rows(sessions)] == [OutboxStatus.BLOCKED, OutboxStatus.BLOCKED]
    async with sessions() as s:
        assert (await s.get(Person, pid)).blocked_at == NOW


# --------------------------------------------------------------------------- the planning run


async def _assessment(sessions: Sessions, pid: int, year: int, status: str) -> None:
    async with unit_of_work(sessions) as s:
        person = await s.get(Person, pid)
        a = await ra.open_assessment(session=s, person=person, year=year, step="level")
        a.status = status


async def test_plan_owes_reminders_to_those_with_something_left_once(sessions: Sessions) -> None:
    ids = await make_people(sessions, 7)
    never, draft, returned, submitted, off, blocked, recognised = ids
    await _assessment(sessions, draft, 2026, AssessmentStatus.DRAFT)
    await _assessment(sessions, returned, 2026, AssessmentStatus.RETURNED)
    await _assessment(sessions, submitted, 2026, AssessmentStatus.SUBMITTED)
    await _assessment(sessions, recognised, 2026, AssessmentStatus.RECOGNISED)
    await _assessment(sessions, never, 2025, AssessmentStatus.SUBMITTED)  # last year's does not count
    async with unit_of_work(sessions) as s:
        (await s.get(Person, off)).reminders = False
        (await s.get(Person, blocked)).blocked_at = NOW
        mid_registration = Person(channel="telegram", external_id="1", chat_id="1", step="name")
        s.add(mid_registration)
    report = await jobs.plan(sessions=sessions, policy=POLICY, now=NOW)
    assert report.reminders == 3
    owed = await rows(sessions)
    assert sorted(r.person_id for r in owed) == sorted([never, draft, returned])
    assert {(r.kind, r.cycle, r.due_at) for r in owed} == {("reminder", "2026:d7", NOW)}
    again = await jobs.plan(sessions=sessions, policy=POLICY, now=NOW + timedelta(minutes=10))
    assert again.reminders == 0 and len(await rows(sessions)) == 3
    assert (await jobs.plan(sessions=sessions, policy=POLICY, now=NOW - timedelta(days=2))).reminders == 0


async def test_plan_notices_officers_of_pending_reviews_in_their_scope(sessions: Sessions) -> None:
    async with unit_of_work(sessions) as s:
        province = await rp.add_unit(session=s, code="TINH", name="Tỉnh")
        commune = await rp.add_unit(session=s, code="XA1", name="Xã 1", parent=province)
        other = await rp.add_unit(session=s, code="XA2", name="Xã 2", parent=province)
    await make_people(sessions, 2, code="XA1")
    ids = await make_people(sessions, 2, first_user_id=20_000, code="XA2")
    async with unit_of_work(sessions) as s:
        for pid in ids:
            person = await s.get(Person, pid)
            a = await ra.open_assessment(session=s, person=person, year=2026, step="submitted")
            a.status = AssessmentStatus.SUBMITTED
        reviewer_a = Person(channel="telegram", external_id="500", chat_id="500", step="ready")
        reviewer_b = Person(channel="telegram", external_id="501", chat_id="501", step="ready")
        s.add_all([reviewer_a, reviewer_b])
        await s.flush()
        await rr.grant(session=s, person=reviewer_a, role=RoleName.REVIEWER, unit=other)
        await rr.grant(session=s, person=reviewer_b, role=RoleName.REVIEWER, unit=commune)
        a_id = reviewer_a.id
    report = await jobs.plan(sessions=sessions, policy=POLICY, now=NOW)  # a Thursday
    assert report.notices == 1
    notices = [r for r in await rows(sessions) if r.kind == "review_pending"]
    assert [(r.person_id, r.cycle) for r in notices] == [(a_id, "review:2026-W52")]
    assert (await jobs.plan(sessions=sessions, policy=POLICY, now=NOW + timedelta(hours=1))).notices == 0


async def test_year_rollover_expires_last_years_drafts_and_withdraws_their_reminders(sessions: Sessions) -> None:
    draft, returned, submitted = await make_people(sessions, 3)
    await _assessment(sessions, draft, 2026, AssessmentStatus.DRAFT)
    await _assessment(sessions, returned, 2026, AssessmentStatus.RETURNED)
    await _assessment(sessions, submitted, 2026, AssessmentStatus.SUBMITTED)
    await owe(sessions, [draft], NOW, cycle="2026:d1")
    await owe(sessions, [submitted], NOW, kind="report_due", cycle="report:2026:d7")  # about 2026, due in January
    new_year = datetime(2027, 1, 1, 1, 0, tzinfo=VN)
    report = await jobs.plan(sessions=sessions, policy=POLICY, now=new_year)
    assert (report.expired, report.cancelled) == (2, 1)
    async with sessions() as s:
        found = {a.person_id: a.status for a in (await s.exec(select(Assessment))).all()}
    assert found == {draft: "expired", returned: "expired", submitted: "submitted"}  # kept, not deleted
    assert {r.kind: r.status for r in await rows(sessions)} == {"reminder": "cancelled", "report_due": "pending"}
    assert (await jobs.plan(sessions=sessions, policy=POLICY, now=new_year)).expired == 0  # once


# --------------------------------------------------------------------------- submission


async def _ready_to_submit(sessions: Sessions) -> tuple[int, jr.Journey]:
    registry = default_registry()
    [pid] = await make_people(sessions, 1)
    async with unit_of_work(sessions) as s:
        person = await s.get(Person, pid)
        journey = await jr.load(session=s, registry=registry, person=person, year=2026)
        journey = await jr.apply(
            session=s,
            registry=registry,
            journey=journey,
            year=2026,
            now=NOW,
            transition=flow.transition(journey.state, flow.ChoseGroup("community"), journey.facts),
        )
        assert journey.assessment is not None and journey.pack is not None
        for n in journey.pack.numbers:
            await ra.set_level(session=s, assessment=journey.assessment, indicator=n, points=10)
    await owe(sessions, [pid], NOW, cycle="2026:d7")
    await owe(sessions, [pid], NOW, kind="broadcast", cycle="broadcast:1")  # not a reminder: stays
    return pid, journey


def _submit_transition(journey: jr.Journey) -> flow.Transition:
    state = flow.State(flow.Step.CONFIRM_SUBMIT)
    return flow.transition(state, flow.ConfirmedSubmit(), journey.facts)


@pytest.mark.parametrize("commit", [True, False])
async def test_submitting_cancels_pending_reminders_in_the_same_transaction(sessions: Sessions, commit: bool) -> None:
    registry = default_registry()
    pid, _ = await _ready_to_submit(sessions)

    class Abort(Exception):
        pass

    try:
        async with unit_of_work(sessions) as s:
            person = await s.get(Person, pid)
            journey = await jr.load(session=s, registry=registry, person=person, year=2026)
            await jr.apply(
                session=s,
                registry=registry,
                journey=journey,
                transition=_submit_transition(journey),
                year=2026,
                now=NOW,
            )
            if not commit:
                raise Abort  # the submission fails after the cancellation was written
    except Abort:
        pass
    found = {r.kind: r.status for r in await rows(sessions)}
    async with sessions() as s:
        status = (await s.exec(select(Assessment.status))).one()
    if commit:
        assert (status, found) == ("submitted", {"reminder": "cancelled", "broadcast": "pending"})
    else:  # never one without the other
        assert (status, found) == ("draft", {"reminder": "pending", "broadcast": "pending"})
