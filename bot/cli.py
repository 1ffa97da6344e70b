"""The ``cdht`` command: run the bot, migrate the database, check criteria packs, manage units."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from bot import cli_desk, cli_evidence, cli_officers, cli_reminders, cli_reports, cli_tally
from bot.settings import Settings
from conversations.criteria import PackError, load_file, scan_packs
from storage.db import (
    SchemaNotReady,
    current_revision,
    open_database,
    upgrade,
)


def _settings() -> Settings:
    return cli_desk.load_settings()


def cmd_run(args: argparse.Namespace) -> int:
    settings = _settings()
    if settings.bot_token is None and settings.zalo_bot_token is None:
        print(
            "cdht: set BOT_TOKEN (Telegram, from @BotFather) or ZALO_BOT_TOKEN (Zalo, from Zalo Bot Creator), or both",
            file=sys.stderr,
        )
        return 2
    if settings.webhook_url and settings.webhook_secret is None:
        print("cdht: set WEBHOOK_SECRET (any long random string) together with WEBHOOK_URL", file=sys.stderr)
        return 2
    if settings.zalo_webhook_url and settings.zalo_webhook_secret is None:
        print("cdht: set ZALO_WEBHOOK_SECRET (8 to 256 characters) together with ZALO_WEBHOOK_URL", file=sys.stderr)
        return 2
    from bot.server import StartupError, run_logging, serve

    try:
        with run_logging(settings):
            asyncio.run(serve(settings))  # one event loop for the engine, the bot, its jobs and the web server
    except SchemaNotReady as exc:
        print(f"cdht: {exc}", file=sys.stderr)
        return 3
    except StartupError as exc:
        for line in exc.lines:
            print(f"cdht: {line}", file=sys.stderr)
        return 1
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    settings = _settings()

    async def go() -> tuple[list[str], str | None]:
        async with open_database(settings.database_url, check_schema=False) as engine:
            applied = await upgrade(engine)
            return applied, await current_revision(engine)

    applied, now_at = asyncio.run(go())
    if applied:
        print(f"applied {len(applied)} migration{'s' if len(applied) > 1 else ''} (now at {now_at})")
    else:
        print(f"already up to date ({now_at})")
    return 0


def cmd_criteria_check(args: argparse.Namespace) -> int:
    """Checks each file against the packs in the criteria folder; a broken file there is named on one line but
    does not stop the check (an override is checked against the packs that did load)."""
    registry, broken = scan_packs()
    checked = {path.resolve() for path in args.files}
    status = 0
    for error in broken:
        if Path(error.source).resolve() not in checked:  # a checked file gets its full listing below
            status = 1
            print(f"cdht: {error.summary()}", file=sys.stderr)
    for path in args.files:
        try:
            pack = load_file(path, registry)
            first = registry.file_of(pack.key) if pack.key in registry else None
            if pack.key in registry and (first is None or Path(first).resolve() != path.resolve()):
                where = f" from {first}" if first else ""
                raise PackError(str(path), [f"{pack.id} version {pack.version} is already loaded{where}"])
        except PackError as exc:
            status = 1
            print(f"{exc.source}: {len(exc.problems)} problem(s)")
            for problem in exc.problems:
                print(f"  - {problem}")
            continue
        print(
            f"{path}: OK — {pack.id} version {pack.version}, {len(pack.indicators)} indicators"
            + (" (reconstructed wording)" if pack.reconstructed else "")
        )
    return status


def cmd_criteria_list(args: argparse.Namespace) -> int:
    """The newest version of each usable pack; each file that cannot be used is one line on stderr."""
    registry, broken = scan_packs()
    for pack_id in registry.ids():
        pack = registry.latest(pack_id)
        groups = ", ".join(g.code for g in pack.groups) or "—"
        print(f"{pack.id}@{pack.version}\t{pack.title.vi}\tgroups: {groups}")
    for error in broken:
        print(f"cdht: {error.summary()}", file=sys.stderr)
    return 1 if broken else 0


def cmd_unit_add(args: argparse.Namespace) -> int:
    return cli_officers.run_with_packs(
        lambda sessions, registry: cli_officers.units_add(
            sessions,
            registry,
            args.code,
            args.name,
            parent_code=args.parent,
            kind=args.kind,
            headcount=args.headcount,
            overrides=args.override or (),
        )
    )


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cdht", description="Công dân học tập — Telegram self-assessment bot")
    p.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = p.add_subparsers(dest="command", required=True)
    run_help = "run the bot: webhooks when WEBHOOK_URL or ZALO_WEBHOOK_URL is set, else long polling"
    sub.add_parser("run", help=run_help).set_defaults(func=cmd_run)
    db = sub.add_parser("db", help="database schema").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="apply all migrations to DATABASE_URL").set_defaults(func=cmd_db_upgrade)
    crit = sub.add_parser("criteria", help="criteria packs").add_subparsers(dest="criteria_command", required=True)
    check = crit.add_parser("check", help="validate pack or override YAML files")
    check.add_argument("files", nargs="+", type=Path)
    check.set_defaults(func=cmd_criteria_check)
    crit.add_parser("list", help="list the packs shipped").set_defaults(func=cmd_criteria_list)
    unit = sub.add_parser("unit", aliases=["units"], help="units").add_subparsers(dest="unit_command", required=True)
    add = unit.add_parser("add", help="add a unit with its join code")
    add.add_argument("code")
    add.add_argument("name")
    add.add_argument("--parent")
    add.add_argument("--kind", default="community", choices=["province", "commune", "community", "learning"])
    add.add_argument(
        "--headcount",
        type=cli_officers.headcount,
        default=0,
        help="people who belong directly to this unit (not to the units under it); reports add them up the tree",
    )
    add.add_argument("--override", action="append", help="BASE=PACK, e.g. phu-luc-iv=phu-luc-iv-i67")
    add.set_defaults(func=cmd_unit_add)
    cli_officers.register(sub, unit)  # units import|rename|move|list, person move, grant, revoke
    cli_reports.register(sub)  # export
    cli_reminders.register(sub)  # reminders status|plan
    cli_evidence.register(sub)  # evidence sweep
    cli_tally.register(sub)  # tally CODE, tally rebuild
    return p


def _version() -> str:
    try:
        return metadata.version("cdht")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "(not installed)"


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except Exception as exc:
        # One line for what an operator can fix (database unreachable or unmigrated, a bad DATABASE_URL, a
        # missing folder...); anything else is a bug and keeps its traceback.
        known = cli_desk.failure(exc)
        if known is None:
            raise
        status, message = known
        print(f"cdht: {message}", file=sys.stderr)
        return status


if __name__ == "__main__":
    raise SystemExit(main())
