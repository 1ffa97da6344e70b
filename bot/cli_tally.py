"""``cdht tally CODE [--year YEAR] [--json]``: a unit's yearly figures for an officer at a desk (the figures
``/tally`` shows, from the same counters), and ``cdht tally rebuild``: recount the counters from the rows.

No role is checked: whoever holds ``DATABASE_URL`` sees everything anyway. The word ``rebuild`` in lower case
is the command; a unit coded REBUILD is asked for in capitals.

The work is async functions over a session factory (tested on both databases); ``cmd_tally`` wraps them.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.cli_desk import run_desk, show
from bot.settings import Settings
from conversations.criteria import default_registry
from storage import repo_people as rp
from storage import repo_reports as rr
from storage import tally_counters as tc
from storage.db import Sessions, unit_of_work

Result = tuple[int, list[str]]  # exit status, lines to print
REBUILD = "rebuild"


async def rebuild(sessions: Sessions) -> Result:
    """Recounts every counter from the tables in one transaction (writers wait meanwhile, then add theirs)."""
    start = time.perf_counter()
    async with unit_of_work(sessions) as session:
        rows = await tc.rebuild(session, default_registry())
    return 0, [f"tally counters rebuilt from the stored rows: {rows} rows in {time.perf_counter() - start:.1f} s"]


async def tally(sessions: Sessions, code: str, year: int, *, as_json: bool, zone: ZoneInfo) -> Result:
    async with sessions() as session:
        unit = await rp.find_unit(session=session, code=code)
        if unit is None:
            return 2, [f"cdht: no unit with code {code}"]
        found = await rr.tally(session=session, unit=unit, year=year, registry=default_registry(), zone=zone)
    if as_json:
        return 0, [json.dumps(as_dict(found), ensure_ascii=False, indent=2)]
    return 0, lines(found)


def _share(part: int, whole: int) -> str:
    return f"{part}/{whole} = {part / whole:.1%}" if whole > 0 else f"{part}/{whole}"


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def lines(t: rr.Tally) -> list[str]:
    """The tally as plain lines: the subtree's figures, then one tab-separated line per child and the unit's own."""
    f = t.total
    out = [
        f"{f.code} {f.name} — {t.year}",
        f"headcount {f.headcount} (staff {f.headcount_staff}) · registered {f.registered}"
        f" · in progress {f.in_progress}",
        f"assessed {f.assessed}: submitted {f.submitted}, returned {f.returned}, reviewed {f.reviewed}, "
        f"recognised {f.recognised}, not recognised {f.not_recognised}",
        f"recognised {_share(f.recognised, f.headcount)} (target {_percent(f.target_recognised)}, "
        f"{max(0, f.needed - f.recognised)} more needed)"
        f" · community {_share(f.recognised_community, f.headcount_community)}"
        f" · staff {_share(f.recognised_staff, f.headcount_staff)}",
        f"digital skills {_share(f.digital, f.recognised)} of the recognised (target {_percent(f.targets.digital)})",
    ]
    weakest = ", ".join(f"{i.number} ({i.average:.2f})" for i in t.weakest() if i.average is not None)
    if weakest:
        out.append(f"weakest indicators: {weakest}" + (f" · pack {t.pack[0]}@{t.pack[1]}" if t.pack else ""))
    rows = [*t.children, *([t.own] if t.own is not None else [])]
    if rows:
        out.append("")
        out.append("code\tname\theadcount\tregistered\tassessed\trecognised\tshare\ttarget")
        for c in rows:
            name = c.name if c is not t.own else f"{c.name} (own members)"
            out.append(
                f"{c.code}\t{name}\t{c.headcount}\t{c.registered}\t{c.assessed}\t{c.recognised}\t"
                f"{_percent(c.share_recognised)}\t{_percent(c.target_recognised)}"
            )
    return out


def _figures(f: rr.Figures) -> dict[str, Any]:
    return {
        "code": f.code,
        "name": f.name,
        "kind": f.kind,
        "headcount": f.headcount,
        "headcount_staff": f.headcount_staff,
        "registered": f.registered,
        "in_progress": f.in_progress,
        "submitted": f.submitted,
        "returned": f.returned,
        "reviewed": f.reviewed,
        "recognised": f.recognised,
        "not_recognised": f.not_recognised,
        "assessed": f.assessed,
        "recognised_staff": f.recognised_staff,
        "digital": f.digital,
        "needed": f.needed,
        "share_recognised": f.share_recognised,
        "target_recognised": f.target_recognised,
        "share_digital": f.share_digital,
        "meets_target": f.meets_target,
        "unit_title": f.unit_title,
        "targets": {
            "horizon": f.targets.horizon,
            "community": f.targets.community,
            "staff": f.targets.staff,
            "digital": f.targets.digital,
            "unit_title": f.targets.unit_title,
        },
    }


def as_dict(t: rr.Tally) -> dict[str, Any]:
    return {
        "year": t.year,
        "total": _figures(t.total),
        "children": [_figures(c) for c in t.children],
        "own": _figures(t.own) if t.own is not None else None,
        "indicators": [
            {"number": i.number, "points": i.points, "count": i.count, "average": i.average} for i in t.indicators
        ],
        "pack": {"id": t.pack[0], "version": t.pack[1]} if t.pack else None,
    }


def cmd_tally(args: argparse.Namespace) -> int:
    if args.code == REBUILD:
        if args.year is not None or args.json:
            return show(2, ["cdht: tally rebuild takes no --year nor --json: it recounts every year"])

        async def recount(sessions: Sessions, settings: Settings) -> Result:
            return await rebuild(sessions)

        return show(*run_desk(recount))
    now = datetime.now(UTC)

    async def go(sessions: Sessions, settings: Settings) -> Result:
        year = args.year or now.astimezone(settings.zone).year
        return await tally(sessions, args.code, year, as_json=args.json, zone=settings.zone)

    return show(*run_desk(go))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "tally",
        help="a unit's yearly figures (its subtree, each child), or 'rebuild': recount the tally counters",
        description="cdht tally CODE [--year YEAR] [--json] | cdht tally rebuild",
    )
    p.add_argument("code", help="the unit's code, or 'rebuild' to recount the counters from the stored rows")
    p.add_argument("--year", type=int, help="the assessed year (default: this year)")
    p.add_argument("--json", action="store_true", help="the figures as JSON")
    p.set_defaults(func=cmd_tally)
