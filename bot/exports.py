"""Report files an officer sends upward: an XLSX workbook (a "Tổng hợp" summary sheet in the shape of the
upward report, Biểu mẫu 2, and a "Danh sách" sheet with each person's points) or the same two tables as CSV.

Telegram-free, so ``cdht export`` at a desk builds exactly what ``/export`` sends. Every header comes from the
officer's catalog (locales/*/LC_MESSAGES/reports.po). CSV is UTF-8 with a byte-order mark, which is how Excel
knows to read Vietnamese letters correctly.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date
from babel.numbers import format_percent
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations.criteria import INDICATOR_COUNT, Registry
from locales import gettext
from storage import repo_reports as rr
from storage.models import Unit
from storage.repo_reports import Figures, ListRow, Tally

PERCENT = "0.0%"
DAY = "DD/MM/YYYY"
# Text typed by people (unit names, decision numbers) must never become a formula in the officer's Excel.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Report:
    """Everything one report holds, read in one transaction."""

    unit_code: str
    unit_name: str
    year: int
    tally: Tally
    rows: list[ListRow]
    made_at: datetime  # aware


async def gather(
    *, session: AsyncSession, unit: Unit, year: int, registry: Registry, zone: ZoneInfo, now: datetime
) -> Report:
    tally = await rr.tally(session=session, unit=unit, year=year, registry=registry, zone=zone)
    rows = await rr.list_rows(session=session, unit=unit, year=year)
    return Report(unit.code, unit.name, year, tally, rows, now)


def file_name(report: Report, locale: str, part: str, ext: str) -> str:
    """E.g. ``bao-cao-XA1-2026.xlsx``; ``part`` is a reports.file.* key suffix."""
    code = re.sub(r"[^A-Za-z0-9_-]", "_", report.unit_code)  # codes come from officers' files
    return f"{gettext('reports.file.' + part, locale)}-{code}-{report.year}.{ext}"


# --------------------------------------------------------------------------- the tables, as plain values


def pct(value: float | None, locale: str) -> str:
    return "" if value is None else format_percent(value, "#,##0.#%", locale=locale)


def _met(flag: bool | None, locale: str) -> str:
    return "" if flag is None else gettext("reports.yes" if flag else "reports.no", locale)


SUMMARY_COLUMNS = (
    "no",
    "code",
    "unit",
    "headcount",
    "registered",
    "in_progress",
    "assessed",
    "team",
    "recognised",
    "share",
    "target",
    "met",
    "share_community",
    "share_staff",
    "digital",
    "share_digital",
    "target_digital",
)
SHARE_COLUMNS = frozenset({"share", "target", "share_community", "share_staff", "share_digital", "target_digital"})


def summary_header(locale: str) -> list[str]:
    return [gettext(f"reports.col.{c}", locale) for c in SUMMARY_COLUMNS]


def summary_lines(report: Report, locale: str) -> Iterator[tuple[bool, list[Any]]]:
    """(is the total row, values in SUMMARY_COLUMNS order); shares as fractions, None when undefined."""
    t = report.tally
    lines: list[tuple[Any, str, Figures, bool]] = [(i, f.name, f, False) for i, f in enumerate(t.children, 1)]
    if (own := t.own) is not None:
        lines.append((len(lines) + 1, gettext("reports.tally.own", locale, name=report.unit_name), own, False))
    lines.append(("", gettext("reports.col.total_row", locale), t.total, True))
    for no, name, f, is_total in lines:
        yield (
            is_total,
            [
                no,
                f.code,
                name,
                f.headcount,
                f.registered,
                f.in_progress,
                f.assessed,
                f.reviewed + f.recognised + f.not_recognised,
                f.recognised,
                f.share_recognised,
                f.target_recognised,
                _met(f.meets_target, locale),
                f.share_community,
                f.share_staff,
                f.digital,
                f.share_digital,
                f.targets.digital,
            ],
        )


def list_header(locale: str) -> list[str]:
    return [
        gettext("reports.col.no", locale),
        gettext("reports.col.person", locale),
        gettext("reports.col.code", locale),
        gettext("reports.col.unit", locale),
        gettext("reports.col.pack", locale),
        *[gettext("reports.col.indicator", locale, n=n) for n in range(1, INDICATOR_COUNT + 1)],
        gettext("reports.col.total", locale),
        gettext("reports.col.result", locale),
        gettext("reports.col.evidence", locale),
        gettext("reports.col.reviewer", locale),
        gettext("reports.col.decision_no", locale),
        gettext("reports.col.decision_date", locale),
    ]


def list_lines(report: Report, locale: str, zone: ZoneInfo) -> Iterator[list[Any]]:
    for i, r in enumerate(report.rows, 1):
        yield [
            i,
            r.person or "—",
            r.unit_code,
            r.unit_name,
            f"{r.pack_id} v{r.pack_version}" if r.pack_id else "",
            *r.points,
            r.total,
            gettext(f"reports.status.{r.status}", locale),
            r.evidence,
            r.reviewer or "",
            r.decision_no or "",
            r.decision_date.astimezone(zone).date() if r.decision_date else None,
        ]


def _day(value: date, locale: str) -> str:
    return format_date(value, "dd/MM/yyyy", locale=locale)


def title_lines(report: Report, locale: str, zone: ZoneInfo) -> list[str]:
    t = report.tally.total.targets
    return [
        gettext("reports.xlsx.form", locale),
        gettext("reports.xlsx.title", locale, year=report.year),
        gettext("reports.xlsx.unit", locale, unit=report.unit_name, code=report.unit_code),
        gettext("reports.xlsx.date", locale, date=_day(report.made_at.astimezone(zone).date(), locale)),
        gettext(
            "reports.xlsx.targets",
            locale,
            horizon=t.horizon,
            community=pct(t.community, locale),
            staff=pct(t.staff, locale),
            digital=pct(t.digital, locale),
        ),
        gettext("reports.xlsx.note", locale),
    ]


# --------------------------------------------------------------------------- XLSX


def _inert_cell(ws: WriteOnlyWorksheet, value: Any) -> Any:
    """A value as it should land in a cell: text starting with "=" stays text, not a formula."""
    if isinstance(value, str) and value.startswith("="):
        cell = WriteOnlyCell(ws, value=value)
        cell.data_type = "s"
        return cell
    return value


def _cell(
    ws: WriteOnlyWorksheet,
    value: Any,
    *,
    bold: bool = False,
    fmt: str | None = None,
    wrap: bool = False,
    text: bool = False,
) -> WriteOnlyCell:
    """A styled cell; ``text``: a string starting with "=" stays text (see FORMULA_START)."""
    cell = WriteOnlyCell(ws, value=value)
    if text and isinstance(value, str) and value.startswith("="):
        cell.data_type = "s"
    if bold:
        cell.font = Font(bold=True)
    if fmt:
        cell.number_format = fmt
    if wrap:
        cell.alignment = Alignment(wrap_text=True, vertical="center", horizontal="center")
    return cell


def xlsx(report: Report, locale: str, zone: ZoneInfo) -> bytes:
    """The workbook: the summary sheet (title block, then one row per child unit and the total) and the list."""
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(gettext("reports.sheet.summary", locale))
    widths = [6, 12, 34, 12, 12, 11, 13, 13, 13, 12, 11, 12, 14, 14, 12, 13, 13]
    for i, w in enumerate(widths, 1):
        ws.column_dimensions[get_column_letter(i)].width = w
    ws.freeze_panes = "D9"
    titles = title_lines(report, locale, zone)
    ws.append([_cell(ws, titles[0])])
    ws.append([_cell(ws, titles[1], bold=True)])
    for line in titles[2:]:
        ws.append([_cell(ws, line)])
    ws.append([])
    ws.append([_cell(ws, h, bold=True, wrap=True) for h in summary_header(locale)])
    for is_total, values in summary_lines(report, locale):
        ws.append(
            [
                _cell(ws, v, bold=is_total, fmt=PERCENT if c in SHARE_COLUMNS else None, text=True)
                for c, v in zip(SUMMARY_COLUMNS, values, strict=True)
            ]
        )

    ls = wb.create_sheet(gettext("reports.sheet.list", locale))
    header = list_header(locale)
    for i, w in enumerate([6, 28, 10, 26, 16, *[6] * INDICATOR_COUNT, 9, 26, 10, 24, 16, 14], 1):
        ls.column_dimensions[get_column_letter(i)].width = w
    ls.freeze_panes = "C2"
    ls.auto_filter.ref = f"A1:{get_column_letter(len(header))}{len(report.rows) + 1}"
    ls.append([_cell(ls, h, bold=True, wrap=True) for h in header])
    last = len(header) - 1
    for values in list_lines(report, locale, zone):
        if values[last] is not None:
            values[last] = _cell(ls, values[last], fmt=DAY)
        ls.append([_inert_cell(ls, v) for v in values])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


# --------------------------------------------------------------------------- CSV


def _inert(value: Any) -> Any:
    """Text that Excel would run as a formula gets a leading apostrophe (OWASP's advice for CSV)."""
    if isinstance(value, str) and len(value) > 1 and value.startswith(FORMULA_START):
        return "'" + value
    return value


def _csv(header: list[str], lines: Iterator[list[Any]]) -> bytes:
    buf = io.StringIO(newline="")
    writer = csv.writer(buf)
    writer.writerow(header)
    writer.writerows([_inert(v) for v in line] for line in lines)
    return buf.getvalue().encode("utf-8-sig")


def csv_files(report: Report, locale: str, zone: ZoneInfo) -> list[tuple[str, bytes]]:
    """Two files, (name, content): the summary table and the list; shares as "29,4%", dates as dd/mm/yyyy."""

    def summary() -> Iterator[list[Any]]:
        for _, values in summary_lines(report, locale):
            yield [pct(v, locale) if c in SHARE_COLUMNS else v for c, v in zip(SUMMARY_COLUMNS, values, strict=True)]

    def listing() -> Iterator[list[Any]]:
        for values in list_lines(report, locale, zone):
            values[-1] = _day(values[-1], locale) if values[-1] else ""
            yield ["" if v is None else v for v in values]

    return [
        (file_name(report, locale, "summary", "csv"), _csv(summary_header(locale), summary())),
        (file_name(report, locale, "list", "csv"), _csv(list_header(locale), listing())),
    ]
