"""The desk commands for units and roles: ``cdht units add|import|rename|move|override|list``, ``cdht person
move``, ``cdht grant`` and ``cdht revoke``. Each is an async function over a session factory (tested on both
databases) plus a thin wrapper that opens the database as every desk command does (bot.cli_desk).

A role granted or revoked at the desk also brings the person's Telegram command menu in line
(bot.handlers.officer_help) when BOT_TOKEN is set: no chat is open there, so the desk calls the Bot API itself."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from telegram import Bot
from telegram.error import TelegramError
from telegram.request import BaseRequest

from bot.cli_desk import load_settings, run_desk, show
from bot.handlers import officer_help
from bot.replies import Plan
from bot.settings import Settings
from bot.telegram.menus import apply_menus
from conversations.criteria import PackError, Registry, default_registry
from conversations.identity import CONTACT_FORMS, Channel, Contact, parse_contact
from conversations.units import HEADCOUNT_MAX, code_problem, format_overrides, name_problem, parse_overrides
from storage import repo_people as rp
from storage import repo_roles as rr
from storage import repo_units as ru
from storage.db import Sessions, unit_of_work
from storage.models import RoleName, Unit
from storage.unit_import import ImportFileError, describe, parse_file

Result = tuple[int, list[str]]  # exit status, lines to print

ROLES = [r.value for r in RoleName]
PERSON_HELP = f"who: {CONTACT_FORMS}"


# --------------------------------------------------------------------------- the work


class _DryRun(Exception):
    def __init__(self, report: ru.ImportReport) -> None:
        super().__init__("dry run")
        self.report = report


def _override_problems(registry: Registry, overrides: dict[str, str]) -> list[str]:
    return [
        f"cdht: override {base}={pack}: {problem}"
        for base, pack in sorted(overrides.items())
        if (problem := registry.override_problem(base, pack)) is not None
    ]


async def units_add(
    sessions: Sessions,
    registry: Registry,
    code: str,
    name: str,
    *,
    parent_code: str | None = None,
    kind: str = "community",
    headcount: int = 0,
    overrides: Sequence[str] = (),
) -> Result:
    """Adds one unit; its code must fit a join link and be new, its parent must exist, its overrides must be
    packs that can replace the group pack they name."""
    if (problem := code_problem(code, name) or name_problem(name)) is not None:
        return 2, [f"cdht: {problem}"]
    if not 0 <= headcount <= HEADCOUNT_MAX:
        return 2, [f"cdht: the headcount must be a whole number from 0 to {HEADCOUNT_MAX:,}"]
    try:
        chosen = parse_overrides(";".join(overrides))
    except ValueError as exc:
        return 2, [f"cdht: {exc}"]
    if problems := _override_problems(registry, chosen):
        return 2, problems
    async with unit_of_work(sessions) as session:
        if (existing := await rp.find_unit(session=session, code=code)) is not None:
            return 2, [f"cdht: a unit with code {existing.code} already exists ({existing.name}); pick another code"]
        parent = None
        if parent_code:
            parent = await rp.find_unit(session=session, code=parent_code)
            if parent is None:
                return 2, [f"cdht: no unit with code {parent_code}: add the parent first (see cdht units list)"]
        unit = await rp.add_unit(
            session=session,
            code=code,
            name=name,
            kind=kind,
            parent=parent,
            headcount=headcount,
            pack_overrides=chosen,
        )
        return 0, [f"unit {unit.code} added: {unit.name}"]


async def units_override(
    sessions: Sessions, registry: Registry | None, code: str, *, spec: str | None = None, clear: str | None = None
) -> Result:
    """Shows, sets (``BASE=PACK``) or removes (``clear=BASE``) the packs a unit uses instead of the group packs.
    Clearing needs no registry, so an override whose pack is gone can always be removed."""
    try:
        wanted = parse_overrides(spec or "")
    except ValueError as exc:
        return 2, [f"cdht: {exc}"]
    if wanted:
        if registry is None:
            raise ValueError("setting an override needs the registry")
        if problems := _override_problems(registry, wanted):
            return 2, problems
    async with unit_of_work(sessions) as session:
        unit = await rp.find_unit(session=session, code=code)
        if unit is None:
            return 2, [f"cdht: no unit with code {code}"]
        current = dict(unit.pack_overrides or {})
        if clear is not None:
            if clear not in current:
                return 1, [f"cdht: unit {unit.code} has no override for {clear}"]
            del current[clear]
        current.update(wanted)
        if wanted or clear is not None:
            await ru.set_overrides(session=session, unit=unit, overrides=current, actor_id=None)
        return 0, [f"unit {unit.code}: " + (format_overrides(current) or "no overrides (the group packs)")]


async def units_import(
    sessions: Sessions, path: Path, *, dry_run: bool = False, registry: Registry | None = None
) -> Result:
    """Creates or updates the units listed in a CSV/XLSX file; bad rows are listed by line and left out.
    Overrides are checked against ``registry`` (the packs in the criteria folder when not given)."""
    try:
        registry = registry if registry is not None else default_registry()
    except PackError as exc:
        return 2, [f"cdht: {exc.summary()}"]
    try:
        parsed = parse_file(path, registry)
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
    if (problem := name_problem(name)) is not None:
        return 2, [f"cdht: {problem}"]
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
    """The tree depth-first, each unit indented under its parent."""
    async with unit_of_work(sessions) as session:
        root = None
        if code:
            root = await rp.find_unit(session=session, code=code)
            if root is None:
                return 2, [f"cdht: no unit with code {code}"]
        lines = []
        for depth, unit in await ru.tree(session=session, root=root):
            overrides = format_overrides(unit.pack_overrides or {})
            lines.append(
                f"{'  ' * depth}{unit.code}\t{unit.name}\t{unit.kind}\theadcount {unit.headcount}"
                + (f"\toverride {overrides}" if overrides else "")
            )
        return 0, lines or ["no units yet: cdht units import FILE"]


def _unknown(who: Contact) -> str:
    return f"cdht: nobody with {who.channel.capitalize()} id {who.external_id} has used the bot"


async def person_move(sessions: Sessions, who: Contact, code: str, year: int) -> Result:
    async with unit_of_work(sessions) as session:
        person = await rp.get_person(session=session, channel=who.channel, external_id=who.external_id, lock=True)
        if person is None:
            return 2, [_unknown(who)]
        unit = await rp.find_unit(session=session, code=code)
        if unit is None:
            return 2, [f"cdht: no unit with code {code}"]
        moved = await ru.move_person(session=session, person=person, unit=unit, year=year, actor_id=None)
        extra = f"; the {year} assessment moved with them" if moved else ""
        return 0, [f"person {who} moved to {unit.code}{extra}; earlier assessments keep their unit"]


async def role_change(
    sessions: Sessions,
    who: Contact,
    role: str,
    code: str | None,
    *,
    grant: bool,
    admin_ids: Iterable[Contact] = (),
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
        person = await rp.get_person(session=session, channel=who.channel, external_id=who.external_id, lock=True)
        if person is None:
            if not grant:
                return 2, [_unknown(who)]
            # Officers may be named before they ever open the bot: only their messenger and id are stored
            # (on Telegram, a person's private chat has their user id).
            telegram = who.channel == Channel.TELEGRAM
            person = await rp.create_person(
                session=session,
                channel=who.channel,
                external_id=who.external_id,
                chat_id=who.external_id if telegram else None,
                locale="vi",
            )
        where = unit.code if unit else "everywhere"
        if grant:
            await rr.grant_recorded(session=session, person=person, role=role, unit=unit, granted_by=None, via="cli")
            return 0, [f"{who} is {role} of {where}"]
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
            return 1, [f"{who} did not hold {role} of {where}"]
        links = f"; {voided} open role link(s) they made there voided" if voided else ""
        return 0, [f"{who} is no longer {role} of {where}{links}"]


async def role_change_and_menu(
    sessions: Sessions,
    settings: Settings,
    who: Contact,
    role: str,
    code: str | None,
    *,
    grant: bool,
    request: BaseRequest | None = None,
) -> Result:
    """``role_change``, then the person's Telegram menu: their roles' commands, or the default menu again once
    they hold none. The role change stands whatever Telegram answers; a failure is one more line."""
    status, lines = await role_change(sessions, who, role, code, grant=grant, admin_ids=settings.admin_ids)
    if status != 0 or who.channel != Channel.TELEGRAM or settings.bot_token is None:
        return status, lines
    async with sessions() as session:
        person = await rp.get_person(session=session, channel=who.channel, external_id=who.external_id)
        menu = (
            await officer_help.menu_after_change(session=session, person=person, admin_ids=settings.admin_ids)
            if person is not None
            else None
        )
    if menu is None:
        return status, lines
    # TELEGRAM_API_BASE_URL when set, else python-telegram-bot's own default (as bot.app builds it).
    where = {"base_url": settings.telegram_api_base_url} if settings.telegram_api_base_url else {}
    bot = Bot(settings.bot_token.get_secret_value(), request=request, **where)
    try:
        async with bot:
            await apply_menus(bot, Plan(menus=[menu]))
    except TelegramError as exc:  # Telegram unreachable: the menu follows at their next /help
        lines.append(f"cdht: their Telegram command menu was not updated ({type(exc).__name__}); /help will do it")
    return status, lines


# --------------------------------------------------------------------------- argparse wiring


def _run(work: Callable[[Sessions], Awaitable[Result]]) -> int:
    return show(*run_desk(lambda sessions, _settings: work(sessions)))


def _run_with_settings(work: Callable[[Sessions, Settings], Awaitable[Result]]) -> int:
    return show(*run_desk(work))


def run_with_packs(work: Callable[[Sessions, Registry], Awaitable[Result]]) -> int:
    """``_run`` for work that checks overrides: a criteria folder that cannot be loaded is one line."""
    try:
        registry = default_registry()
    except PackError as exc:
        return show(2, [f"cdht: {exc.summary()}"])
    return _run(lambda s: work(s, registry))


def contact(text: str) -> Contact:
    """An argparse type: a person as ``123456789`` (Telegram) or ``channel:id`` (``zalo:abc``)."""
    try:
        return parse_contact(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def headcount(text: str) -> int:
    """An argparse type: a whole number of people, 0 or more."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= HEADCOUNT_MAX:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of people (a whole number, 0 or more)")
    return value


def _this_year() -> int:
    return datetime.now(load_settings().zone).year


def _admin_ids() -> list[Contact]:
    from bot.cli import _settings

    return _settings().admin_ids


def register(sub: argparse._SubParsersAction, units: argparse._SubParsersAction) -> None:
    """Adds the unit subcommands to ``units`` and ``person``, ``grant``, ``revoke`` to ``sub``."""
    imp = units.add_parser("import", help="create or update units from a CSV or XLSX file (idempotent)")
    imp.add_argument("file", type=Path, help="columns: code, name, parent code, kind, headcount, override")
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
    ovr = units.add_parser("override", help="show, set or clear the packs a unit uses instead of the group packs")
    ovr.add_argument("code")
    ovr.add_argument("spec", nargs="?", help="BASE=PACK, e.g. phu-luc-iv=phu-luc-iv-i67")
    ovr.add_argument("--clear", metavar="BASE", help="go back to the group pack BASE, e.g. phu-luc-iv")
    ovr.set_defaults(func=_override_command)
    lst = units.add_parser("list", help="print the unit tree")
    lst.add_argument("code", nargs="?")
    lst.set_defaults(func=lambda a: _run(lambda s: units_list(s, a.code)))

    person = sub.add_parser("person", help="people").add_subparsers(dest="person_command", required=True)
    pmove = person.add_parser("move", help="move a person to another unit, keeping their history")
    pmove.add_argument("person", type=contact, help=PERSON_HELP)
    pmove.add_argument("unit_code")
    pmove.add_argument("--year", type=int, help="the cycle whose open assessment follows (default: this year)")
    pmove.set_defaults(func=lambda a: _run(lambda s: person_move(s, a.person, a.unit_code, a.year or _this_year())))

    for name, granting in (("grant", True), ("revoke", False)):
        cmd = sub.add_parser(name, help=f"{name} a role (admin: everywhere; others: on a unit's subtree)")
        cmd.add_argument("person", type=contact, help=PERSON_HELP)
        cmd.add_argument("role", choices=ROLES)
        cmd.add_argument("unit_code", nargs="?")
        cmd.set_defaults(
            func=lambda a, g=granting: _run_with_settings(
                lambda s, settings: role_change_and_menu(s, settings, a.person, a.role, a.unit_code, grant=g)
            )
        )


def _override_command(a: argparse.Namespace) -> int:
    if a.spec:
        return run_with_packs(lambda s, r: units_override(s, r, a.code, spec=a.spec, clear=a.clear))
    return _run(lambda s: units_override(s, None, a.code, clear=a.clear))
