"""``cdht evidence sweep [--dry-run]``: removes evidence files that no row points to (a download whose row never
committed, a file an interrupted erasure left) and stale temporary files, as the bot's daily job does; prints
one line of counts, never a name.

The work is an async function over a session factory (tested on both databases); ``cmd_sweep`` wraps it.
"""

from __future__ import annotations

import argparse

from bot import evidence as ev
from bot.cli_desk import EXIT_FAILED, DeskError, run_desk, show
from bot.settings import Settings
from storage.db import Sessions


async def sweep_now(sessions: Sessions, settings: Settings, *, dry_run: bool) -> list[str]:
    try:
        report = await ev.sweep(sessions, settings.evidence_dir, dry_run=dry_run)
    except ev.SweepRefused as exc:
        raise DeskError(str(exc), EXIT_FAILED) from exc
    return [report.line(dry_run)]


def cmd_sweep(args: argparse.Namespace) -> int:
    return show(0, run_desk(lambda sessions, settings: sweep_now(sessions, settings, dry_run=args.dry_run)))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evidence", help="evidence files under EVIDENCE_DIR")
    commands = p.add_subparsers(dest="evidence_command", required=True)
    sweep = commands.add_parser(
        "sweep", help="remove files no evidence row points to, and temporary files older than an hour"
    )
    sweep.add_argument("--dry-run", action="store_true", help="count what would go, change nothing")
    sweep.set_defaults(func=cmd_sweep)
