"""The unit tree: import, rename, move (rewriting the materialised paths of a whole subtree), the packs a unit
uses instead of the group packs (checked against the criteria registry), and moving a person between units while
their past assessments keep the unit they were made in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import func, literal, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations.criteria import Registry
from storage import repo_assessments as ra
from storage import repo_people as rp
from storage import tally_counters as tc
from storage.models import Assessment, AssessmentStatus, Person, Unit, utcnow
from storage.unit_import import UnitRow

# An assessment not yet decided follows its person to a new unit; a reviewed or decided one stays.
OPEN_STATUSES = (AssessmentStatus.DRAFT, AssessmentStatus.SUBMITTED, AssessmentStatus.RETURNED)


class UnitError(ValueError):
    """A change the tree cannot take (a unit moved under itself)."""


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)


async def units_by_code(*, session: AsyncSession, codes: Sequence[str]) -> dict[str, Unit]:
    wanted = sorted({c.upper() for c in codes})
    if not wanted:
        return {}
    found = (await session.exec(select(Unit).where(func.upper(Unit.code).in_(wanted)))).all()
    return {u.code.upper(): u for u in found}


async def has_units_below(*, session: AsyncSession, unit: Unit) -> bool:
    """Whether any unit hangs under ``unit`` (so "and the units below it" says something true)."""
    return (await session.exec(select(Unit.id).where(Unit.parent_id == unit.id).limit(1))).first() is not None


async def tree(*, session: AsyncSession, root: Unit | None = None) -> list[tuple[int, Unit]]:
    """(depth, unit) depth-first: every unit right after its parent, siblings by code; the whole tree or
    ``root``'s subtree (``root`` at depth 0)."""
    stmt = select(Unit)
    if root is not None:
        stmt = stmt.where(col(Unit.path).startswith(root.path))
    units = list((await session.exec(stmt)).all())
    ids = {u.id for u in units}
    children: dict[int | None, list[Unit]] = {}
    for unit in units:
        # A unit whose parent lies outside the listing starts a tree of its own.
        children.setdefault(unit.parent_id if unit.parent_id in ids else None, []).append(unit)
    out: list[tuple[int, Unit]] = []
    stack = [(0, u) for u in sorted(children.get(None, []), key=lambda u: u.code, reverse=True)]
    while stack:
        depth, unit = stack.pop()
        out.append((depth, unit))
        stack.extend((depth + 1, c) for c in sorted(children.get(unit.id, []), key=lambda u: u.code, reverse=True))
    return out


async def set_overrides(*, session: AsyncSession, unit: Unit, overrides: dict[str, str], actor_id: int | None) -> bool:
    """Replaces the packs ``unit`` uses instead of the group packs (checked by the caller); audited.
    Returns whether anything changed."""
    before = dict(unit.pack_overrides or {})
    if before == overrides:
        return False
    unit.pack_overrides = dict(overrides)  # a new dict: the JSON column does not track changes inside one
    await ra.record_audit(
        session=session,
        action="unit_overrides",
        actor_id=actor_id,
        assessment_id=None,
        before={"unit": unit.code, "overrides": before},
        after={"unit": unit.code, "overrides": unit.pack_overrides},
    )
    await session.flush()
    return True


async def check_unit_overrides(*, session: AsyncSession, registry: Registry) -> list[str]:
    """One line per stored unit override the loaded packs cannot serve (its pack was removed or renamed):
    a citizen of that unit could not start an assessment. Empty when all is well."""
    rows = (await session.exec(select(Unit.code, Unit.pack_overrides).order_by(Unit.code))).all()
    lines = []
    for code, overrides in rows:
        for base, pack in sorted((overrides or {}).items()):
            if (problem := registry.override_problem(base, pack)) is not None:
                lines.append(
                    f"unit {code} uses {pack} instead of {base}: {problem}"
                    f" (fix: cdht unit override {code} {base}=PACK, or cdht unit override {code} --clear {base})"
                )
    return lines


async def rename_unit(*, session: AsyncSession, unit: Unit, name: str) -> None:
    unit.name = " ".join(name.split())
    await session.flush()


async def move_unit(*, session: AsyncSession, unit: Unit, parent: Unit | None) -> int:
    """Puts ``unit`` (and its subtree) under ``parent`` (None: the top); returns how many paths changed."""
    if parent is not None and parent.path.startswith(unit.path):
        raise UnitError(f"{parent.code} lies inside {unit.code}: a unit cannot move under itself")
    old = unit.path
    new = f"{parent.path if parent else '/'}{unit.id}/"
    unit.parent_id = parent.id if parent else None
    await session.flush()
    if new == old:
        return 0
    # One statement for the whole subtree: "/1/4/9/" -> "/2/4/9/" keeps each unit's tail after the old prefix.
    result = await session.exec(
        update(Unit)
        .where(col(Unit.path).startswith(old))
        .values(path=literal(new) + func.substr(Unit.path, len(old) + 1))
        .execution_options(synchronize_session=False)
    )
    await session.refresh(unit)
    # Units of the subtree already loaded in this session would show their old path: reload them.
    for other in list(session.identity_map.values()):
        if isinstance(other, Unit) and other is not unit and other.path.startswith(old):
            await session.refresh(other)
    return result.rowcount or 0


async def import_units(*, session: AsyncSession, rows: Sequence[UnitRow]) -> ImportReport:
    """Creates or updates units from checked rows; idempotent. Parents may come after their children in the
    file; a row whose parent is unknown, or that would close a loop, is reported and left out."""
    report = ImportReport()
    stored = await units_by_code(session=session, codes=[r.code for r in rows] + [r.parent_code or "" for r in rows])
    by_code = {r.code: r for r in rows}
    # Leave out rows whose parent is neither in the file nor stored, until nothing changes.
    dropped: dict[str, str] = {}
    changed = True
    while changed:
        changed = False
        for row in rows:
            if row.code in dropped or row.parent_code is None:
                continue
            parent_ok = (row.parent_code in by_code and row.parent_code not in dropped) or row.parent_code in stored
            if not parent_ok:
                dropped[row.code] = f"parent code {row.parent_code} is not in the file nor among the units"
                changed = True
    # The parent each code will have after the import (file rows win over what is stored).
    parent_of: dict[str, str | None] = {}
    for row in rows:
        if row.code not in dropped:
            parent_of[row.code] = row.parent_code
    for row in rows:
        if row.code in dropped:
            continue
        if _loops(row.code, parent_of, stored):
            dropped[row.code] = f"parent code {row.parent_code} would put the unit under itself"
    for row in rows:
        if row.code in dropped:
            report.errors.append((row.line, dropped[row.code]))
    # Parents before children: depth in the new tree.
    kept = [r for r in rows if r.code not in dropped]
    kept.sort(key=lambda r: (_depth(r.code, parent_of, stored), r.line))
    for row in kept:
        await _apply(session, row, stored, report)
    return report


def _ancestor(code: str, parent_of: dict[str, str | None], stored: dict[str, Unit]) -> str | None:
    if code in parent_of:
        return parent_of[code]
    return None  # a stored unit not in the file: its own parents are consistent already


def _loops(code: str, parent_of: dict[str, str | None], stored: dict[str, Unit]) -> bool:
    seen = {code}
    current = parent_of.get(code)
    while current is not None:
        if current in seen:
            return True
        seen.add(current)
        current = _ancestor(current, parent_of, stored)
    return False


def _depth(code: str, parent_of: dict[str, str | None], stored: dict[str, Unit]) -> int:
    depth, current, seen = 0, parent_of.get(code), {code}
    while current is not None and current not in seen:
        seen.add(current)
        depth += 1
        current = _ancestor(current, parent_of, stored)
    return depth


async def _apply(session: AsyncSession, row: UnitRow, stored: dict[str, Unit], report: ImportReport) -> None:
    parent = stored[row.parent_code] if row.parent_code else None
    unit = stored.get(row.code)
    if unit is None:
        stored[row.code] = await rp.add_unit(
            session=session,
            code=row.code,
            name=row.name,
            kind=row.kind,
            parent=parent,
            headcount=row.headcount or 0,
            pack_overrides=row.overrides,
        )
        report.created.append(row.code)
        return
    changes = False
    if unit.parent_id != (parent.id if parent else None):
        try:
            await move_unit(session=session, unit=unit, parent=parent)
        except UnitError:
            report.errors.append((row.line, f"parent code {row.parent_code} would put the unit under itself"))
            return
        changes = True
    if unit.name != row.name:
        unit.name, changes = row.name, True
    if unit.kind != row.kind:
        unit.kind, changes = row.kind, True
    if row.headcount is not None and unit.headcount != row.headcount:
        unit.headcount, changes = row.headcount, True
    if row.overrides is not None and await set_overrides(
        session=session, unit=unit, overrides=row.overrides, actor_id=None
    ):
        changes = True
    await session.flush()
    (report.updated if changes else report.unchanged).append(row.code)


async def move_person(
    *, session: AsyncSession, person: Person, unit: Unit, year: int, actor_id: int | None
) -> Assessment | None:
    """Moves ``person`` to ``unit``; the open assessment of ``year`` follows them, older ones keep their unit.
    Returns the assessment that moved, if any. The move is written to the audit trail."""
    before_unit = await rp.get_unit(session=session, unit_id=person.unit_id) if person.unit_id else None
    counted = await tc.person_counts(session, person, committed=True)
    person.unit_id = unit.id
    person.pending_code = None
    moved = await ra.get_assessment(session=session, person_id=person.id or 0, year=year)
    if moved is not None and moved.status in OPEN_STATUSES:
        moved.unit_id = unit.id
        moved.updated_at = utcnow()
    else:
        moved = None
    await ra.record_audit(
        session=session,
        action="person_moved",
        actor_id=actor_id,
        assessment_id=moved.id if moved else None,
        before={"person_id": person.id, "unit": before_unit.code if before_unit else None},
        after={"person_id": person.id, "unit": unit.code},
    )
    await session.flush()
    await tc.count_change(session, counted, await tc.person_counts(session, person))
    return moved
