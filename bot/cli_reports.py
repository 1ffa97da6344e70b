"""``cdht export --unit CODE [--year YEAR] [--csv] [--out FILE]``: the report ``/export`` sends, written to a
file by an officer at a desk with access to the database (``DATABASE_URL``), so no role is checked here.

The work is an async function over a session factory (tested on both databases); ``cmd_export`` wraps it.

The format follows ``--out``'s suffix when it has one: ``--out report.csv`` writes CSV even without ``--csv``
(the name says what the operator wants, and a spreadsheet program would refuse XLSX bytes in a ``.csv``); a
suffix that contradicts ``--csv``, or names neither format, is refused with one line.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.cli_desk import DeskError, run_desk, show
from bot.settings import Settings
from conversations.criteria import default_registry
from locales import SUPPORTED
from reports import exports
from storage import repo_people as rp
from storage.db import Sessions, unit_of_work

Result = tuple[int, list[str]]  # exit status, lines to print


async def export_report(
    sessions: Sessions,
    code: str,
    year: int,
    *,
    as_csv: bool,
    out: Path | None,
    locale: str,
    zone: ZoneInfo,
    now: datetime,
) -> Result:
    """Writes the XLSX (or the two CSV files) for unit ``code`` and ``year``; returns what to print. A bad
    ``out`` raises DeskError before anything is read."""
    as_csv = choose_format(out, as_csv=as_csv)
    async with unit_of_work(sessions) as session:
        unit = await rp.find_unit(session=session, code=code)
        if unit is None:
            return 2, [f"cdht: no unit with code {code}"]
        assert unit.id is not None
        unit_id = unit.id
    export = await exports.build_export(
        sessions,
        unit_id=unit_id,
        year=year,
        registry=default_registry(),
        zone=zone,
        locale=locale,
        now=now,
        as_csv=as_csv,
    )
    written = await asyncio.to_thread(write_files, export, out=out)
    t = export.report.tally.total
    summary = (
        f"{export.report.unit_code} {year}: headcount {t.headcount}, registered {t.registered}, "
        f"assessed {t.assessed}, recognised {t.recognised}, {export.people} rows"
    )
    return 0, [summary, *(f"written: {p}" for p in written)]


def choose_format(out: Path | None, *, as_csv: bool) -> bool:
    """Whether to write CSV: ``out``'s suffix decides (``.csv`` or ``.xlsx``), ``--csv`` otherwise (no ``out``,
    or an existing folder). Raises DeskError for a folder that does not exist or a contradicting suffix."""
    if out is None or out.is_dir():
        return as_csv
    if not out.parent.is_dir():
        raise DeskError(f"the folder {out.parent} does not exist: create it, or choose another --out")
    suffix = out.suffix.lower()
    if suffix == ".csv":
        return True
    if suffix == ".xlsx" and as_csv:
        raise DeskError(f"--csv writes CSV files but --out {out} names an XLSX file: drop --csv, or name a .csv file")
    if suffix == ".xlsx":
        return False
    if not suffix:
        raise DeskError(f"the folder {out} does not exist: create it, or name a .xlsx or .csv file as --out")
    raise DeskError(f"--out {out}: name a .xlsx or .csv file, or an existing folder")


def write_files(export: exports.Export, *, out: Path | None) -> list[Path]:
    """Writes the XLSX, or the two CSV files; ``--out`` names a file or a folder (for CSV, a file's stem
    prefixes both names)."""
    written = []
    for file in export.files:
        if out is None:
            path = Path(file.name)
        elif out.is_dir():
            path = out / file.name
        elif file.mime == exports.XLSX_MIME:
            path = out
        else:
            path = out.with_name(f"{out.stem}-{file.name}")
        path.write_bytes(file.content)
        written.append(path)
    return written


def cmd_export(args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    choose_format(args.out, as_csv=args.csv)  # a bad --out is refused before the database is opened

    async def go(sessions: Sessions, settings: Settings) -> Result:
        return await export_report(
            sessions,
            args.unit,
            args.year or now.astimezone(settings.zone).year,
            as_csv=args.csv,
            out=args.out,
            locale=args.lang or settings.default_locale,
            zone=settings.zone,
            now=now,
        )

    return show(*run_desk(go))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="write a unit's yearly report (XLSX with summary and list sheets, or CSV)")
    p.add_argument("--unit", required=True, help="the unit's code; the report covers its whole subtree")
    p.add_argument("--year", type=int, help="the assessed year (default: this year)")
    p.add_argument("--csv", action="store_true", help="two CSV files (UTF-8 with BOM) instead of one XLSX")
    p.add_argument(
        "--out",
        type=Path,
        help="an existing folder, or a .xlsx or .csv file (its suffix chooses the format); "
        "default: bao-cao-CODE-YEAR.xlsx here",
    )
    p.add_argument("--lang", choices=SUPPORTED, help="language of the headers (default: DEFAULT_LOCALE)")
    p.set_defaults(func=cmd_export)
