"""Tallies for officers: a unit's and its children's yearly figures, aggregated in SQL, never person by person.

Rules the figures follow (an officer reading the report can rely on each):

- **Headcount.** ``Unit.headcount`` counts a unit's *own* members; the headcount of a subtree is the sum over
  its units. A commune with 40 staff of its own and two villages of 500 has a subtree headcount of 1,040.
  Headcount in ``learning`` units (schools, offices, companies) is staff; everywhere else (villages,
  residential groups, and the commune's or province's own members) it is community adults.
- **Where a person counts.** An assessment counts in the unit it belongs to (``Assessment.unit_id``), so a
  person who moved keeps last year's result where they earned it (moving a person takes only this year's
  open assessment along); someone without an assessment that year counts in their current unit.
- **Registered**: consented people counted that way, who consented before the year ended (or assessed it).
- **Statuses** are the current status of each of the year's assessments: *in progress* is a draft with at
  least one level chosen (an empty draft is only "registered"); *assessed* is every assessment handed in at
  least once (submitted, returned, reviewed, recognised, not recognised).
- **Points** of an indicator follow ``conversations.scoring.indicator_points``: the team's points when set,
  else the chosen level when the indicator has evidence, else 0. Point statistics (averages, the weakest
  indicators, the distribution of totals) use the assessments whose points stand: submitted, reviewed,
  recognised and not recognised (a returned one is being corrected); a missing answer counts 0.
- **Digital skills**: a recognised person whose pack's digital-skill indicator(s) score at least the pack's
  ``digital_skill_min_points``, on those same points.
- **Progress by month** (local time): hand-ins by their latest submission, recognitions by the decision
  date (else the review time); anything dated after December counts in December.
- **Targets** (QĐ 677/QĐ-TTg): 2025 figures for years up to 2025, 2030 figures after; ``Unit.targets``
  overrides them for a unit and everything below it, nearer units winning. Keys: ``community``, ``staff``,
  ``digital``, ``unit_title``, optionally for one horizon (``"staff:2030"``); values are fractions (0.6) or
  percentages (60).
"""

from __future__ import annotations

import math
import re
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    case,
    exists,
    false,
    func,
    literal,
    literal_column,
    or_,
    select,
    text,
    true,
    union_all,
)
from sqlalchemy.orm import aliased
from sqlalchemy.sql import FromClause
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations.criteria import INDICATOR_COUNT, Registry
from storage import tally_counters as tc
from storage.models import Answer, Assessment, AssessmentStatus, Evidence, Person, TallyCount, Unit, UnitKind
from storage.tally_counters import ASSESSED, SCORED, DigitalRule, digital_rules

S = AssessmentStatus

TARGET_KEYS = ("community", "staff", "digital", "unit_title")
DEFAULT_TARGETS: dict[int, dict[str, float]] = {
    2025: {"community": 0.40, "staff": 0.60, "digital": 0.70, "unit_title": 0.90},
    2030: {"community": 0.60, "staff": 0.80, "digital": 0.90, "unit_title": 0.90},
}


# --------------------------------------------------------------------------- targets


@dataclass(frozen=True)
class Targets:
    """Shares to reach, as fractions; ``horizon`` is the QĐ 677 milestone they belong to."""

    horizon: int
    community: float
    staff: float
    digital: float
    unit_title: float


def horizon_for(year: int) -> int:
    return 2025 if year <= 2025 else 2030


def _fraction(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        return None
    return value / 100 if value > 1 else float(value)


def resolve_targets(year: int, overrides: Iterable[Mapping[str, object]] = ()) -> Targets:
    """The targets for ``year``: the defaults, then each mapping of ``overrides`` (root first) on top."""
    horizon = horizon_for(year)
    values = dict(DEFAULT_TARGETS[horizon])
    for mapping in overrides:
        for key in TARGET_KEYS:
            for name in (key, f"{key}:{horizon}"):  # the horizon-specific key wins over the plain one
                found = _fraction(mapping.get(name))
                if found is not None:
                    values[key] = found
    return Targets(horizon=horizon, **values)


async def targets_for(*, session: AsyncSession, units: Sequence[Unit], year: int) -> dict[int, Targets]:
    """Unit id -> its targets for ``year``, inheriting overrides from its ancestors (one query)."""
    ancestor_ids = {int(p) for u in units for p in u.path.strip("/").split("/") if p}
    rows = (await session.exec(select(Unit.id, Unit.targets).where(col(Unit.id).in_(ancestor_ids)))).all()
    own = {uid: targets or {} for uid, targets in rows}
    out = {}
    for unit in units:
        chain = [own.get(int(p), {}) for p in unit.path.strip("/").split("/") if p]
        assert unit.id is not None
        out[unit.id] = resolve_targets(year, chain)
    return out


# --------------------------------------------------------------------------- figures


def share(part: int, whole: int) -> float | None:
    return part / whole if whole > 0 else None


@dataclass(frozen=True)
class Figures:
    """One unit's subtree, for one year."""

    unit_id: int
    code: str
    name: str
    kind: str
    targets: Targets
    headcount: int = 0
    headcount_staff: int = 0  # the part of the headcount in learning units
    registered: int = 0
    in_progress: int = 0
    submitted: int = 0
    returned: int = 0
    reviewed: int = 0
    recognised: int = 0
    not_recognised: int = 0
    recognised_staff: int = 0  # the part of the recognised in learning units
    digital: int = 0  # recognised with digital skills

    @property
    def headcount_community(self) -> int:
        return self.headcount - self.headcount_staff

    @property
    def recognised_community(self) -> int:
        return self.recognised - self.recognised_staff

    @property
    def assessed(self) -> int:
        return self.submitted + self.returned + self.reviewed + self.recognised + self.not_recognised

    @property
    def share_recognised(self) -> float | None:
        return share(self.recognised, self.headcount)

    @property
    def share_community(self) -> float | None:
        return share(self.recognised_community, self.headcount_community)

    @property
    def share_staff(self) -> float | None:
        return share(self.recognised_staff, self.headcount_staff)

    @property
    def share_digital(self) -> float | None:
        return share(self.digital, self.recognised)

    @property
    def needed(self) -> int:
        """People to recognise to meet the targets: community and staff targets on their own headcounts."""
        t = self.targets
        return math.ceil(self.headcount_community * t.community + self.headcount_staff * t.staff - 1e-9)

    @property
    def target_recognised(self) -> float | None:
        """The combined target share for this subtree (the two targets weighted by headcount)."""
        return share(self.needed, self.headcount)

    @property
    def meets_target(self) -> bool | None:
        return None if self.headcount <= 0 else self.recognised >= self.needed

    @property
    def meets_digital(self) -> bool | None:
        s = self.share_digital
        return None if s is None else s >= self.targets.digital - 1e-9

    @property
    def unit_title(self) -> bool | None:
        """For a learning unit: whether its share reaches the "Đơn vị học tập" threshold; None elsewhere."""
        s = self.share_recognised
        if self.kind != UnitKind.LEARNING or s is None:
            return None
        return s >= self.targets.unit_title - 1e-9


@dataclass(frozen=True)
class IndicatorAverage:
    number: int
    points: int  # sum over the scored assessments
    count: int  # scored assessments

    @property
    def average(self) -> float | None:
        return self.points / self.count if self.count else None


@dataclass(frozen=True)
class Tally:
    year: int
    total: Figures  # the unit's whole subtree
    children: list[Figures]
    indicators: list[IndicatorAverage]  # 1..10
    pack: tuple[str, int] | None = None  # the pack most used by the scored assessments, to name indicators

    @property
    def own(self) -> Figures | None:
        """The unit's own members (in none of its children), or None when there are none; every count is
        additive over disjoint subtrees, so this is the total minus the children."""
        if not self.children:
            return None
        counts = {
            f.name: getattr(self.total, f.name) - sum(getattr(c, f.name) for c in self.children)
            for f in fields(Figures)
            if f.type == "int" and f.name != "unit_id"
        }
        return replace(self.total, **counts) if any(counts.values()) else None

    def weakest(self, n: int = 3) -> list[IndicatorAverage]:
        found = [i for i in self.indicators if i.count]
        return sorted(found, key=lambda i: (i.points / i.count, i.number))[:n]


# --------------------------------------------------------------------------- SQL pieces
#
# Every query reads the base tables directly (assessment, answer, unit, person) so both planners can use
# their indexes: SQLite would otherwise scan a grouped derived table once per row it is joined to.
# Figures per root are counted per unit first (each person and assessment once), then summed per root.


def _subtree(unit: Unit) -> Select:
    return select(Unit.id).where(col(Unit.path).startswith(unit.path))


def _year_end(year: int, zone: ZoneInfo) -> datetime:
    return datetime(year + 1, 1, 1, tzinfo=zone)


def _in_scope(unit: Unit, year: int, statuses: Iterable[str] | None = None) -> list[ColumnElement[bool]]:
    """The year's assessments in the subtree (optionally only in ``statuses``)."""
    where = [Assessment.year == year, col(Assessment.unit_id).in_(_subtree(unit))]
    if statuses is not None:
        where.append(col(Assessment.status).in_(list(statuses)))
    return where


def _points() -> ColumnElement[int]:
    """An answer's counted points, as ``scoring.indicator_points`` counts them: the team's points, else the
    chosen level if the indicator has evidence (an indexed probe), else 0."""
    evidenced = exists().where(Evidence.assessment_id == Answer.assessment_id, Evidence.indicator == Answer.indicator)
    return tc.answer_points(evidenced)


def _digital(rules: Sequence[DigitalRule]) -> ColumnElement[bool]:
    """True on an answer that shows digital skills under its assessment's pack."""
    if not rules:
        return false()
    points = _points()
    return or_(
        *[
            and_(
                Assessment.pack_id == r.pack_id,
                Assessment.pack_version == r.version,
                col(Answer.indicator).in_(r.indicators),
                points >= r.min_points,
            )
            for r in rules
        ]
    )


def _roll_up(per_unit: Any, root_ids: Sequence[int], columns: Sequence[str]) -> Select:
    """Sums per-unit figures into each root's subtree (a small join: one row per unit, not per person)."""
    r, u = aliased(Unit), aliased(Unit)
    return (
        select(r.id, *[func.coalesce(func.sum(per_unit.c[c]), 0) for c in columns])
        .select_from(per_unit)
        .join(u, u.id == per_unit.c.unit_id)
        .join(r, col(u.path).startswith(r.path))
        .where(col(r.id).in_(root_ids))
        .group_by(r.id)
    )


def _count_when(*conds: ColumnElement[bool]) -> ColumnElement[int]:
    return func.count(case((and_(*conds), literal(1))))


async def _for_reports(session: AsyncSession) -> None:
    """PostgreSQL compiles "expensive" queries to machine code (JIT) by default; for these queries the
    compiling costs more than it saves (0.5-1 s on a 50,000-person province), so it is switched off for
    the rest of the caller's (read-only) transaction."""
    if session.get_bind().dialect.name == "postgresql":
        await session.exec(text("SET LOCAL jit = off"))


# --------------------------------------------------------------------------- queries


async def children_of(*, session: AsyncSession, unit: Unit) -> list[Unit]:
    stmt = select(Unit).where(Unit.parent_id == unit.id).order_by(Unit.code)
    return list((await session.exec(stmt)).scalars().all())  # type: ignore[attr-defined]


STATUS_FIGURES = (
    "in_progress",
    "submitted",
    "returned",
    "reviewed",
    "recognised",
    "not_recognised",
    "staff",  # recognised in learning units
    "digital",  # recognised with digital skills
)


_PATH = re.compile(r"/(?:\d+/)*")


def _root_path(session: AsyncSession, unit: Unit) -> ColumnElement[str]:
    """For a unit of ``unit``'s subtree, the path of the root it is summed under: ``unit`` itself, or the direct
    child whose subtree holds it ("/1/" and "/1/4/9/" give "/1/4/"). Numbers are written into the SQL (they are
    lengths, not input), so PostgreSQL sees the same expression in the select list and in GROUP BY."""
    n = len(unit.path)
    rest = func.substr(Unit.path, literal_column(str(n + 1)))
    slash = literal_column("'/'")
    found = func.strpos(rest, slash) if session.get_bind().dialect.name == "postgresql" else func.instr(rest, slash)
    return func.substr(Unit.path, literal_column("1"), literal_column(str(n)) + found)


async def tally(*, session: AsyncSession, unit: Unit, year: int, registry: Registry, zone: ZoneInfo) -> Tally:
    """The figures of ``unit`` and of each direct child (each over its whole subtree) for ``year``, summed from
    the tally counters (storage.tally_counters) of the subtree's units: a few rows per unit, whatever the number
    of people. ``registry`` is the counters' business (the digital-skill rule is applied as they are kept)."""
    if zone.key != tc.ZONE.key:  # "registered" is counted by the calendar year of the counters' zone
        return await tally_from_rows(session=session, unit=unit, year=year, registry=registry, zone=zone)
    children = await children_of(session=session, unit=unit)
    roots = {u.path: u for u in [unit, *children]}
    targets = await targets_for(session=session, units=list(roots.values()), year=year)
    root = _root_path(session, unit).label("root")
    # The prefix written into the SQL: a planner that sees it range-scans ix_unit_path_prefix (a parameter
    # would leave a cached generic plan scanning every unit). A path is ids and slashes, checked here.
    if not _PATH.fullmatch(unit.path):
        raise ValueError(f"unit {unit.code} has a malformed path {unit.path!r}")
    in_subtree = col(Unit.path).like(literal_column(f"'{unit.path}%'"))
    learning = Unit.kind == UnitKind.LEARNING

    heads: dict[str, tuple[int, int]] = {}
    stmt = (
        select(root, func.sum(Unit.headcount), func.sum(case((learning, Unit.headcount), else_=0)))
        .where(in_subtree)
        .group_by(root)
    )
    for path, h, hs in (await session.exec(stmt)).all():
        heads[path] = (int(h or 0), int(hs or 0))

    # Each counter once; "joined" of the years up to this one (people registered since), the rest of this year.
    stmt = (
        select(root, TallyCount.figure, func.sum(TallyCount.n), func.sum(case((learning, TallyCount.n), else_=0)))
        .select_from(TallyCount)
        .join(Unit, col(Unit.id) == TallyCount.unit_id)
        .where(
            in_subtree,
            or_(TallyCount.year == year, and_(TallyCount.figure == "joined", col(TallyCount.year) < year)),
        )
        .group_by(root, TallyCount.figure)
    )
    counts: dict[str, dict[str, int]] = {path: {} for path in roots}
    staff: dict[str, int] = {}
    for path, figure, n, in_learning in (await session.exec(stmt)).all():
        if path not in counts:  # a unit under a child that is not one (cannot happen in a consistent tree)
            continue
        counts[path][figure] = int(n)
        if figure == f"status:{S.RECOGNISED}":
            staff[path] = int(in_learning)
    total: dict[str, int] = {}
    for found in counts.values():
        for figure, n in found.items():
            total[figure] = total.get(figure, 0) + n

    def figures(unit_: Unit, c: Mapping[str, int], h: tuple[int, int], recognised_staff: int) -> Figures:
        assert unit_.id is not None
        return Figures(
            unit_id=unit_.id,
            code=unit_.code,
            name=unit_.name,
            kind=unit_.kind,
            targets=targets[unit_.id],
            headcount=h[0],
            headcount_staff=h[1],
            registered=c.get("joined", 0) + c.get("registered", 0),
            in_progress=c.get("in_progress", 0),
            submitted=c.get(f"status:{S.SUBMITTED}", 0),
            returned=c.get(f"status:{S.RETURNED}", 0),
            reviewed=c.get(f"status:{S.REVIEWED}", 0),
            recognised=c.get(f"status:{S.RECOGNISED}", 0),
            not_recognised=c.get(f"status:{S.NOT_RECOGNISED}", 0),
            recognised_staff=recognised_staff,
            digital=c.get("digital", 0),
        )

    def subtree_heads(path: str) -> tuple[int, int]:
        found = [v for p, v in heads.items() if p.startswith(path)]
        return sum(h for h, _ in found), sum(hs for _, hs in found)

    scored = sum(total.get(f"status:{s}", 0) for s in SCORED)
    packs = []
    for figure, n in total.items():
        if figure.startswith("pack:") and n > 0:
            pack_id, _, version = figure.removeprefix("pack:").rpartition("@")
            packs.append((-n, pack_id, int(version)))
    return Tally(
        year=year,
        total=figures(unit, total, subtree_heads(unit.path), sum(staff.values())),
        children=[figures(c, counts[c.path], heads.get(c.path, (0, 0)), staff.get(c.path, 0)) for c in children],
        indicators=[IndicatorAverage(n, total.get(f"points:{n}", 0), scored) for n in range(1, INDICATOR_COUNT + 1)],
        pack=(min(packs)[1], min(packs)[2]) if packs else None,
    )


async def tally_from_rows(*, session: AsyncSession, unit: Unit, year: int, registry: Registry, zone: ZoneInfo) -> Tally:
    """``tally`` counted from the rows themselves (every person, assessment and answer of the subtree): what the
    counters must always agree with, and the way for a zone other than the counters' own."""
    await _for_reports(session)
    children = await children_of(session=session, unit=unit)
    roots = [unit, *children]
    root_ids = [u.id for u in roots if u.id is not None]
    targets = await targets_for(session=session, units=roots, year=year)

    # Headcount: the units' own headcounts, summed over each root's subtree.
    own = (
        select(
            Unit.id.label("unit_id"),  # type: ignore[union-attr]
            Unit.headcount.label("headcount"),
            case((Unit.kind == UnitKind.LEARNING, Unit.headcount), else_=0).label("staff"),
        )
        .where(col(Unit.path).startswith(unit.path))
        .subquery()
    )
    heads = {
        rid: (int(h), int(hs))
        for rid, h, hs in (await session.exec(_roll_up(own, root_ids, ["headcount", "staff"]))).all()
    }

    # Registered: consented people, counted in their assessment's unit, else their current unit.
    where_counted = func.coalesce(Assessment.unit_id, Person.unit_id)
    people = (
        select(where_counted.label("unit_id"), func.count(Person.id).label("n"))
        .select_from(Person)
        .outerjoin(Assessment, and_(Assessment.person_id == Person.id, Assessment.year == year))
        .where(
            col(Person.consent_at).is_not(None),
            or_(col(Person.consent_at) < _year_end(year, zone), col(Assessment.id).is_not(None)),
            where_counted.in_(_subtree(unit)),
        )
        .group_by(where_counted)
        .subquery()
    )
    registered = {rid: int(n) for rid, n in (await session.exec(_roll_up(people, root_ids, ["n"]))).all()}

    # Statuses per unit from the assessments; "in progress" (a draft with a level chosen) and "digital
    # skills" (of the recognised) per unit from their answers; the two sets of rows added up per root.
    st = Assessment.status
    zero = literal(0)
    names = STATUS_FIGURES
    from_assessments = (
        select(
            Assessment.unit_id.label("unit_id"),  # type: ignore[union-attr]
            zero.label(names[0]),
            *[_count_when(st == s).label(n) for s, n in zip(ASSESSED, names[1:6], strict=True)],
            _count_when(st == S.RECOGNISED, Unit.kind == UnitKind.LEARNING).label(names[6]),
            zero.label(names[7]),
        )
        .join(Unit, Unit.id == Assessment.unit_id)
        .where(*_in_scope(unit, year))
        .group_by(Assessment.unit_id)
    )

    def assessments_with(*conds: ColumnElement[bool]) -> ColumnElement[int]:
        return func.count(func.distinct(case((and_(*conds), Assessment.id))))

    from_answers = (
        select(
            Assessment.unit_id,
            assessments_with(st == S.DRAFT, col(Answer.chosen).is_not(None)),
            *[zero] * 6,
            assessments_with(st == S.RECOGNISED, _digital(digital_rules(registry))),
        )
        .select_from(Answer)
        .join(Assessment, Assessment.id == Answer.assessment_id)
        .where(*_in_scope(unit, year, (S.DRAFT, S.RECOGNISED)))
        .group_by(Assessment.unit_id)
    )
    per_unit = union_all(from_assessments, from_answers).subquery("per_unit")
    statuses = {
        row[0]: [int(v) for v in row[1:]] for row in (await session.exec(_roll_up(per_unit, root_ids, names))).all()
    }

    def figures(unit_: Unit) -> Figures:
        assert unit_.id is not None
        s = dict(zip(names, statuses.get(unit_.id, [0] * len(names)), strict=True))
        h, hs = heads.get(unit_.id, (0, 0))
        return Figures(
            unit_id=unit_.id,
            code=unit_.code,
            name=unit_.name,
            kind=unit_.kind,
            targets=targets[unit_.id],
            headcount=h,
            headcount_staff=hs,
            registered=registered.get(unit_.id, 0),
            in_progress=s["in_progress"],
            submitted=s["submitted"],
            returned=s["returned"],
            reviewed=s["reviewed"],
            recognised=s["recognised"],
            not_recognised=s["not_recognised"],
            recognised_staff=s["staff"],
            digital=s["digital"],
        )

    return Tally(
        year=year,
        total=figures(unit),
        children=[figures(c) for c in children],
        indicators=await indicator_averages(session=session, unit=unit, year=year),
        pack=await main_pack(session=session, unit=unit, year=year),
    )


async def _scored_count(session: AsyncSession, unit: Unit, year: int) -> int:
    return int((await session.exec(select(func.count(Assessment.id)).where(*_in_scope(unit, year, SCORED)))).one()[0])


async def indicator_averages(*, session: AsyncSession, unit: Unit, year: int) -> list[IndicatorAverage]:
    """Sum of points per indicator over the subtree's scored assessments (a missing answer counts 0)."""
    count = await _scored_count(session, unit, year)
    stmt = (
        select(Answer.indicator, func.coalesce(func.sum(_points()), 0))
        .select_from(Answer)
        .join(Assessment, Assessment.id == Answer.assessment_id)
        .where(*_in_scope(unit, year, SCORED))
        .group_by(Answer.indicator)
    )
    sums = {int(n): int(total) for n, total in (await session.exec(stmt)).all()}
    return [IndicatorAverage(n, sums.get(n, 0), count) for n in range(1, INDICATOR_COUNT + 1)]


async def main_pack(*, session: AsyncSession, unit: Unit, year: int) -> tuple[str, int] | None:
    n = func.count()
    stmt = (
        select(Assessment.pack_id, Assessment.pack_version, n)
        .where(*_in_scope(unit, year, SCORED), col(Assessment.pack_id).is_not(None))
        .group_by(Assessment.pack_id, Assessment.pack_version)
        .order_by(n.desc(), Assessment.pack_id, Assessment.pack_version)
        .limit(1)
    )
    found = (await session.exec(stmt)).first()
    return (found[0], int(found[1])) if found else None


async def totals_distribution(*, session: AsyncSession, unit: Unit, year: int) -> dict[int, int]:
    """Total points -> how many scored assessments have it (an assessment without answers totals 0)."""
    await _for_reports(session)
    sums = (
        select(func.sum(_points()).label("total"))
        .select_from(Answer)
        .join(Assessment, Assessment.id == Answer.assessment_id)
        .where(*_in_scope(unit, year, SCORED))
        .group_by(Answer.assessment_id)
        .subquery()
    )
    stmt = select(sums.c.total, func.count()).group_by(sums.c.total)
    found = {int(t): int(n) for t, n in (await session.exec(stmt)).all()}
    without_answers = await _scored_count(session, unit, year) - sum(found.values())
    if without_answers:
        found[0] = found.get(0, 0) + without_answers
    return found


@dataclass(frozen=True)
class Progress:
    """New hand-ins and recognitions per month (index 0 = January) of the year, local time."""

    year: int
    submitted: list[int] = field(default_factory=lambda: [0] * 12)
    recognised: list[int] = field(default_factory=lambda: [0] * 12)

    @staticmethod
    def cumulative(values: Sequence[int]) -> list[int]:
        out, running = [], 0
        for v in values:
            running += v
            out.append(running)
        return out


def _local_month(session: AsyncSession, column: ColumnElement[datetime], zone: ZoneInfo) -> ColumnElement[str]:
    """'YYYYMM' of a UTC timestamp in ``zone``. SQLite shifts by the zone's offset in the middle of the year,
    exact for zones without daylight saving such as Asia/Ho_Chi_Minh."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone(str(zone), column), "YYYYMM")
    offset = zone.utcoffset(datetime(2000, 7, 1)) or timedelta(0)
    return func.strftime("%Y%m", column, f"{int(offset.total_seconds() // 60):+d} minutes")


async def monthly_progress(*, session: AsyncSession, unit: Unit, year: int, zone: ZoneInfo) -> Progress:
    """Assessments handed in (by latest hand-in) and recognised (by decision date) per month of ``year``;
    anything dated after December (reports are due by 10 January) counts in December."""
    progress = Progress(year)
    in_scope = [Assessment.year == year, col(Assessment.unit_id).in_(_subtree(unit))]
    for target, stamp, statuses in (
        (progress.submitted, col(Assessment.submitted_at), ASSESSED),
        (
            progress.recognised,
            func.coalesce(Assessment.decision_date, Assessment.reviewed_at, Assessment.updated_at),
            (S.RECOGNISED,),
        ),
    ):
        month = _local_month(session, stamp, zone)
        stmt = (
            select(month, func.count())
            .where(*in_scope, col(Assessment.status).in_(statuses), stamp.is_not(None))
            .group_by(month)
        )
        for key, n in (await session.exec(stmt)).all():
            y, m = int(str(key)[:4]), int(str(key)[4:6])
            index = 0 if y < year else 11 if y > year else m - 1
            target[index] += int(n)
    return progress


# --------------------------------------------------------------------------- the list
#
# The list sheet names every assessment of the subtree: 200,000 rows for a province. It is streamed (a
# server-side cursor on PostgreSQL, fetchmany on SQLite) in batches of plain tuples, so a caller writing a file
# holds one batch at a time. The query reads each table once: evidence is summed per assessment first (how
# many files, and which indicators have one, as bits), so an answer's points need no probe per answer. On
# PostgreSQL the same sums are read per assessment by index after the sort, so rows stream out as they are made.

LIST_BATCH = 500  # rows a batch: the event loop decodes one batch at a time, so other updates wait at most that long


class ListRow(NamedTuple):
    """One assessment in the list sheet (a tuple: cheap to make 200,000 of)."""

    assessment_id: int
    person: str | None
    unit_code: str
    unit_name: str
    pack_id: str | None
    pack_version: int | None
    status: str
    points: tuple[int | None, ...]  # indicators 1..10; None when not answered
    evidence: int
    reviewer: str | None
    decision_no: str | None
    decision_date: datetime | None

    @property
    def total(self) -> int:
        return sum(p or 0 for p in self.points)


def _list_statement(session: AsyncSession, unit: Unit, year: int) -> Select:
    """Every assessment of ``year`` in the subtree (but expired drafts), by unit path, then name, then id."""
    listed = [s for s in S if s != S.EXPIRED]
    in_scope = select(Assessment.id).where(*_in_scope(unit, year, listed))
    bit = literal(1).op("<<")(Evidence.indicator)
    if session.get_bind().dialect.name == "postgresql":
        return _list_statement_lateral(unit, year, listed, bit)
    # SQLite has no bit_or: there the distinct powers of two of one assessment add up to the same bits.
    mask = func.sum(bit.distinct())
    files = (
        select(Evidence.assessment_id.label("assessment_id"), func.count().label("n"), mask.label("mask"))  # type: ignore[attr-defined]
        .where(col(Evidence.assessment_id).in_(in_scope))
        .group_by(Evidence.assessment_id)
        .cte("files")
    )
    points = tc.answer_points(files.c.mask.op(">>")(Answer.indicator).op("&")(1) == 1)  # the mask's bit
    numbers = range(1, INDICATOR_COUNT + 1)
    pivot = (
        select(
            Answer.assessment_id.label("assessment_id"),  # type: ignore[attr-defined]
            *[func.max(case((Answer.indicator == n, points))).label(f"p{n}") for n in numbers],
        )
        .select_from(Answer)
        .outerjoin(files, files.c.assessment_id == Answer.assessment_id)
        .where(col(Answer.assessment_id).in_(in_scope))
        .group_by(Answer.assessment_id)
        .subquery("points")
    )
    joins = [(pivot, pivot.c.assessment_id == Assessment.id), (files, files.c.assessment_id == Assessment.id)]
    return _list_rows(unit, year, listed, pivot, files, joins)


def _list_statement_lateral(unit: Unit, year: int, listed: list[S], bit: ColumnElement[int]) -> Select:
    """``_list_statement`` on PostgreSQL: the narrow rows (assessment, person, unit) are sorted first, then each
    one's evidence and points are read by index (LATERAL) as the cursor is read, so the first rows come after
    ~0.3 s instead of after the whole join (the 200,000-person province: 1.4 s of server time instead of 3.5 s,
    bench/RESULTS.md)."""
    files = (
        select(func.count().label("n"), func.bit_or(bit).label("mask"))
        .where(Evidence.assessment_id == Assessment.id)
        .correlate(Assessment)
        .lateral("files")
    )
    points = tc.answer_points(files.c.mask.op(">>")(Answer.indicator).op("&")(1) == 1)  # the mask's bit
    numbers = range(1, INDICATOR_COUNT + 1)
    pivot = (
        select(*[func.max(case((Answer.indicator == n, points))).label(f"p{n}") for n in numbers])
        .where(Answer.assessment_id == Assessment.id)
        .correlate(Assessment, files)
        .lateral("points")
    )
    return _list_rows(unit, year, listed, pivot, files, [(files, true()), (pivot, true())])


def _list_rows(
    unit: Unit,
    year: int,
    listed: list[S],
    pivot: FromClause,
    files: FromClause,
    joins: list[tuple[FromClause, ColumnElement[bool]]],
) -> Select:
    """The list's columns and order, over the points and files given and joined as ``joins`` says (a plain
    join on assessment id, or PostgreSQL's LATERAL)."""
    person, reviewer, u = aliased(Person), aliased(Person), aliased(Unit)
    stmt = (
        select(
            Assessment.id,
            person.full_name,
            u.code,
            u.name,
            Assessment.pack_id,
            Assessment.pack_version,
            Assessment.status,
            *[pivot.c[f"p{n}"] for n in range(1, INDICATOR_COUNT + 1)],
            func.coalesce(files.c.n, 0),
            func.coalesce(reviewer.full_name, reviewer.display_name),  # never registered: their messenger name
            Assessment.decision_no,
            Assessment.decision_date,
        )
        .select_from(Assessment)
        .join(person, person.id == Assessment.person_id)
        .join(u, u.id == Assessment.unit_id)
        .outerjoin(reviewer, reviewer.id == Assessment.reviewed_by)
    )
    for joined, on in joins:
        stmt = stmt.outerjoin(joined, on)
    return stmt.where(*_in_scope(unit, year, listed)).order_by(u.path, person.full_name, Assessment.id)


async def stream_list_rows(
    *, session: AsyncSession, unit: Unit, year: int, batch: int = LIST_BATCH
) -> AsyncIterator[list[ListRow]]:
    """The list sheet's rows in batches of up to ``batch``, read as the caller asks for them. The caller's
    transaction must stay open until the last batch (or until it closes the iterator)."""
    await _for_reports(session)
    k = 7 + INDICATOR_COUNT
    # On the session's connection, not session.stream: plain rows need none of the ORM's result machinery
    # (~10% of the reading's CPU).
    connection = await session.connection()
    result = await connection.stream(_list_statement(session, unit, year).execution_options(yield_per=batch))
    try:
        async for rows in result.partitions():
            yield [
                ListRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], tuple(r[7:k]), r[k], r[k + 1], r[k + 2], r[k + 3])
                for r in rows
            ]
    finally:
        await result.close()


async def list_rows(*, session: AsyncSession, unit: Unit, year: int) -> list[ListRow]:
    """``stream_list_rows`` read whole: for a unit small enough to hold in memory."""
    return [row async for rows in stream_list_rows(session=session, unit=unit, year=year) for row in rows]
