"""The desk commands for units and roles: ``cdht units import|rename|move|list``, ``cdht person move``,
``cdht grant`` and ``cdht revoke``. Each is an async function over a session factory (tested on both
databases) plus a thin wrapper that opens the database as every desk command does (bot.cli_desk)."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

from bot.cli_desk import load_settings, run_desk, show
from storage import repo_people as rp
from storage import repo_roles as rr
from storage import repo_units as ru
from storage.db import Sessions, unit_of_work
from storage.models import RoleName, Unit
from storage.unit_import import ImportFileError, describe, parse_file

Result = tuple[int, list[str]]  # exit status, lines to print

ROLES = [r.value for r in RoleName]


# --------------------------------------------------------------------------- the work


class _DryRun(Exception):
    def __init__(self, report: ru.ImportReport) -> None:
        super().__init__("dry run")
        self.report = report


async def units_import(sessions: Sessions, path: Path, *, dry_run: bool = False) -> Result:
    """Creates or updates the units listed in a CSV/XLSX file; bad rows are listed by line and left out."""
    try:
        parsed = parse_file(path)
    except (ImportFileError, OSError, ValueError) as exc:
        return 2, [f"cdht: cannot read {path.name}: {exc}"]
    try:
        async with unit_of_work(sessions) as session:
            report = await ru.import_units(session=session, rows=parsed.rows)
            if dry_run:
                raise _DryRun(report)  # leaving the unit of work by an error rolls it back
    except _DryRun as dry:
        report = dry.report
    errors = sorted(parsed.errors + report.errors)
    lines = [
        f"{'would create' if dry_run else 'created'} {len(report.created)}, "
        f"{'would update' if dry_run else 'updated'} {len(report.updated)}, "
        f"unchanged {len(report.unchanged)}, rows with errors {len(errors)}"
    ]
    lines += [f"  {line}" for line in describe(errors)]
    return (1 if errors else 0), lines


async def units_rename(sessions: Sessions, code: str, name: str) -> Result:
    if not name.strip():
        return 2, ["cdht: the new name is empty"]
    async with unit_of_work(sessions) as session:
        unit = await rp.find_unit(session=session, code=code)
        if unit is None:
            return 2, [f"cdht: no unit with code {code}"]
        old = unit.name
        await ru.rename_unit(session=session, unit=unit, name=name)
        return 0, [f"unit {unit.code}: {old} -> {unit.name}"]


async def units_move(sessions: Sessions, code: str, parent_code: str) -> Result:
    """Moves a unit (with everything under it) under another; ``-`` puts it at the top."""
    async with unit_of_work(sessions) as session:
        unit = await rp.find_unit(session=session, code=code)
        if unit is None:
            return 2, [f"cdht: no unit with code {code}"]
        parent = None
        if parent_code != "-":
            parent = await rp.find_unit(session=session, code=parent_code)
            if parent is None:
                return 2, [f"cdht: no unit with code {parent_code}"]
        try:
            changed = await ru.move_unit(session=session, unit=unit, parent=parent)
        except ru.UnitError as exc:
            return 2, [f"cdht: {exc}"]
        where = parent.code if parent else "the top"
        return 0, [f"unit {unit.code} moved under {where} ({changed} unit(s) in its subtree)"]


async def units_list(sessions: Sessions, code: str | None) -> Result:
    async with unit_of_work(sessions) as session:
        if code:
            root = await rp.find_unit(session=session, code=code)
            if root is None:
                return 2, [f"cdht: no unit with code {code}"]
            roots = [root]
        else:
            roots = await ru.top_units(session=session)
        lines = []
        for root in roots:
            for unit in await ru.subtree(session=session, unit=root):
                depth = unit.path.count("/") - root.path.count("/")
                lines.append(f"{'  ' * depth}{unit.code}\t{unit.name}\t{unit.kind}\theadcount {unit.headcount}")
        return 0, lines or ["no units yet: cdht units import FILE"]


async def person_move(sessions: Sessions, telegram_id: int, code: str, year: int) -> Result:
    async with unit_of_work(sessions) as session:
        person = await rp.get_person(session=session, telegram_id=telegram_id, lock=True)
        if person is None:
            return 2, [f"cdht: nobody with Telegram id {telegram_id} has used the bot"]
        unit = await rp.find_unit(session=session, code=code)
        if unit is None:
            return 2, [f"cdht: no unit with code {code}"]
        moved = await ru.move_person(session=session, person=person, unit=unit, year=year, actor_id=None)
        extra = f"; the {year} assessment moved with them" if moved else ""
        return 0, [f"person {telegram_id} moved to {unit.code}{extra}; earlier assessments keep their unit"]


async def role_change(
    sessions: Sessions,
    telegram_id: int,
    role: str,
    code: str | None,
    *,
    grant: bool,
    admin_ids: Iterable[int] = (),
    now: datetime | None = None,
) -> Result:
    """Grants or revokes ``role``: admin without a unit (everywhere), the others on a unit's subtree.

    Revoking also voids the open role links the person made that no role of theirs (nor ADMIN_IDS) backs now.
    """
    if role == RoleName.ADMIN and code:
        return 2, ["cdht: the admin role holds everywhere; give no unit code"]
    if role != RoleName.ADMIN and not code:
        return 2, [f"cdht: the {role} role needs a unit code"]
    async with unit_of_work(sessions) as session:
        unit: Unit | None = None
        if code:
            unit = await rp.find_unit(session=session, code=code)
            if unit is None:
                return 2, [f"cdht: no unit with code {code}"]
        person = await rp.get_person(session=session, telegram_id=telegram_id, lock=True)
        if person is None:
            if not grant:
                return 2, [f"cdht: nobody with Telegram id {telegram_id} has used the bot"]
            # Officers may be named before they ever open the bot: only the Telegram id is stored.
            person = await rp.create_person(session=session, telegram_id=telegram_id, chat_id=telegram_id, locale="vi")
        where = unit.code if unit else "everywhere"
        if grant:
            await rr.grant_recorded(session=session, person=person, role=role, unit=unit, granted_by=None, via="cli")
            return 0, [f"{telegram_id} is {role} of {where}"]
        voided = await rr.revoke_recorded(
            session=session,
            person=person,
            role=role,
            unit=unit,
            revoked_by=None,
            via="cli",
            now=now or datetime.now(UTC),
            admin_ids=admin_ids,
        )
        if voided is None:
            return 1, [f"{telegram_id} did not hold {role} of {where}"]
        links = f"; {voided} open role link(s) they made there voided" if voided else ""
        return 0, [f"{telegram_id} is no longer {role} of {where}{links}"]


# --------------------------------------------------------------------------- argparse wiring


def _run(work: Callable[[Sessions], Awaitable[Result]]) -> int:
    return show(*run_desk(lambda sessions, _settings: work(sessions)))


def _this_year() -> int:
    return datetime.now(load_settings().zone).year


def _admin_ids() -> list[int]:
    from bot.cli import _settings

    return _settings().admin_ids


def register(sub: argparse._SubParsersAction, units: argparse._SubParsersAction) -> None:
    """Adds the unit subcommands to ``units`` and ``person``, ``grant``, ``revoke`` to ``sub``."""
    imp = units.add_parser("import", help="create or update units from a CSV or XLSX file (idempotent)")
    imp.add_argument("file", type=Path, help="columns: code, name, parent code, kind, headcount")
    imp.add_argument("--dry-run", action="store_true", help="check the file and report, change nothing")
    imp.set_defaults(func=lambda a: _run(lambda s: units_import(s, a.file, dry_run=a.dry_run)))
    ren = units.add_parser("rename", help="rename a unit")
    ren.add_argument("code")
    ren.add_argument("name")
    ren.set_defaults(func=lambda a: _run(lambda s: units_rename(s, a.code, a.name)))
    mov = units.add_parser("move", help="move a unit and its subtree under another unit ('-': to the top)")
    mov.add_argument("code")
    mov.add_argument("new_parent")
    mov.set_defaults(func=lambda a: _run(lambda s: units_move(s, a.code, a.new_parent)))
    lst = units.add_parser("list", help="print the unit tree")
    lst.add_argument("code", nargs="?")
    lst.set_defaults(func=lambda a: _run(lambda s: units_list(s, a.code)))

    person = sub.add_parser("person", help="people").add_subparsers(dest="person_command", required=True)
    pmove = person.add_parser("move", help="move a person to another unit, keeping their history")
    pmove.add_argument("telegram_id", type=int)
    pmove.add_argument("unit_code")
    pmove.add_argument("--year", type=int, help="the cycle whose open assessment follows (default: this year)")
    pmove.set_defaults(
        func=lambda a: _run(lambda s: person_move(s, a.telegram_id, a.unit_code, a.year or _this_year()))
    )

    for name, granting in (("grant", True), ("revoke", False)):
        cmd = sub.add_parser(name, help=f"{name} a role (admin: everywhere; others: on a unit's subtree)")
        cmd.add_argument("telegram_id", type=int)
        cmd.add_argument("role", choices=ROLES)
        cmd.add_argument("unit_code", nargs="?")
        cmd.set_defaults(
            func=lambda a, g=granting: _run(
                lambda s: role_change(s, a.telegram_id, a.role, a.unit_code, grant=g, admin_ids=_admin_ids())
            )
        )
