"""Assessments, answers, evidence and the audit trail: reads and writes of one person's yearly record."""

from __future__ import annotations

import functools
from typing import Any

import sqlalchemy as sa
from sqlalchemy import func
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations.scoring import AnswerFacts
from storage import tally_counters as tc
from storage.models import Answer, Assessment, AuditEvent, Evidence, Person, utcnow


async def get_assessment(*, session: AsyncSession, person_id: int, year: int, lock: bool = False) -> Assessment | None:
    stmt = select(Assessment).where(Assessment.person_id == person_id, Assessment.year == year)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.exec(stmt)).first()


async def open_assessment(*, session: AsyncSession, person: Person, year: int, step: str) -> Assessment:
    assessment = new_assessment(session=session, person=person, year=year, step=step)
    await session.flush()
    return assessment


def new_assessment(*, session: AsyncSession, person: Person, year: int, step: str) -> Assessment:
    """A new assessment added to the session, inserted at the next flush (with whatever is set on it by then)."""
    assessment = Assessment(person_id=person.id, unit_id=person.unit_id, year=year, step=step)
    session.add(assessment)
    return assessment


def bump(assessment: Assessment) -> None:
    """Marks a change: every button shown before it (the citizen's and the team's) becomes stale."""
    assessment.rev += 1
    assessment.updated_at = utcnow()


def move(assessment: Assessment, step: str, indicator: int = 0, editing: bool = False) -> None:
    """Stores where the person is, as a change that makes older buttons stale."""
    assessment.step = step
    assessment.indicator = indicator
    assessment.editing = editing
    bump(assessment)


async def answers(*, session: AsyncSession, assessment_id: int) -> dict[int, Answer]:
    rows = (await session.exec(select(Answer).where(Answer.assessment_id == assessment_id))).all()
    return {a.indicator: a for a in rows}


async def evidence_counts(*, session: AsyncSession, assessment_id: int) -> dict[int, int]:
    stmt = (
        select(Evidence.indicator, func.count())
        .where(Evidence.assessment_id == assessment_id)
        .group_by(Evidence.indicator)
    )
    return {ind: n for ind, n in (await session.exec(stmt)).all()}


async def answer_facts(*, session: AsyncSession, assessment_id: int) -> dict[int, AnswerFacts]:
    """What scoring needs, per indicator."""
    counts = await evidence_counts(session=session, assessment_id=assessment_id)
    found = await answers(session=session, assessment_id=assessment_id)
    return {
        n: AnswerFacts(chosen=a.chosen, evidence_count=counts.get(n, 0), reviewed=a.reviewer_points)
        for n, a in found.items()
    }


@functools.cache
def _set_level(dialect: str) -> Any:
    """The answer's upsert, built once per dialect (building it cost as much as running it, on every press)."""
    table = Answer.__table__  # type: ignore[attr-defined]
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(table).values(
        assessment_id=sa.bindparam("assessment_id"),
        indicator=sa.bindparam("indicator"),
        chosen=sa.bindparam("chosen"),
        updated_at=sa.bindparam("updated_at", type_=table.c.updated_at.type),
    )
    return stmt.on_conflict_do_update(
        index_elements=[table.c.assessment_id, table.c.indicator],
        set_={"chosen": stmt.excluded.chosen, "updated_at": stmt.excluded.updated_at},
    )


async def set_level(*, session: AsyncSession, assessment: Assessment, indicator: int, points: int) -> None:
    """Stores the level chosen for one indicator: one statement, whether the answer row exists or not."""
    params = {"assessment_id": assessment.id, "indicator": indicator, "chosen": points, "updated_at": utcnow()}
    await session.exec(_set_level(session.get_bind().dialect.name), params=params)  # type: ignore[call-overload]
    # An answer row this session already holds would now read stale: let it be read again if asked for.
    for held in [o for o in session.identity_map.values() if isinstance(o, Answer)]:
        if held.assessment_id == assessment.id and held.indicator == indicator:
            session.expire(held)


async def add_evidence(*, session: AsyncSession, evidence: Evidence) -> None:
    watch = await _watch_files(session, evidence.assessment_id)
    session.add(evidence)
    await session.flush()
    if watch is not None:
        await watch.done()


async def _watch_files(session: AsyncSession, assessment_id: int) -> tc.Watch | None:
    """Evidence changes the counted points of a scored assessment only (a draft's figures ignore files)."""
    assessment = await session.get(Assessment, assessment_id)
    if assessment is None or assessment.status not in tc.SCORED:
        return None
    return await tc.Watch.start(session, assessment)


async def list_evidence(*, session: AsyncSession, assessment_id: int, indicator: int | None = None) -> list[Evidence]:
    stmt = select(Evidence).where(Evidence.assessment_id == assessment_id)
    if indicator is not None:
        stmt = stmt.where(Evidence.indicator == indicator)
    return list((await session.exec(stmt.order_by(Evidence.id))).all())


async def remove_evidence(*, session: AsyncSession, evidence: Evidence, actor_id: int | None, audited: bool) -> str:
    """Deletes one evidence row; returns its file's path under EVIDENCE_DIR, for the caller to remove once the
    deletion has committed. ``audited``: the team has seen the assessment (submitted, then returned), so the
    removal is written in the audit trail with what the file was (never its content)."""
    if audited:
        await record_audit(
            session=session,
            action="evidence_removed",
            actor_id=actor_id,
            assessment_id=evidence.assessment_id,
            indicator=evidence.indicator,
            before={
                "kind": evidence.kind,
                "name": evidence.file_name,
                "mime": evidence.mime_type,
                "size": evidence.size,
                "sha256": evidence.sha256,
                "received": evidence.created_at.isoformat() if evidence.created_at else None,
            },
        )
    watch = await _watch_files(session, evidence.assessment_id)
    await session.delete(evidence)
    await session.flush()
    if watch is not None:
        await watch.done()
    return evidence.path


async def evidence_paths(*, session: AsyncSession) -> set[str]:
    """Every stored evidence file's path under EVIDENCE_DIR: what the sweep must keep."""
    return set((await session.exec(select(Evidence.path))).all())


async def record_audit(
    *,
    session: AsyncSession,
    action: str,
    actor_id: int | None,
    assessment_id: int | None,
    indicator: int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str | None = None,
) -> None:
    session.add(
        AuditEvent(
            actor_id=actor_id,
            assessment_id=assessment_id,
            action=action,
            indicator=indicator,
            before=before,
            after=after,
            reason=reason,
        )
    )
    await session.flush()
