"""The team's review and the head's recognition: every change of an assessment's outcome, with its audit entry.

The team reads submitted assessments of a subtree, adjusts an indicator's points (always with a reason),
returns the assessment to the citizen for named indicators, or confirms it; the head then records the
decision, and each reviewed assessment becomes recognised or not by the scoring rule on the reviewed
points. An officer's typed step (a reason, a decision number) waits in ``officer_pending``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations.criteria import Pack, Registry
from conversations.flow import Step
from conversations.scoring import AnswerFacts, Score, score
from storage import repo_assessments as ra
from storage import tally_counters as tc
from storage.models import Answer, Assessment, AssessmentStatus, OfficerPending, Person, Unit, utcnow

PENDING_MAX_AGE = timedelta(hours=2)  # an older typed step is forgotten, so a stray text is not taken for it


@dataclass(frozen=True)
class Outcome:
    """One citizen's result at recognition, for notifying them after the commit."""

    assessment_id: int
    person_id: int
    recognised: bool
    total: int


def pack_of(registry: Registry, assessment: Assessment) -> Pack | None:
    if assessment.pack_id and assessment.pack_version:
        return registry.get(assessment.pack_id, assessment.pack_version)
    return None


def _in_subtree(unit_path: str) -> Any:
    return col(Assessment.unit_id).in_(select(Unit.id).where(col(Unit.path).startswith(unit_path)))


async def next_submitted(*, session: AsyncSession, unit_path: str, year: int, after_id: int = 0) -> Assessment | None:
    """The next submitted assessment of the subtree after ``after_id``, wrapping round to the first."""
    base = select(Assessment).where(
        _in_subtree(unit_path), Assessment.year == year, Assessment.status == AssessmentStatus.SUBMITTED
    )
    found = (await session.exec(base.where(col(Assessment.id) > after_id).order_by(Assessment.id))).first()
    if found is None and after_id:
        found = (await session.exec(base.order_by(Assessment.id))).first()
    return found


async def queue_position(
    *, session: AsyncSession, unit_path: str, year: int, assessment: Assessment
) -> tuple[int, int]:
    """Where ``assessment`` stands among the subtree's submitted ones, in the order the team reads them:
    (its place from 1, how many there are now)."""
    base = select(func.count()).where(
        _in_subtree(unit_path), Assessment.year == year, Assessment.status == AssessmentStatus.SUBMITTED
    )
    total = (await session.exec(base)).one()
    place = (await session.exec(base.where(col(Assessment.id) <= (assessment.id or 0)))).one()
    return place, total


async def count_by_status(*, session: AsyncSession, unit_path: str, year: int, status: str) -> int:
    stmt = select(func.count()).where(_in_subtree(unit_path), Assessment.year == year, Assessment.status == status)
    return (await session.exec(stmt)).one()


async def assessment_unit(*, session: AsyncSession, assessment: Assessment) -> Unit | None:
    return await session.get(Unit, assessment.unit_id) if assessment.unit_id else None


async def reviewed_score(*, session: AsyncSession, pack: Pack, assessment: Assessment) -> Score:
    """The score with the team's figures where they gave one, the computed points elsewhere."""
    facts = await ra.answer_facts(session=session, assessment_id=assessment.id or 0)
    return score(pack.numbers, facts)


async def computed_score(*, session: AsyncSession, pack: Pack, assessment: Assessment) -> Score:
    """The score from the citizen's own levels and evidence, ignoring the team's figures."""
    facts = await ra.answer_facts(session=session, assessment_id=assessment.id or 0)
    own = {n: AnswerFacts(chosen=f.chosen, evidence_count=f.evidence_count) for n, f in facts.items()}
    return score(pack.numbers, own)


async def adjust(
    *,
    session: AsyncSession,
    pack: Pack,
    assessment: Assessment,
    indicator: int,
    points: int,
    reason: str,
    actor_id: int,
) -> tuple[int, int]:
    """Sets the team's points for one indicator with the reason; returns (points before, points after)."""
    watch = await tc.Watch.start(session, assessment)
    answers = await ra.answers(session=session, assessment_id=assessment.id or 0)
    before = (await reviewed_score(session=session, pack=pack, assessment=assessment)).points.get(indicator, 0)
    answer = answers.get(indicator)
    if answer is None:
        answer = Answer(assessment_id=assessment.id or 0, indicator=indicator)
        session.add(answer)
    answer.reviewer_points = points
    answer.reviewer_reason = reason
    answer.updated_at = utcnow()
    ra.bump(assessment)
    await ra.record_audit(
        session=session,
        action="adjusted",
        actor_id=actor_id,
        assessment_id=assessment.id,
        indicator=indicator,
        before={"points": before, "chosen": answer.chosen},
        after={"points": points},
        reason=reason,
    )
    await watch.done()
    return before, points


async def return_to_citizen(
    *,
    session: AsyncSession,
    assessment: Assessment,
    indicators: Sequence[int],
    reason: str,
    actor_id: int,
) -> None:
    """Sends the assessment back for ``indicators``: only those may change, the citizen starts at the summary."""
    watch = await tc.Watch.start(session, assessment)
    chosen = sorted(set(indicators))
    before = {"status": assessment.status, "total": assessment.total}
    assessment.status = AssessmentStatus.RETURNED
    assessment.returned_indicators = chosen
    assessment.return_reason = reason
    # The citizen will change these; a figure the team gave for the old answer would no longer fit.
    answers = await ra.answers(session=session, assessment_id=assessment.id or 0)
    for n in chosen:
        if n in answers:
            answers[n].reviewer_points = None
            answers[n].reviewer_reason = None
    ra.move(assessment, Step.REVIEW)
    await ra.record_audit(
        session=session,
        action="returned",
        actor_id=actor_id,
        assessment_id=assessment.id,
        before=before,
        after={"status": assessment.status, "indicators": chosen},
        reason=reason,
    )
    await watch.done()


async def confirm(*, session: AsyncSession, pack: Pack, assessment: Assessment, actor_id: int, now: datetime) -> Score:
    """Closes the team's review: every indicator gets its reviewed points (the computed ones unless adjusted)."""
    watch = await tc.Watch.start(session, assessment)
    own = await computed_score(session=session, pack=pack, assessment=assessment)
    answers = await ra.answers(session=session, assessment_id=assessment.id or 0)
    for n in pack.numbers:
        answer = answers.get(n)
        if answer is None:
            answer = Answer(assessment_id=assessment.id or 0, indicator=n)
            session.add(answer)
        if answer.reviewer_points is None:
            answer.reviewer_points = own.points[n]
    await session.flush()
    result = await reviewed_score(session=session, pack=pack, assessment=assessment)
    before = {"status": assessment.status, "total": assessment.total}
    assessment.status = AssessmentStatus.REVIEWED
    assessment.reviewed_total = result.total
    assessment.reviewed_by = actor_id
    assessment.reviewed_at = now
    ra.bump(assessment)
    await ra.record_audit(
        session=session,
        action="reviewed",
        actor_id=actor_id,
        assessment_id=assessment.id,
        before=before,
        after={
            "status": assessment.status,
            "reviewed_total": result.total,
            "qualifies": result.recognised,
            "points": {str(n): p for n, p in result.points.items()},
        },
    )
    await watch.done()
    return result


async def reviewed_in_scope(
    *, session: AsyncSession, unit_path: str, year: int
) -> list[tuple[Assessment, Person, Unit]]:
    """The reviewed assessments of the subtree, by unit then name: what the head decides on."""
    stmt = (
        select(Assessment, Person, Unit)
        .join(Person, col(Person.id) == Assessment.person_id)
        .join(Unit, col(Unit.id) == Assessment.unit_id)
        .where(_in_subtree(unit_path), Assessment.year == year, Assessment.status == AssessmentStatus.REVIEWED)
        .order_by(Unit.path, Person.full_name, Assessment.id)
    )
    return [(a, p, u) for a, p, u in (await session.exec(stmt)).all()]


async def recognise(
    *,
    session: AsyncSession,
    registry: Registry,
    unit_path: str,
    year: int,
    decision_no: str,
    decision_date: datetime,
    actor_id: int,
) -> list[Outcome]:
    """Applies the head's decision to every reviewed assessment of the subtree: recognised when the reviewed
    points pass the rule, not recognised otherwise."""
    outcomes = []
    counted: tc.Counts = {}  # the decision's change to the tally counters, written once at the end
    for assessment, person, _unit in await reviewed_in_scope(session=session, unit_path=unit_path, year=year):
        pack = pack_of(registry, assessment)
        if pack is None:
            continue
        facts = await tc.answer_facts(session, assessment.id or 0)
        result = score(pack.numbers, facts)
        was = tc.figures(tc.Standing.of(assessment), facts, None)
        before = {"status": assessment.status, "reviewed_total": assessment.reviewed_total}
        assessment.status = AssessmentStatus.RECOGNISED if result.recognised else AssessmentStatus.NOT_RECOGNISED
        now_counted = tc.figures(tc.Standing.of(assessment), facts, tc.DigitalRule.of(pack))
        counted = tc.merge(counted, tc.difference(was, now_counted))
        assessment.recognised = result.recognised
        assessment.decision_no = decision_no
        assessment.decision_date = decision_date
        ra.bump(assessment)
        await ra.record_audit(
            session=session,
            action=str(assessment.status),
            actor_id=actor_id,
            assessment_id=assessment.id,
            before=before,
            after={
                "status": assessment.status,
                "decision_no": decision_no,
                "decision_date": decision_date.date().isoformat(),
                "reviewed_total": result.total,
            },
            reason=decision_no,
        )
        outcomes.append(Outcome(assessment.id or 0, person.id or 0, result.recognised, result.total))
    await session.flush()
    await tc.add(session, counted)
    return outcomes


# --------------------------------------------------------------------------- an officer's typed step


async def get_pending(*, session: AsyncSession, person_id: int, now: datetime) -> OfficerPending | None:
    """The typed step the officer owes, if any and still fresh (a stale one is dropped)."""
    found = await session.get(OfficerPending, person_id)
    if found is not None and found.created_at < now - PENDING_MAX_AGE:
        await session.delete(found)
        await session.flush()
        return None
    return found


async def set_pending(
    *,
    session: AsyncSession,
    person_id: int,
    kind: str,
    now: datetime,
    assessment_id: int | None = None,
    unit_id: int | None = None,
    year: int | None = None,
    data: dict[str, Any] | None = None,
) -> OfficerPending:
    """Replaces the officer's typed step: one at a time."""
    found = await session.get(OfficerPending, person_id)
    if found is None:
        found = OfficerPending(person_id=person_id, kind=kind)
        session.add(found)
    found.kind = kind
    found.assessment_id = assessment_id
    found.unit_id = unit_id
    found.year = year
    found.data = dict(data or {})
    found.created_at = now
    await session.flush()
    return found


async def clear_pending(*, session: AsyncSession, person_id: int) -> bool:
    result = await session.exec(delete(OfficerPending).where(col(OfficerPending.person_id) == person_id))
    return bool(result.rowcount)


async def remember_menu(
    *, session: AsyncSession, person_id: int, menu: list[Any], text: str = "", now: datetime
) -> None:
    """Keeps the choices just shown to an officer who types them back (Zalo), with the screen's text: on the
    step they owe, if any (the return picker's ticks stay), else as a plain menu; an empty ``menu`` drops a
    plain menu."""
    shown = {"menu": menu, "menu_text": text}
    found = await session.get(OfficerPending, person_id)
    if found is None:
        if menu:
            session.add(OfficerPending(person_id=person_id, kind="menu", data=shown, created_at=now))
            await session.flush()
        return
    if found.kind == "menu" and not menu:
        await session.delete(found)
    else:
        found.data = {**found.data, **shown}
        found.created_at = now
    await session.flush()
