"""Report files an officer sends upward: an XLSX workbook (a "Tổng hợp" summary sheet in the shape of the
upward report, Biểu mẫu 2, and a "Danh sách" sheet with each person's points) or the same two tables as CSV.

Telegram-free, so ``cdht export`` at a desk builds exactly what ``/export`` sends. Every header comes from the
officer's catalog (locales/*/LC_MESSAGES/reports.po). CSV is UTF-8 with a byte-order mark, which is how Excel
knows to read Vietnamese letters correctly.

A province lists 200,000 people, so the list is streamed: ``build_export`` reads it from the database in
batches (``rr.stream_list_rows``) and a worker thread writes each batch into the file as it arrives
(``reports.xlsx_stream``), asking the event loop for the next batch only when it is ready for it. Memory holds a
batch or two and the compressed file, never the table, and the event loop stays free for other updates.
"""

from __future__ import annotations

import asyncio
import codecs
import csv
import io
import re
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import IO, Any, Generic, TypeVar
from zoneinfo import ZoneInfo

from babel.dates import format_date
from babel.numbers import format_percent
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations.criteria import INDICATOR_COUNT, Registry
from locales import gettext
from reports.xlsx_stream import Style, XlsxStream, column_letter
from storage import repo_reports as rr
from storage.db import Sessions
from storage.models import Unit
from storage.repo_reports import Figures, ListRow, Tally

PERCENT = "0.0%"
DAY = "DD/MM/YYYY"
# Text typed by people (unit names, decision numbers) must never become a formula in the officer's Excel.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MIME = "text/csv"


@dataclass(frozen=True)
class Report:
    """Everything one report holds, read in one transaction. ``rows`` is the whole list only for ``gather``'s
    callers (small units, tests); ``build_export`` streams the list instead and leaves it empty."""

    unit_code: str
    unit_name: str
    year: int
    tally: Tally
    rows: list[ListRow]
    made_at: datetime  # aware
    packs: Registry | None = None  # names the list's criteria packs ("Phụ lục I"); None: by id and version


async def gather(
    *, session: AsyncSession, unit: Unit, year: int, registry: Registry, zone: ZoneInfo, now: datetime
) -> Report:
    """The report with its whole list in memory (use ``build_export`` for anything province-sized)."""
    tally = await rr.tally(session=session, unit=unit, year=year, registry=registry, zone=zone)
    rows = await rr.list_rows(session=session, unit=unit, year=year)
    return Report(unit.code, unit.name, year, tally, rows, now, registry)


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


def pack_name(packs: Registry | None, pack_id: str, version: int, locale: str) -> str:
    """A pack as people call it ("Phụ lục I"); by id and version when the registry no longer has it."""
    try:
        if packs is not None:
            return packs.get(pack_id, version).short_title.get(locale)
    except KeyError:
        pass
    return f"{pack_id} v{version}"


def list_lines(
    batches: Iterable[Sequence[ListRow]], locale: str, zone: ZoneInfo, packs: Registry | None = None
) -> Iterator[list[list[Any]]]:
    """The list sheet's lines, one batch of them per batch of rows; the decision date as a local date."""
    statuses: dict[str, str] = {}
    pack_names: dict[tuple[str, int], str] = {}
    number = 0
    for rows in batches:
        lines = []
        for r in rows:
            number += 1
            status = statuses.get(r.status)
            if status is None:
                status = statuses[r.status] = gettext(f"reports.status.{r.status}", locale)
            pack = ""
            if r.pack_id:
                key = (r.pack_id, r.pack_version or 0)
                pack = pack_names.get(key) or pack_names.setdefault(key, pack_name(packs, *key, locale))
            lines.append(
                [
                    number,
                    r.person or "—",
                    r.unit_code,
                    r.unit_name,
                    pack,
                    *r.points,
                    sum(filter(None, r.points)),  # the unanswered (None) left out
                    status,
                    r.evidence,
                    r.reviewer or "",
                    r.decision_no or "",
                    r.decision_date.astimezone(zone).date() if r.decision_date else None,
                ]
            )
        yield lines


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

SUMMARY_WIDTHS = (6, 12, 34, 12, 12, 11, 13, 13, 13, 12, 11, 12, 14, 14, 12, 13, 13)
LIST_WIDTHS = (6, 28, 10, 26, 16, *[6] * INDICATOR_COUNT, 9, 26, 10, 24, 16, 14)


def write_xlsx(
    out: IO[bytes], report: Report, batches: Iterable[Sequence[ListRow]], locale: str, zone: ZoneInfo
) -> int:
    """Writes the workbook to ``out``: the summary sheet (title block, then one row per child unit and the
    total), then the list, one batch of ``batches`` at a time. Returns the number of people listed."""
    book = XlsxStream(out)
    plain, bold = 0, book.style(Style(bold=True))
    heading = book.style(Style(bold=True, wrap=True))
    share, share_total = book.style(Style(number_format=PERCENT)), book.style(Style(bold=True, number_format=PERCENT))
    day = book.style(Style(number_format=DAY))

    ws = book.sheet(gettext("reports.sheet.summary", locale), widths=SUMMARY_WIDTHS, freeze="D9")
    titles = title_lines(report, locale, zone)
    ws.append(titles[:1])
    ws.append(titles[1:2], [bold])
    for line in titles[2:]:
        ws.append([line])
    ws.append([])
    ws.append(summary_header(locale), [heading] * len(SUMMARY_COLUMNS))
    shares = [c in SHARE_COLUMNS for c in SUMMARY_COLUMNS]
    for is_total, values in summary_lines(report, locale):
        styles = [(share_total if s else bold) if is_total else (share if s else plain) for s in shares]
        ws.append(["" if v is None else v for v in values], styles)  # "": an empty cell that keeps its style

    header = list_header(locale)
    ls = book.sheet(gettext("reports.sheet.list", locale), widths=LIST_WIDTHS, freeze="C2")
    ls.append(header, [heading] * len(header))
    styles = [plain] * (len(header) - 1) + [day]
    for lines in list_lines(batches, locale, zone, report.packs):
        ls.extend(lines, styles)
    people = ls.rows - 1
    ls.auto_filter = f"A1:{column_letter(len(header))}{people + 1}"
    book.close()
    return people


def xlsx(report: Report, locale: str, zone: ZoneInfo) -> bytes:
    """The workbook of a report gathered whole (``gather``)."""
    out = io.BytesIO()
    write_xlsx(out, report, [report.rows], locale, zone)
    return out.getvalue()


# --------------------------------------------------------------------------- CSV


def _inert(value: Any) -> Any:
    """Text that Excel would run as a formula gets a leading apostrophe (OWASP's advice for CSV)."""
    if isinstance(value, str) and len(value) > 1 and value.startswith(FORMULA_START):
        return "'" + value
    return value


def _csv(out: IO[bytes], header: list[str], batches: Iterable[list[list[Any]]]) -> None:
    """Each batch goes through one StringIO and is encoded once (a TextIOWrapper encoding row by row, and a
    call per cell, cost half of a 200,000-row list's time); None is written empty, as csv does."""
    out.write(codecs.BOM_UTF8)
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(header)
    for lines in batches:
        writer.writerows(
            [
                ["'" + v if isinstance(v, str) and len(v) > 1 and v.startswith(FORMULA_START) else v for v in line]
                for line in lines
            ]
        )  # what _inert does, inline
        out.write(text.getvalue().encode())
        text.seek(0)
        text.truncate()
    out.write(text.getvalue().encode())


def write_csv(
    summary_out: IO[bytes],
    list_out: IO[bytes],
    report: Report,
    batches: Iterable[Sequence[ListRow]],
    locale: str,
    zone: ZoneInfo,
) -> int:
    """The summary table and the list as CSV (shares as "29,4%", dates as dd/mm/yyyy), the list one batch at a
    time. Returns the number of people listed."""
    summary = [
        [pct(v, locale) if c in SHARE_COLUMNS else v for c, v in zip(SUMMARY_COLUMNS, values, strict=True)]
        for _, values in summary_lines(report, locale)
    ]
    _csv(summary_out, summary_header(locale), [summary])
    days: dict[date, str] = {}
    people = 0

    def listing() -> Iterator[list[list[Any]]]:
        nonlocal people
        for lines in list_lines(batches, locale, zone, report.packs):
            for values in lines:
                if (day := values[-1]) is not None:
                    values[-1] = days.get(day) or days.setdefault(day, _day(day, locale))
            people += len(lines)
            yield lines

    _csv(list_out, list_header(locale), listing())
    return people


def csv_files(report: Report, locale: str, zone: ZoneInfo) -> list[tuple[str, bytes]]:
    """Two files, (name, content), of a report gathered whole (``gather``): the summary table and the list."""
    summary, listing = io.BytesIO(), io.BytesIO()
    write_csv(summary, listing, report, [report.rows], locale, zone)
    return [
        (file_name(report, locale, "summary", "csv"), summary.getvalue()),
        (file_name(report, locale, "list", "csv"), listing.getvalue()),
    ]


# --------------------------------------------------------------------------- streamed, off the event loop

T = TypeVar("T")


class _Pull(Generic[T]):
    """An async iterator read from a worker thread: each step runs on the event loop, one step ahead of the
    thread (the next batch is fetched while the thread writes this one), never further."""

    def __init__(self, source: AsyncIterator[T], loop: asyncio.AbstractEventLoop) -> None:
        self._source = source
        self._loop = loop
        self._ahead: Future[T] | None = None
        self._closed = False

    async def _step(self) -> T:
        if self._closed:  # the export was abandoned: a step scheduled before that reads nothing more
            raise StopAsyncIteration
        return await anext(self._source)

    def _fetch(self) -> Future[T]:
        self._ahead = asyncio.run_coroutine_threadsafe(self._step(), self._loop)
        return self._ahead

    def __iter__(self) -> Iterator[T]:  # on the worker thread
        ahead = self._fetch()
        while True:
            try:
                item = ahead.result()
            except StopAsyncIteration:
                return
            ahead = self._fetch()
            yield item

    async def aclose(self) -> None:  # on the event loop, once the thread is done or abandoned
        self._closed = True
        if self._ahead is not None and not self._ahead.done():
            await asyncio.wait([asyncio.wrap_future(self._ahead)])
        aclose = getattr(self._source, "aclose", None)
        if aclose is not None:
            await aclose()


@dataclass(frozen=True)
class ExportFile:
    name: str  # e.g. "bao-cao-XA1-2026.xlsx"
    content: bytes
    mime: str


@dataclass(frozen=True)
class Export:
    report: Report  # the unit, year and figures (its ``rows`` are not kept)
    people: int  # rows in the list
    files: list[ExportFile] = field(default_factory=list)  # the workbook, or the summary and list CSV files


def write_files(
    report: Report, batches: Iterable[Sequence[ListRow]], locale: str, zone: ZoneInfo, *, as_csv: bool
) -> tuple[list[ExportFile], int]:
    """The export's files from a report and its list, and the number of people listed (CPU work: call it
    off the event loop)."""
    if as_csv:
        summary, listing = io.BytesIO(), io.BytesIO()
        people = write_csv(summary, listing, report, batches, locale, zone)
        return [
            ExportFile(file_name(report, locale, "summary", "csv"), summary.getvalue(), CSV_MIME),
            ExportFile(file_name(report, locale, "list", "csv"), listing.getvalue(), CSV_MIME),
        ], people
    out = io.BytesIO()
    people = write_xlsx(out, report, batches, locale, zone)
    return [ExportFile(file_name(report, locale, "report", "xlsx"), out.getvalue(), XLSX_MIME)], people


async def build_export(
    sessions: Sessions,
    *,
    unit_id: int,
    year: int,
    registry: Registry,
    zone: ZoneInfo,
    locale: str,
    now: datetime,
    as_csv: bool = False,
    executor: Executor | None = None,
) -> Export:
    """The year's report of unit ``unit_id`` as an XLSX workbook, or (``as_csv``) as two CSV files: figures and
    list read in one transaction, the list streamed into the file on a thread of ``executor`` (None: the
    loop's default). Raises LookupError when the unit does not exist."""
    loop = asyncio.get_running_loop()
    # A read-only transaction of its own, not unit_of_work: on SQLite that takes the process's one writer turn,
    # and an export holds its transaction for seconds while other people's updates wait for the turn.
    async with sessions() as session, session.begin():
        unit = await session.get(Unit, unit_id)
        if unit is None:
            raise LookupError(f"no unit {unit_id}")
        tally = await rr.tally(session=session, unit=unit, year=year, registry=registry, zone=zone)
        report = Report(unit.code, unit.name, year, tally, [], now, registry)
        pull = _Pull(rr.stream_list_rows(session=session, unit=unit, year=year), loop)
        try:
            files, people = await loop.run_in_executor(
                executor, lambda: write_files(report, pull, locale, zone, as_csv=as_csv)
            )
        finally:
            await pull.aclose()
    return Export(report, people, files)
