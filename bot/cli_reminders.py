"""``cdht reminders status`` (what the outbox holds) and ``cdht reminders plan`` (run the planning once now),
on ``DATABASE_URL``: for an operator checking that reminders are owed and sent as configured.

The work is async functions over a session factory (tested on both databases); the ``cmd_`` functions wrap them.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from bot.cli_desk import run_desk, show
from bot.reminders import policy_for
from bot.settings import Settings
from scheduler import jobs
from storage import repo_outbox as ro
from storage.db import Sessions


async def outbox_status(sessions: Sessions, settings: Settings) -> list[str]:
    """One line per kind and status: how many rows, and the earliest due time (local)."""
    async with sessions() as session:
        found = await ro.summary(session=session)
    if not found:
        return ["outbox: empty"]
    lines = [f"{'kind':<18} {'status':<10} {'rows':>8}  earliest due ({settings.timezone})"]
    for kind, status, count, due in found:
        when = due.astimezone(settings.zone).strftime("%d/%m/%Y %H:%M") if due else "—"
        lines.append(f"{kind:<18} {status:<10} {count:>8}  {when}")
    return lines


async def plan_now(sessions: Sessions, settings: Settings, now: datetime) -> list[str]:
    """Runs one planning pass, exactly as the bot's job does."""
    report = await jobs.plan(sessions=sessions, policy=policy_for(settings), now=now)
    return [
        f"planned {report.reminders} reminders and {report.notices} officer notices; "
        f"year rollover: {report.expired} unfinished assessments expired, {report.cancelled} reminders withdrawn"
    ]


def _run(work: Callable[[Sessions, Settings], Awaitable[list[str]]]) -> int:
    return show(0, run_desk(work))


def cmd_status(args: argparse.Namespace) -> int:
    return _run(outbox_status)


def cmd_plan(args: argparse.Namespace) -> int:
    return _run(lambda sessions, settings: plan_now(sessions, settings, datetime.now(UTC)))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reminders", help="reminders, notices and broadcasts waiting in the outbox")
    commands = p.add_subparsers(dest="reminders_command", required=True)
    commands.add_parser("status", help="rows in the outbox by kind and status").set_defaults(func=cmd_status)
    commands.add_parser("plan", help="owe now whatever reminders and notices are due").set_defaults(func=cmd_plan)
