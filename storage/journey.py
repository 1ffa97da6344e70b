"""A person's conversation as stored: load it as a flow State with its Facts, apply a Transition.

This is the seam between the pure flow and the tables: any process can load a person, apply an event and
store the outcome in the caller's transaction, so the database alone carries the conversation.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import func
from sqlalchemy.orm import aliased
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations import flow
from conversations.criteria import Pack, Registry
from conversations.flow import Facts, State, Step, Transition
from conversations.scoring import AnswerFacts, Score, score
from storage import repo_assessments as ra
from storage import repo_outbox as ro
from storage import repo_people as rp
from storage import tally_counters as tc
from storage.models import Answer, Assessment, AssessmentStatus, Evidence, OfficerPending, Person, Unit

log = logging.getLogger(__name__)

READY = "ready"  # Person.step once registration is over; the assessment then carries the step
LOCKED_STATUSES = frozenset(
    {
        AssessmentStatus.SUBMITTED,
        AssessmentStatus.REVIEWED,
        AssessmentStatus.RECOGNISED,
        AssessmentStatus.NOT_RECOGNISED,
        AssessmentStatus.EXPIRED,
    }
)


@dataclass(frozen=True)
class TeamPoints:
    """The assessment team's figure for one indicator, and its reason when the team changed it."""

    points: int
    reason: str | None = None


@dataclass(frozen=True)
class AnswerRow:
    """One stored answer: the level chosen, and the team's figure and reason once reviewed."""

    chosen: int | None = None
    reviewer_points: int | None = None
    reviewer_reason: str | None = None


@dataclass(frozen=True)
class FileRow:
    """What a journey keeps of a stored file: the columns its screens and checks read (the ``Evidence`` row's
    names; a plain value, as building ORM objects for every file of every update costs more than reading them)."""

    id: int | None
    assessment_id: int | None
    indicator: int
    kind: str
    file_unique_id: str
    file_name: str | None
    created_at: datetime | None


@dataclass
class Journey:
    """One person's conversation, loaded for one update."""

    person: Person
    assessment: Assessment | None
    unit: Unit | None
    pack: Pack | None
    facts: Facts
    state: State
    # The team's figures as stored (adjusted during review, all of them once confirmed): the renderer shows
    # them once the review is over, so every screen counts what the team counted.
    team: dict[int, TeamPoints] = field(default_factory=dict)
    # The files of the indicator on screen, oldest first, while the person is on one of its evidence steps.
    files: tuple[FileRow, ...] = ()
    # As loaded (and kept up to date by ``apply``), so the journey after a change is computed, not read again:
    # the assessment's answer rows, every file of it (oldest first; the few columns screens and checks use),
    # and the typed step the person owes as an officer (None for every citizen).
    answers: dict[int, AnswerRow] = field(default_factory=dict)
    stored_files: tuple[FileRow, ...] = ()
    pending: OfficerPending | None = None

    @property
    def in_assessment(self) -> bool:
        return self.assessment is not None and self.state.step not in flow.REGISTRATION_STEPS

    @property
    def owner(self) -> tuple[str, int]:
        """Whose buttons the current step shows: ("a", assessment id) or ("p", person id)."""
        if self.in_assessment:
            assert self.assessment is not None
            return "a", self.assessment.id or 0
        return "p", self.person.id or 0

    @property
    def rev(self) -> int:
        """The revision choices of the current step carry."""
        return self.state.rev


def packs_for_unit(registry: Registry, unit: Unit | None) -> dict[str, Pack]:
    """Group code -> the pack a person of that group in ``unit`` is assessed with (unit overrides applied).

    An override the loaded packs cannot serve (its pack was removed since) falls back to the group's own pack
    with a warning: the citizen can still go on, and ``cdht run`` names the unit at the next start."""
    overrides = (unit.pack_overrides or {}) if unit else {}
    out = {}
    for group, pack_id in registry.groups():
        chosen = overrides.get(pack_id, pack_id)
        if chosen != pack_id and (problem := registry.override_problem(pack_id, chosen)) is not None:
            assert unit is not None
            log.warning("unit %s: %s cannot replace %s (%s); %s is used", unit.code, chosen, pack_id, problem, pack_id)
            chosen = pack_id
        out[group.code] = registry.latest(chosen)
    return out


def _state(person: Person, assessment: Assessment | None) -> State:
    """The stored step, with the revision its choices carry (the person's before an assessment exists)."""
    if person.step != READY:
        return State(Step(person.step), rev=person.rev)
    if assessment is None:
        return State(Step.GROUP, rev=person.rev)
    if assessment.status in LOCKED_STATUSES:
        return State(Step.SUBMITTED, rev=assessment.rev)
    return State(Step(assessment.step), assessment.indicator, assessment.editing, rev=assessment.rev)


def _json_rows(dialect: str, *columns: Any) -> Any:
    """An aggregate of ``columns`` per row as one JSON array of arrays (SQLite's JSON1, PostgreSQL's json)."""
    if dialect == "postgresql":
        return func.json_agg(func.json_build_array(*columns))
    return func.json_group_array(func.json_array(*columns))


def _decoded(value: Any) -> list[list[Any]]:
    """A JSON aggregate as rows (the driver may hand it decoded or as text; no rows: NULL on PostgreSQL)."""
    if value is None:
        return []
    return json.loads(value) if isinstance(value, str | bytes) else list(value)


def _when(value: Any) -> datetime | None:
    """A timestamp read from JSON: ISO text, zoneless on SQLite (stored in UTC)."""
    if not value:
        return None
    found = datetime.fromisoformat(str(value))
    return found if found.tzinfo is not None else found.replace(tzinfo=UTC)


@functools.cache
def _snapshot(dialect: str, by_sender: bool, lock: bool) -> Any:
    """One statement for everything an update needs of a person: the person (locked), the year's assessment
    (locked: the team's review locks it too), their unit, the officer step they owe (citizens: none), and the
    assessment's answers and files as JSON arrays. Built once per shape (building it costs more than running
    it); the person (``channel`` and ``external_id``, or ``person_id``) and ``year`` are bound parameters."""
    if by_sender:
        who = sa.and_(Person.channel == sa.bindparam("channel"), Person.external_id == sa.bindparam("external_id"))
    else:
        who = Person.id == sa.bindparam("person_id")
    found = select(Assessment).where(
        Assessment.person_id == select(Person.id).where(who).scalar_subquery(),
        Assessment.year == sa.bindparam("year"),
    )
    if lock:
        found = found.with_for_update()
    a = aliased(Assessment, found.cte("this_year"))
    answers = (
        select(_json_rows(dialect, Answer.indicator, Answer.chosen, Answer.reviewer_points, Answer.reviewer_reason))
        .where(Answer.assessment_id == a.id)
        .scalar_subquery()
    )
    files = (
        select(
            _json_rows(
                dialect,
                Evidence.id,
                Evidence.indicator,
                Evidence.kind,
                Evidence.file_unique_id,
                Evidence.file_name,
                Evidence.created_at,
            )
        )
        .where(Evidence.assessment_id == a.id)
        .scalar_subquery()
    )
    stmt = (
        select(Person, a, Unit, OfficerPending, answers, files)
        .select_from(Person)
        .outerjoin(a, a.person_id == Person.id)
        .outerjoin(Unit, Unit.id == Person.unit_id)
        .outerjoin(OfficerPending, OfficerPending.person_id == Person.id)  # type: ignore[arg-type]
        .where(who)
    )
    return stmt.with_for_update(of=Person) if lock else stmt  # type: ignore[arg-type]


async def load_sender(
    *, session: AsyncSession, registry: Registry, channel: str, external_id: str, year: int, lock: bool = True
) -> Journey | None:
    """The conversation of the person a messenger knows by ``external_id`` (None: a stranger), in one
    statement; ``lock`` serialises one person's updates (row locks on PostgreSQL)."""
    where = {"channel": channel, "external_id": external_id, "year": year}
    return await _load_where(session, registry, where, lock)


async def load(*, session: AsyncSession, registry: Registry, person: Person, year: int, lock: bool = True) -> Journey:
    """Loads the conversation of ``person`` for the assessment ``year`` (one statement; row locks on PostgreSQL)."""
    journey = await _load_where(session, registry, {"person_id": person.id, "year": year}, lock)
    assert journey is not None and journey.person is person
    return journey


async def _load_where(session: AsyncSession, registry: Registry, where: dict[str, Any], lock: bool) -> Journey | None:
    stmt = _snapshot(session.get_bind().dialect.name, "channel" in where, lock)
    row = (await session.exec(stmt, params=where)).first()
    if row is None:
        return None
    person, assessment, unit, pending, answer_rows, file_rows = row
    answers = {int(n): AnswerRow(c, p, r) for n, c, p, r in _decoded(answer_rows)}
    stored = tuple(
        sorted(
            (
                FileRow(
                    id=i,
                    assessment_id=assessment.id,
                    indicator=n,
                    kind=kind,
                    file_unique_id=unique,
                    file_name=name,
                    created_at=_when(at),
                )
                for i, n, kind, unique, name, at in _decoded(file_rows)
            ),
            key=lambda e: e.id or 0,
        )
    )
    if unit is None and person.pending_code:
        unit = await rp.find_unit(session=session, code=person.pending_code)
    return assemble(registry, person, assessment, unit, answers, stored, pending)


def assemble(
    registry: Registry,
    person: Person,
    assessment: Assessment | None,
    unit: Unit | None,
    answers: Mapping[int, AnswerRow],
    stored_files: tuple[FileRow, ...],
    pending: OfficerPending | None = None,
) -> Journey:
    """The journey these rows make (no statement): after loading them, and after ``apply`` changed them."""
    pack = None
    chosen: dict[int, int] = {}
    evidence: dict[int, int] = {}
    editable = None
    team: dict[int, TeamPoints] = {}
    files: tuple[FileRow, ...] = ()
    if assessment is not None:
        if assessment.pack_id and assessment.pack_version:
            pack = registry.get(assessment.pack_id, assessment.pack_version)
        chosen = {n: a.chosen for n, a in answers.items() if a.chosen is not None}
        team = {
            n: TeamPoints(a.reviewer_points, a.reviewer_reason)
            for n, a in answers.items()
            if a.reviewer_points is not None
        }
        for f in stored_files:
            evidence[f.indicator] = evidence.get(f.indicator, 0) + 1
        if assessment.status == AssessmentStatus.RETURNED:
            editable = frozenset(assessment.returned_indicators)
        if assessment.status not in LOCKED_STATUSES and assessment.step in _FILE_STEPS:
            files = tuple(f for f in stored_files if f.indicator == assessment.indicator)
    groups = {code: p.numbers for code, p in packs_for_unit(registry, unit).items()}
    facts = Facts(
        numbers=pack.numbers if pack else (),
        levels={i.number: tuple(lv.points for lv in i.levels) for i in pack.indicators} if pack else {},
        chosen=chosen,
        evidence=evidence,
        groups=groups,
        has_unit=unit is not None,
        editable=editable,
    )
    state = _state(person, assessment)
    return Journey(person, assessment, unit, pack, facts, state, team, files, dict(answers), stored_files, pending)


def with_files(registry: Registry, journey: Journey, stored_files: tuple[FileRow, ...]) -> Journey:
    """The journey with the assessment's files now ``stored_files`` (one added or removed in this transaction)."""
    return assemble(
        registry, journey.person, journey.assessment, journey.unit, journey.answers, stored_files, journey.pending
    )


def with_unit(registry: Registry, journey: Journey, unit: Unit | None) -> Journey:
    """The journey with ``unit`` as the person's (a join code kept before consent names it)."""
    return assemble(
        registry, journey.person, journey.assessment, unit, journey.answers, journey.stored_files, journey.pending
    )


def light_file(evidence: Evidence) -> FileRow:
    """What a journey keeps of a stored file."""
    return FileRow(
        id=evidence.id,
        assessment_id=evidence.assessment_id,
        indicator=evidence.indicator,
        kind=evidence.kind,
        file_unique_id=evidence.file_unique_id,
        file_name=evidence.file_name,
        created_at=evidence.created_at,
    )


_FILE_STEPS = frozenset({Step.EVIDENCE, Step.SKIP_WARNING, Step.REMOVE_FILE})  # where the files are listed


async def apply(
    *,
    session: AsyncSession,
    registry: Registry,
    journey: Journey,
    transition: Transition,
    year: int,
    now: datetime,
) -> Journey:
    """Stores the effects and the new step of ``transition``; returns the journey as it now stands, computed from
    what was loaded and written (nothing is read again)."""
    person = journey.person
    counted = _Counted.before(journey)
    answers = dict(journey.answers)
    for effect in transition.effects:
        match effect:
            case flow.RecordConsent():
                person.consent_at = now
            case flow.ForgetPerson():
                person.full_name = None
                person.unit_id = None
                person.consent_at = None
                person.pending_code = None
            case flow.RecordName(name=name):
                person.full_name = name
                if person.unit_id is None and journey.unit is not None:
                    person.unit_id = journey.unit.id
                    person.pending_code = None
            case flow.RecordGroup(code=code):
                pack = packs_for_unit(registry, journey.unit)[code]
                assessment = _assessment(session, journey, year)
                assessment.group_code = code
                assessment.pack_id, assessment.pack_version = pack.id, pack.version
                assessment.unit_id = person.unit_id
            case flow.RecordLevel(indicator=indicator, points=points):
                assert journey.assessment is not None
                await ra.set_level(session=session, assessment=journey.assessment, indicator=indicator, points=points)
                answers[indicator] = replace(answers.get(indicator, AnswerRow()), chosen=points)
            case flow.RecordSubmission():
                await _submit(session, journey, now)
    _store_state(session, journey, transition.state, year)
    await session.flush()  # one UPDATE per changed row (a new assessment: one INSERT with every value)
    unit = await _unit_now(session, person, journey.unit)
    after = assemble(registry, person, journey.assessment, unit, answers, journey.stored_files, journey.pending)
    await counted.settle(session, registry, after)
    return after


async def _unit_now(session: AsyncSession, person: Person, known: Unit | None) -> Unit | None:
    """The unit a load would find for ``person`` now: theirs, else the one their waiting code names; the one
    already loaded whenever it is that (joining, naming oneself), so no statement."""
    if person.unit_id is not None:
        if known is not None and known.id == person.unit_id:
            return known
        return await rp.get_unit(session=session, unit_id=person.unit_id)
    if person.pending_code:
        if known is not None and known.code.upper() == person.pending_code.strip().upper():
            return known
        return await rp.find_unit(session=session, code=person.pending_code)
    return None


@dataclass(frozen=True)
class _Counted:
    """What a journey added to the tally counters before a transition, compared with what it adds after: the
    person's registration, and the year's assessment (whose answers are read only when a scored one changes)."""

    member: tc.Member
    assessment_id: int | None
    standing: tc.Standing | None
    chosen: dict[int, int]

    @classmethod
    def before(cls, journey: Journey) -> _Counted:
        a = journey.assessment
        # As last written: joining by a code sets the unit in memory before the transition is applied.
        member = tc.Member.of(journey.person, committed=True)
        standing = tc.Standing.of(a) if a is not None else None
        return cls(member, a.id if a is not None else None, standing, dict(journey.facts.chosen))

    async def settle(self, session: AsyncSession, registry: Registry, journey: Journey) -> None:
        a = journey.assessment
        member = tc.Member.of(journey.person)
        standing = tc.Standing.of(a) if a is not None else None
        unchanged = standing == self.standing and (
            standing is None
            or standing.status != AssessmentStatus.DRAFT
            or bool(self.chosen) == bool(journey.facts.chosen)
        )
        if member == self.member and unchanged:
            return  # the common case (a level chosen, a step moved): nothing counted changes, no statement
        before: tc.Counts = {}
        after: tc.Counts = {}
        if self.standing is not None:
            before = tc.presence(self.member, self.standing.year, self.standing.unit_id)
        if standing is not None:
            after = tc.presence(member, standing.year, standing.unit_id)
        if not unchanged:
            assert a is not None and standing is not None
            answers = None
            if standing.status in tc.SCORED or (self.standing is not None and self.standing.status in tc.SCORED):
                # Submitted now (or, were it ever so, changed while scored: the flow keeps a scored assessment's
                # answers as they are, so its answers now are its answers before).
                answers = _answer_facts(journey)

            def answers_at(s: tc.Standing, chosen: dict[int, int]) -> Mapping[int, AnswerFacts]:
                if s.status in tc.SCORED:
                    assert answers is not None
                    return answers
                return tc.chosen_only(chosen) if s.status == AssessmentStatus.DRAFT else {}

            if self.standing is not None:
                rule = tc.rule_for(registry, self.standing.pack_id, self.standing.pack_version)
                before = tc.merge(before, tc.figures(self.standing, answers_at(self.standing, self.chosen), rule))
            rule = tc.rule_for(registry, standing.pack_id, standing.pack_version)
            after = tc.merge(after, tc.figures(standing, answers_at(standing, journey.facts.chosen), rule))
        moved = await tc.moved_members(session, journey.person, self.member, member, skip=(a.id or 0) if a else 0)
        await tc.add(session, tc.merge(moved, tc.difference(before, after)))


def _answer_facts(journey: Journey) -> dict[int, AnswerFacts]:
    """What ``tally_counters.answer_facts`` would read: each answer row with its indicator's file count."""
    return {
        n: AnswerFacts(chosen=a.chosen, evidence_count=journey.facts.evidence.get(n, 0), reviewed=a.reviewer_points)
        for n, a in journey.answers.items()
    }


def _assessment(session: AsyncSession, journey: Journey, year: int) -> Assessment:
    """The year's assessment, a new one added to the session (inserted, with all its values, at the flush)."""
    if journey.assessment is None:
        journey.assessment = ra.new_assessment(session=session, person=journey.person, year=year, step=Step.GROUP)
    return journey.assessment


def _store_state(session: AsyncSession, journey: Journey, state: State, year: int) -> None:
    person = journey.person
    if state.step in flow.REGISTRATION_STEPS:
        if person.step != state.step:
            rp.touch(person, state.step)
        return
    if person.step != READY:
        rp.touch(person, READY)
    assessment = _assessment(session, journey, year)
    if state.step is Step.SUBMITTED:
        ra.move(assessment, state.step)
        return
    if (assessment.step, assessment.indicator, assessment.editing) != (state.step, state.indicator, state.editing):
        ra.move(assessment, state.step, state.indicator, state.editing)


def score_of(pack: Pack, facts: Facts, reviewed: dict[int, int] | None = None) -> Score:
    """The score the stored answers give now."""
    answers = {
        n: AnswerFacts(
            chosen=facts.chosen.get(n), evidence_count=facts.evidence.get(n, 0), reviewed=(reviewed or {}).get(n)
        )
        for n in pack.numbers
        if n in facts.chosen or (reviewed and n in reviewed)
    }
    return score(pack.numbers, answers)


async def _submit(session: AsyncSession, journey: Journey, now: datetime) -> None:
    assessment = journey.assessment
    assert assessment is not None and journey.pack is not None
    result = score_of(journey.pack, journey.facts)
    before = {"status": assessment.status}
    assessment.status = AssessmentStatus.SUBMITTED
    assessment.total = result.total
    assessment.recognised = None  # decided by the head after the team's review
    assessment.submitted_at = now
    assessment.returned_indicators = []
    await ra.record_audit(
        session=session,
        action="submitted",
        actor_id=journey.person.id,
        assessment_id=assessment.id,
        before=before,
        after={"status": assessment.status, "total": result.total},
    )
    # Nothing more to remind them of this cycle; in the same transaction, so never one without the other.
    await ro.cancel_pending(session=session, person_id=journey.person.id, kinds=ro.CITIZEN_REMINDER_KINDS)
