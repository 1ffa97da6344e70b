"""Tally counters: what each assessment and each registered person adds to their unit's yearly figures, kept in
the transaction of every change, so a tally sums a few rows per unit instead of reading every answer.

One row of ``tally_count`` per (unit, year, figure) holds a number; the figures follow the rules of
``storage.repo_reports`` exactly (its tally reads them):

- ``status:<status>``: the year's assessments in that status, in the assessment's unit.
- ``in_progress``: drafts with a level chosen.
- ``digital``: recognised assessments whose pack's digital-skill indicators reach its threshold.
- ``points:<n>``: the counted points of indicator n, summed over the scored assessments.
- ``pack:<id>@<version>``: scored assessments per criteria pack.
- ``joined``: consented people in their current unit, by the (local) year they consented; a person counts as
  registered in every year from then on, so a tally of year Y sums ``joined`` of the years up to Y.
- ``registered``: the corrections for someone with an assessment in Y: +1 where that assessment counts
  (its unit, else the person's), -1 in their current unit if their ``joined`` counts in Y already.

How a change reaches them: each writer of an assessment, its answers or evidence, or of a person's consent or
unit takes what the assessment (or person) contributed before the change and after it, and ``count_change``
writes the difference as atomic increments (``INSERT ... ON CONFLICT DO UPDATE SET n = n + excluded.n`` on
SQLite and PostgreSQL alike), so two workers never lose a count. The writers are ``journey.apply``, the team's
review and the head's decision (``repo_review``), evidence added or removed (``repo_assessments``), a person
moved or erased (``repo_units.move_person``, ``repo_people.delete_person``) and the yearly expiry
(``repo_outbox.expire_unfinished``). Rows written around them (a seed, a fix by hand) are counted by
``rebuild`` (``cdht tally rebuild``), which recomputes every row from the tables.

A unit's counters hold its own assessments and people; a subtree's figures are summed over the units whose
``Unit.path`` starts with the root's (an index range scan, measured against an ancestor table in
bench/RESULTS.md), so moving a unit changes no counter.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy import ColumnElement, and_, case, exists, func, literal, literal_column, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations.criteria import Pack, Registry, default_registry
from conversations.scoring import AnswerFacts, indicator_points
from storage.models import Answer, Assessment, AssessmentStatus, Evidence, Person, TallyCount

S = AssessmentStatus
ASSESSED = (S.SUBMITTED, S.RETURNED, S.REVIEWED, S.RECOGNISED, S.NOT_RECOGNISED)
SCORED = (S.SUBMITTED, S.REVIEWED, S.RECOGNISED, S.NOT_RECOGNISED)  # their points stand
# The zone whose calendar years the ``joined`` counts use (DESIGN: time is Asia/Ho_Chi_Minh); a tally asked in
# another zone counts its registered people from the rows instead.
ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
UPSERT_ROWS = 500  # rows per increment statement (SQLite takes at most 32,766 parameters)

Key = tuple[int, int, str]  # unit id, year, figure
Counts = dict[Key, int]


# --------------------------------------------------------------------------- the digital-skill rule


@dataclass(frozen=True)
class DigitalRule:
    pack_id: str
    version: int
    indicators: tuple[int, ...]
    min_points: int

    @classmethod
    def of(cls, pack: Pack) -> DigitalRule | None:
        numbers = tuple(i.number for i in pack.indicators if i.digital_skill)
        return cls(pack.id, pack.version, numbers, pack.digital_skill_min_points) if numbers else None

    def shown_by(self, answers: Mapping[int, AnswerFacts]) -> bool:
        return any(n in self.indicators and indicator_points(f) >= self.min_points for n, f in answers.items())


def digital_rules(registry: Registry) -> list[DigitalRule]:
    """Every known pack version's digital-skill indicators and threshold."""
    rules = []
    for pack_id in registry.ids():
        for version in range(1, registry.latest(pack_id).version + 1):
            try:
                rule = DigitalRule.of(registry.get(pack_id, version))
            except KeyError:
                continue
            if rule is not None:
                rules.append(rule)
    return rules


def rule_for(registry: Registry, pack_id: str | None, version: int | None) -> DigitalRule | None:
    if pack_id is None or version is None:
        return None
    try:
        return DigitalRule.of(registry.get(pack_id, version))
    except KeyError:
        return None


# --------------------------------------------------------------------------- what one person or assessment adds


def consent_year(at: datetime | None) -> int | None:
    return None if at is None else at.astimezone(ZONE).year


@dataclass(frozen=True)
class Member:
    """What registration counts of a person: the local year they consented (None: no consent) and their unit."""

    consent_year: int | None
    unit_id: int | None

    @classmethod
    def of(cls, person: Person, *, committed: bool = False) -> Member:
        """The person as they stand, or with ``committed`` as last written to the database (a caller may have
        changed their unit in memory already, as joining by a code does before ``journey.apply``)."""
        if not committed:
            return cls(consent_year(person.consent_at), person.unit_id)
        return cls(consent_year(_committed(person, "consent_at")), _committed(person, "unit_id"))


def _committed(obj: Any, name: str) -> Any:
    history = sa.inspect(obj).attrs[name].history
    return history.deleted[0] if history.deleted else getattr(obj, name)


def joined(member: Member) -> Counts:
    if member.consent_year is None or member.unit_id is None:
        return {}
    return {(member.unit_id, member.consent_year, "joined"): 1}


def presence(member: Member, year: int, unit_id: int | None) -> Counts:
    """The ``registered`` corrections of one assessment of year ``year`` in ``unit_id`` (None: none)."""
    if member.consent_year is None:
        return {}
    out: Counts = {}
    where = unit_id if unit_id is not None else member.unit_id
    if where is not None:
        _add(out, (where, year, "registered"), 1)
    if member.unit_id is not None and member.consent_year <= year:
        _add(out, (member.unit_id, year, "registered"), -1)
    return out


@dataclass(frozen=True)
class Standing:
    """What an assessment's own figures depend on, but its answers."""

    unit_id: int | None
    year: int
    status: str
    pack_id: str | None
    pack_version: int | None

    @classmethod
    def of(cls, a: Assessment) -> Standing:
        return cls(a.unit_id, a.year, a.status, a.pack_id, a.pack_version)

    @property
    def needs_answers(self) -> bool:
        """Whether its figures read its answers: a draft's chosen levels, the points of a scored one."""
        return self.unit_id is not None and (self.status == S.DRAFT or self.status in SCORED)


def figures(standing: Standing, answers: Mapping[int, AnswerFacts], rule: DigitalRule | None) -> Counts:
    """The counts of one assessment (``answers`` as ``conversations.scoring`` reads them, one per answer row)."""
    unit, year, status = standing.unit_id, standing.year, standing.status
    if unit is None:  # counted nowhere, as the row-based tally joins assessments to their unit
        return {}
    out: Counts = {(unit, year, f"status:{status}"): 1}
    if status == S.DRAFT and any(f.chosen is not None for f in answers.values()):
        out[(unit, year, "in_progress")] = 1
    if status in SCORED:
        for n, f in answers.items():
            if points := indicator_points(f):
                _add(out, (unit, year, f"points:{n}"), points)
        if standing.pack_id is not None and standing.pack_version is not None:
            out[(unit, year, f"pack:{standing.pack_id}@{standing.pack_version}")] = 1
    if status == S.RECOGNISED and rule is not None and rule.shown_by(answers):
        out[(unit, year, "digital")] = 1
    return out


def chosen_only(chosen: Mapping[int, int]) -> dict[int, AnswerFacts]:
    """A draft's answers as far as its figures go (only whether a level is chosen counts)."""
    return {n: AnswerFacts(chosen=c) for n, c in chosen.items()}


def _add(counts: Counts, key: Key, n: int) -> None:
    counts[key] = counts.get(key, 0) + n


def difference(before: Mapping[Key, int], after: Mapping[Key, int]) -> Counts:
    out: Counts = dict(after)
    for key, n in before.items():
        _add(out, key, -n)
    return {k: n for k, n in out.items() if n}


def merge(*parts: Mapping[Key, int]) -> Counts:
    out: Counts = {}
    for part in parts:
        for key, n in part.items():
            _add(out, key, n)
    return out


# --------------------------------------------------------------------------- writing


async def count_change(session: AsyncSession, before: Mapping[Key, int], after: Mapping[Key, int]) -> None:
    """Writes what changed between two contributions (of one assessment, or of a person with theirs)."""
    await add(session, difference(before, after))


async def add(session: AsyncSession, delta: Mapping[Key, int]) -> None:
    """Adds ``delta`` to the counters with atomic increments, in key order (two transactions lock shared rows in
    the same order, so they wait for each other rather than deadlock)."""
    rows = [{"unit_id": u, "year": y, "figure": f, "n": n} for (u, y, f), n in sorted(delta.items()) if n]
    if not rows:
        return
    table = TallyCount.__table__  # type: ignore[attr-defined]
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    for i in range(0, len(rows), UPSERT_ROWS):
        stmt = insert(table).values(rows[i : i + UPSERT_ROWS])
        stmt = stmt.on_conflict_do_update(
            index_elements=[table.c.unit_id, table.c.year, table.c.figure], set_={"n": table.c.n + stmt.excluded.n}
        )
        await session.exec(stmt)


# --------------------------------------------------------------------------- reading what an assessment adds


async def answer_facts(session: AsyncSession, assessment_id: int) -> dict[int, AnswerFacts]:
    """Each answer row of the assessment with its evidence count (one query)."""
    files = (
        select(func.count())
        .where(Evidence.assessment_id == Answer.assessment_id, Evidence.indicator == Answer.indicator)
        .scalar_subquery()
    )
    stmt = select(Answer.indicator, Answer.chosen, Answer.reviewer_points, files).where(
        Answer.assessment_id == assessment_id
    )
    rows = (await session.exec(stmt)).all()
    return {n: AnswerFacts(chosen=c, evidence_count=int(e), reviewed=r) for n, c, r, e in rows}


async def counts_of(
    session: AsyncSession,
    assessment: Assessment,
    *,
    registry: Registry | None = None,
    member: Member | None = None,
    answers: Mapping[int, AnswerFacts] | None = None,
) -> Counts:
    """What ``assessment`` adds as it stands (its answers read when its figures need them); with ``member``,
    its registered corrections too."""
    standing = Standing.of(assessment)
    if answers is None:
        answers = await answer_facts(session, assessment.id or 0) if standing.needs_answers else {}
    rule = None
    if standing.status == S.RECOGNISED:
        rule = rule_for(registry or default_registry(), standing.pack_id, standing.pack_version)
    own = figures(standing, answers, rule)
    return merge(own, presence(member, assessment.year, assessment.unit_id)) if member is not None else own


async def person_counts(
    session: AsyncSession, person: Person, *, registry: Registry | None = None, committed: bool = False
) -> Counts:
    """Everything a person adds: their registration and each of their assessments (for moving or erasing them;
    call it before changing anything)."""
    member = Member.of(person, committed=committed)
    out = joined(member)
    stmt = select(Assessment).where(Assessment.person_id == person.id).order_by(Assessment.year)
    for assessment in (await session.exec(stmt)).scalars().all():
        out = merge(out, await counts_of(session, assessment, registry=registry, member=member))
    return out


class Watch:
    """An assessment's contribution taken before a change, written as a difference once the change is made:

    watch = await Watch.start(session, assessment)
    ...change its status, answers or evidence...
    await watch.done()
    """

    def __init__(self, session: AsyncSession, assessment: Assessment, registry: Registry | None, before: Counts):
        self.session, self.assessment, self.registry, self.before = session, assessment, registry, before

    @classmethod
    async def start(cls, session: AsyncSession, assessment: Assessment, registry: Registry | None = None) -> Watch:
        return cls(session, assessment, registry, await counts_of(session, assessment, registry=registry))

    async def done(self) -> None:
        await self.session.flush()
        after = await counts_of(self.session, self.assessment, registry=self.registry)
        await count_change(self.session, self.before, after)


async def moved_members(session: AsyncSession, person: Person, before: Member, after: Member, *, skip: int) -> Counts:
    """What changing a person's registration from ``before`` to ``after`` moves: their ``joined`` and the
    registered corrections of each of their assessments but the one with id ``skip`` (its caller counts it)."""
    if before == after:
        return {}
    out = difference(joined(before), joined(after))
    stmt = select(Assessment.year, Assessment.unit_id).where(Assessment.person_id == person.id, Assessment.id != skip)
    for year, unit_id in (await session.exec(stmt)).all():
        out = merge(out, difference(presence(before, year, unit_id), presence(after, year, unit_id)))
    return out


async def expiring(session: AsyncSession, where: Iterable[ColumnElement[bool]]) -> Counts:
    """What closing the assessments matching ``where`` (drafts and returned ones) as expired changes: each
    leaves its status, a draft its "in progress", for ``status:expired``. Locks them (PostgreSQL) so the set
    cannot change before the caller's update."""
    chosen = exists().where(Answer.assessment_id == Assessment.id, col(Answer.chosen).is_not(None))
    stmt = (
        select(Assessment.unit_id, Assessment.year, Assessment.status, chosen)
        .where(*where, col(Assessment.unit_id).is_not(None))
        .with_for_update()
    )
    out: Counts = {}
    for unit_id, year, status, any_chosen in (await session.exec(stmt)).all():
        _add(out, (unit_id, year, f"status:{status}"), -1)
        _add(out, (unit_id, year, f"status:{S.EXPIRED}"), 1)
        if status == S.DRAFT and any_chosen:
            _add(out, (unit_id, year, "in_progress"), -1)
    return out


# --------------------------------------------------------------------------- recounting from the rows


def answer_points(evidenced: ColumnElement[bool]) -> ColumnElement[int]:
    """An answer's counted points in SQL, as ``scoring.indicator_points`` counts them: the team's points, else
    the chosen level where ``evidenced``, else 0 (how "evidenced" is known is the caller's: a probe, a mask)."""
    return case(
        (col(Answer.reviewer_points).is_not(None), Answer.reviewer_points),
        (and_(col(Answer.chosen).is_not(None), evidenced), Answer.chosen),
        else_=0,
    )


def _local_year(dialect: str, column: Any) -> ColumnElement[int]:
    """The year of a UTC timestamp in ZONE (SQLite: shifted by the zone's offset in the middle of the year, exact
    for a zone without daylight saving such as Asia/Ho_Chi_Minh)."""
    if dialect == "postgresql":
        return sa.cast(func.extract("year", func.timezone(literal_column(f"'{ZONE.key}'"), column)), sa.Integer)
    offset = ZONE.utcoffset(datetime(2000, 7, 1)) or timedelta(0)
    shift = literal_column(f"'{int(offset.total_seconds() // 60):+d} minutes'")
    return sa.cast(func.strftime("%Y", column, shift), sa.Integer)


def _text(value: Any) -> Any:
    return sa.cast(value, sa.String)


def recount(dialect: str, registry: Registry) -> sa.Select:
    """Every counter row computed from the tables: (unit_id, year, figure, n), one per key, n never 0."""
    a, x, p = Assessment, Answer, Person
    unit, year = col(a.unit_id), col(a.year)
    n = func.count()
    has_unit = unit.is_not(None)
    parts: list[sa.Select] = [
        select(unit, year, _text(literal("status:") + a.status), n).where(has_unit).group_by(unit, year, a.status),
        select(unit, year, _text(literal("in_progress")), n)
        .where(
            has_unit,
            a.status == S.DRAFT,
            exists().where(x.assessment_id == a.id, col(x.chosen).is_not(None)),
        )
        .group_by(unit, year),
        select(unit, year, _text(literal("pack:") + a.pack_id + literal("@") + _text(a.pack_version)), n)
        .where(has_unit, col(a.status).in_(SCORED), col(a.pack_id).is_not(None), col(a.pack_version).is_not(None))
        .group_by(unit, year, a.pack_id, a.pack_version),
    ]
    # Points: evidence joined once per (assessment, indicator) rather than probed per answer.
    files = select(Evidence.assessment_id, Evidence.indicator).distinct().subquery("files")
    evidenced = files.c.assessment_id.is_not(None)
    parts.append(
        select(unit, year, _text(literal("points:") + _text(x.indicator)), func.sum(answer_points(evidenced)))
        .select_from(x)
        .join(a, a.id == x.assessment_id)
        .outerjoin(files, and_(files.c.assessment_id == x.assessment_id, files.c.indicator == x.indicator))
        .where(has_unit, col(a.status).in_(SCORED))
        .group_by(unit, year, x.indicator)
    )
    rules = digital_rules(registry)
    if rules:
        shown = exists().where(
            x.assessment_id == a.id,
            or_(
                *[
                    and_(
                        a.pack_id == r.pack_id,
                        a.pack_version == r.version,
                        col(x.indicator).in_(r.indicators),
                        answer_points(
                            exists().where(Evidence.assessment_id == x.assessment_id, Evidence.indicator == x.indicator)
                        )
                        >= r.min_points,
                    )
                    for r in rules
                ]
            ),
        )
        parts.append(
            select(unit, year, _text(literal("digital")), n)
            .where(has_unit, a.status == S.RECOGNISED, shown)
            .group_by(unit, year)
        )
    # Registration: consented people by the year they consented, then each assessment's corrections.
    consented = col(p.consent_at).is_not(None)
    since = _local_year(dialect, p.consent_at)
    people = select(p.unit_id.label("unit_id"), since.label("year")).where(consented, col(p.unit_id).is_not(None))  # type: ignore[union-attr]
    people_sq = people.subquery("people")
    parts.append(
        select(people_sq.c.unit_id, people_sq.c.year, _text(literal("joined")), n).group_by(
            people_sq.c.unit_id, people_sq.c.year
        )
    )
    counted_at = func.coalesce(a.unit_id, p.unit_id)
    parts.append(
        select(counted_at, year, _text(literal("registered")), n)
        .select_from(a)
        .join(p, p.id == a.person_id)
        .where(consented, counted_at.is_not(None))
        .group_by(counted_at, year)
    )
    parts.append(
        select(p.unit_id, year, _text(literal("registered")), -n)
        .select_from(a)
        .join(p, p.id == a.person_id)
        .where(consented, col(p.unit_id).is_not(None), since <= year)
        .group_by(p.unit_id, year)
    )
    every = sa.union_all(*parts).subquery("every")
    u, y, f, c = (every.c[i] for i in range(4))
    total = func.sum(c)
    return select(u, y, f, total).group_by(u, y, f).having(total != 0)


def _rebuild_statements(dialect: str, registry: Registry) -> list[sa.Executable]:
    table = TallyCount.__table__  # type: ignore[attr-defined]
    out: list[sa.Executable] = []
    if dialect == "postgresql":
        # Writers wait while the rows are recounted; their own increments then land on the new rows.
        out.append(sa.text("LOCK TABLE tally_count IN EXCLUSIVE MODE"))
        out.append(sa.text("SET LOCAL jit = off"))
    out.append(sa.delete(table))
    out.append(table.insert().from_select(["unit_id", "year", "figure", "n"], recount(dialect, registry)))
    return out


async def rebuild(session: AsyncSession, registry: Registry | None = None) -> int:
    """Recomputes every counter from the tables (idempotent); returns the rows written."""
    dialect = session.get_bind().dialect.name
    for stmt in _rebuild_statements(dialect, registry or default_registry()):
        await session.exec(stmt)  # type: ignore[call-overload]
    return int((await session.exec(select(func.count()).select_from(TallyCount))).scalar_one())


def rebuild_sync(conn: Connection, registry: Registry | None = None) -> None:
    """``rebuild`` on a plain connection (the migration that creates the counters fills them so)."""
    for stmt in _rebuild_statements(conn.dialect.name, registry or default_registry()):
        conn.execute(stmt)


async def stored(session: AsyncSession) -> Counts:
    """Every counter row but zeros, as a mapping (tests compare it with ``recount``)."""
    rows = (await session.exec(select(TallyCount.unit_id, TallyCount.year, TallyCount.figure, TallyCount.n))).all()
    return {(u, y, f): n for u, y, f, n in rows if n}


async def recounted(session: AsyncSession, registry: Registry | None = None) -> Counts:
    """What ``rebuild`` would write, without writing it."""
    stmt = recount(session.get_bind().dialect.name, registry or default_registry())
    return {(int(u), int(y), str(f)): int(n) for u, y, f, n in (await session.exec(stmt)).all()}  # type: ignore[call-overload]
