"""``cdht export --unit CODE [--year YEAR] [--csv] [--out FILE]``: the report ``/export`` sends, written to a
file by an officer at a desk with access to the database (``DATABASE_URL``), so no role is checked here.

The work is an async function over a session factory (tested on both databases); ``cmd_export`` wraps it.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bot import exports
from conversations.criteria import default_registry
from locales import SUPPORTED
from storage import repo_people as rp
from storage.db import Sessions, ensure_schema, is_sqlite, make_engine, make_sessions, normalise_url, unit_of_work

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
    """Writes the XLSX (or the two CSV files) for unit ``code`` and ``year``; returns what to print."""
    async with unit_of_work(sessions) as session:
        unit = await rp.find_unit(session=session, code=code)
        if unit is None:
            return 2, [f"cdht: no unit with code {code}"]
        report = await exports.gather(
            session=session, unit=unit, year=year, registry=default_registry(), zone=zone, now=now
        )
    written = await asyncio.to_thread(write_files, report, as_csv=as_csv, out=out, locale=locale, zone=zone)
    t = report.tally.total
    summary = (
        f"{report.unit_code} {year}: headcount {t.headcount}, registered {t.registered}, assessed {t.assessed}, "
        f"recognised {t.recognised}, {len(report.rows)} rows"
    )
    return 0, [summary, *(f"written: {p}" for p in written)]


def write_files(report: exports.Report, *, as_csv: bool, out: Path | None, locale: str, zone: ZoneInfo) -> list[Path]:
    """Writes the XLSX, or the two CSV files; ``--out`` names a file or a folder (for CSV, a file's stem
    prefixes both names)."""
    if not as_csv:
        path = out or Path(exports.file_name(report, locale, "report", "xlsx"))
        if path.is_dir():
            path = path / exports.file_name(report, locale, "report", "xlsx")
        path.write_bytes(exports.xlsx(report, locale, zone))
        return [path]
    written = []
    for name, content in exports.csv_files(report, locale, zone):
        if out is None:
            path = Path(name)
        elif out.is_dir():
            path = out / name
        else:
            path = out.with_name(f"{out.stem}-{name}")
        path.write_bytes(content)
        written.append(path)
    return written


def cmd_export(args: argparse.Namespace) -> int:
    from bot.cli import _settings

    settings = _settings()
    now = datetime.now(UTC)

    async def go() -> Result:
        engine = make_engine(settings.database_url)
        try:
            await ensure_schema(engine, auto_upgrade=is_sqlite(normalise_url(settings.database_url)))
            return await export_report(
                make_sessions(engine),
                args.unit,
                args.year or now.astimezone(settings.zone).year,
                as_csv=args.csv,
                out=args.out,
                locale=args.lang or settings.default_locale,
                zone=settings.zone,
                now=now,
            )
        finally:
            await engine.dispose()

    status, lines = asyncio.run(go())
    for line in lines:
        print(line)
    return status


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="write a unit's yearly report (XLSX with summary and list sheets, or CSV)")
    p.add_argument("--unit", required=True, help="the unit's code; the report covers its whole subtree")
    p.add_argument("--year", type=int, help="the assessed year (default: this year)")
    p.add_argument("--csv", action="store_true", help="two CSV files (UTF-8 with BOM) instead of one XLSX")
    p.add_argument("--out", type=Path, help="file (or folder) to write; default: bao-cao-CODE-YEAR.xlsx here")
    p.add_argument("--lang", choices=SUPPORTED, help="language of the headers (default: DEFAULT_LOCALE)")
    p.set_defaults(func=cmd_export)
