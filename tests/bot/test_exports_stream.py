"""Streamed exports: a province-sized list goes from the database into the file batch by batch.

The large test seeds 5,000 people with random answers, evidence and decisions on both databases and checks
every cell of the list against values worked out here from the seeded rows (the points rule written out
again, not imported), then the layout the upward report keeps (sheets, widths, frozen panes, formats). The
streaming tests feed the writer from generators that count how far they were read and whether the rows
already written are still held.
"""

from __future__ import annotations

import asyncio
import csv
import io
import random
import weakref
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from conversations.criteria import default_registry
from locales import gettext
from reports import exports
from reports.xlsx_stream import MAX_ROWS, Style, XlsxStream
from storage import repo_reports as rr
from storage.db import Sessions, unit_of_work
from storage.models import Answer, Assessment, Evidence, Person, Unit
from storage.repo_reports import Figures, ListRow, Tally, Targets

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
NOW = datetime(2026, 12, 20, 3, tzinfo=UTC)
PEOPLE = 5_000
STATUSES = ["draft", "submitted", "returned", "reviewed", "recognised", "not_recognised", "expired"]
SUMMARY_WIDTHS = [6, 12, 34, 12, 12, 11, 13, 13, 13, 12, 11, 12, 14, 14, 12, 13, 13]  # as the report had them
LIST_WIDTHS = [6, 28, 10, 26, 16, *[6] * 10, 9, 26, 10, 24, 16, 14]
PACK_NAMES = {"phu-luc-i": "Phụ lục I", "phu-luc-iv": "Phụ lục IV"}


# --------------------------------------------------------------------------- a province of 5,000 people


def province(rnd: random.Random) -> dict[str, list[dict[str, Any]]]:
    """Rows by table: a province (3 communes of 3 villages, one a school) and another province whose people
    must not be listed; people with random assessments of 2026 (and a few of 2025), answers and evidence."""
    units = [dict(id=1, code="TINH", name="Tỉnh Một", kind="province", parent_id=None, path="/1/")]
    units.append(dict(id=2, code="KHAC", name="Tỉnh Khác", kind="province", parent_id=None, path="/2/"))
    for c in range(3):
        cid = 10 + c
        units.append(
            dict(id=cid, code=f"XA{c}", name=f"Xã {c} & <Đông>", kind="commune", parent_id=1, path=f"/1/{cid}/")
        )
        for v in range(3):
            vid = 100 + 10 * c + v
            kind = "learning" if v == 2 else "community"
            path = f"/1/{cid}/{vid}/"
            units.append(dict(id=vid, code=f"V{c}{v}", name=f"Thôn {c}.{v}", kind=kind, parent_id=cid, path=path))
    for u in units:
        u.update(headcount=0 if u["id"] == 1 else 100, targets={}, pack_overrides={}, created_at=NOW)
    places = [u["id"] for u in units if u["id"] != 1]  # the province itself has no members of its own here
    people, assessments, answers, evidence = [], [], [], []
    reviewers = [1, 2, 3]
    for pid in reviewers:
        people.append(dict(id=pid, full_name=f"Tổ trưởng {pid}", unit_id=10))
    answer_id = evidence_id = 0
    for pid in range(10, 10 + PEOPLE):
        # Names repeat (the id then orders them); the number first keeps every collation's order the same.
        name = f"Nguoi {rnd.randrange(PEOPLE):05d} " + rnd.choice(["Nguyễn Văn", "Lê Thị", " Trần ", "=Hồ", "Đỗ&<b>"])
        place = rnd.choice(places)
        people.append(dict(id=pid, full_name=name, unit_id=place))
        for year in (2026, 2025) if rnd.random() < 0.05 else (2026,):
            aid = pid * 10 + year % 10
            status = rnd.choice(STATUSES)
            recognised = status == "recognised"
            assessments.append(
                dict(
                    id=aid,
                    person_id=pid,
                    unit_id=place,
                    year=year,
                    pack_id=rnd.choice(["phu-luc-i", "phu-luc-iv", None]),
                    pack_version=1,
                    status=status,
                    reviewed_by=rnd.choice(reviewers) if status in ("reviewed", "recognised") else None,
                    decision_no=rnd.choice(["12/QĐ-UBND", "=1+1", "<b>&", None]) if recognised else None,
                    decision_date=NOW - timedelta(days=rnd.randrange(300), minutes=rnd.randrange(1440))
                    if recognised and rnd.random() < 0.8
                    else None,
                )
            )
            for n in range(1, 11):
                if rnd.random() < 0.8:
                    answer_id += 1
                    chosen = rnd.choice([None, 0, 5, 8, 10, 10])
                    reviewed = rnd.choice([None, None, None, 0, 5, 10])
                    answers.append(
                        dict(id=answer_id, assessment_id=aid, indicator=n, chosen=chosen, reviewer_points=reviewed)
                    )
                for k in range(rnd.choice([0, 0, 1, 1, 2])):  # some for indicators not answered: still counted
                    evidence_id += 1
                    evidence.append(dict(id=evidence_id, assessment_id=aid, indicator=n, file_unique_id=f"u{k}"))
    for p in people:
        ext = str(p["id"])
        p.update(channel="telegram", external_id=ext, chat_id=ext, locale="vi", consent_at=NOW, step="ready")
        p.update(rev=0, reminders=True, created_at=NOW)
    for a in assessments:
        a.update(step="level", indicator=0, editing=False, rev=0, returned_indicators=[], created_at=NOW)
        a.update(updated_at=NOW)
    for a in answers:
        a.update(updated_at=NOW)
    for e in evidence:
        e.update(kind="photo", file_id="f", mime_type="image/jpeg", size=1, sha256="0" * 64, path="e", created_at=NOW)
    return {"unit": units, "person": people, "assessment": assessments, "answer": answers, "evidence": evidence}


async def seed(sessions: Sessions, rows: dict[str, list[dict[str, Any]]]) -> None:
    tables = {"unit": Unit, "person": Person, "assessment": Assessment, "answer": Answer, "evidence": Evidence}
    async with sessions() as s, s.begin():
        conn = await s.connection()
        for name, model in tables.items():
            await conn.execute(sa.insert(model.__table__), rows[name])  # type: ignore[attr-defined]


def expected_list(rows: dict[str, list[dict[str, Any]]]) -> list[list[Any]]:
    """The list sheet's data rows as openpyxl reads them back, worked out from the seeded rows."""
    units = {u["id"]: u for u in rows["unit"]}
    people = {p["id"]: p for p in rows["person"]}
    answers: dict[int, dict[int, dict[str, Any]]] = {}
    for a in rows["answer"]:
        answers.setdefault(a["assessment_id"], {})[a["indicator"]] = a
    files: dict[int, dict[int, int]] = {}
    for e in rows["evidence"]:
        per = files.setdefault(e["assessment_id"], {})
        per[e["indicator"]] = per.get(e["indicator"], 0) + 1
    listed = [
        a
        for a in rows["assessment"]
        if a["year"] == 2026 and a["status"] != "expired" and units[a["unit_id"]]["path"].startswith("/1/")
    ]
    listed.sort(key=lambda a: (units[a["unit_id"]]["path"], people[a["person_id"]]["full_name"], a["id"]))
    out = []
    for no, a in enumerate(listed, 1):
        points: list[int | None] = []
        for n in range(1, 11):
            answer = answers.get(a["id"], {}).get(n)
            if answer is None:
                points.append(None)
            elif answer["reviewer_points"] is not None:
                points.append(answer["reviewer_points"])
            elif answer["chosen"] is not None and files.get(a["id"], {}).get(n):
                points.append(answer["chosen"])
            else:
                points.append(0)
        decided = a["decision_date"]
        out.append(
            [
                no,
                people[a["person_id"]]["full_name"],
                units[a["unit_id"]]["code"],
                units[a["unit_id"]]["name"],
                PACK_NAMES[a["pack_id"]] if a["pack_id"] else None,  # the pack's short title, not its id
                *points,
                sum(p or 0 for p in points),
                gettext(f"reports.status.{a['status']}", "vi"),
                sum(files.get(a["id"], {}).values()),
                people[a["reviewed_by"]]["full_name"] if a["reviewed_by"] else None,
                a["decision_no"],
                datetime.combine(decided.astimezone(ZONE).date(), datetime.min.time()) if decided else None,
            ]
        )
    return out


async def test_a_province_export_has_every_cell_and_the_report_layout(sessions: Sessions) -> None:
    rows = province(random.Random(9))
    await seed(sessions, rows)
    want = expected_list(rows)
    assert len(want) > 3_500  # some are of another province, expired or of 2025

    ticks = 0

    async def ticker() -> None:  # other work the event loop does meanwhile
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    other = asyncio.create_task(ticker())
    made = await exports.build_export(
        sessions, unit_id=1, year=2026, registry=default_registry(), zone=ZONE, locale="vi", now=NOW
    )
    other.cancel()
    assert ticks > 10  # the loop went on while the workbook was written
    assert made.people == len(want)
    [file] = made.files
    assert (file.name, file.mime) == ("bao-cao-TINH-2026.xlsx", exports.XLSX_MIME)

    wb = load_workbook(io.BytesIO(file.content))
    assert wb.sheetnames == ["Tổng hợp", "Danh sách"]
    ls = wb["Danh sách"]
    got = [list(r) for r in ls.iter_rows(min_row=2, values_only=True)]
    assert len(got) == len(want)
    for no, (g, w) in enumerate(zip(got, want, strict=True), 1):
        assert g == w, f"row {no}"
    assert [c.value for c in ls[1]][:6] == ["STT", "Họ và tên", "Mã đơn vị", "Tên đơn vị", "Bộ tiêu chí", "CT1"]
    assert ls.freeze_panes == "C2" and ls.auto_filter.ref == f"A1:U{len(want) + 1}"
    assert [ls.column_dimensions[c].width for c in "ABCDEFGHIJKLMNOPQRSTU"] == LIST_WIDTHS
    assert all(c.font.b for c in ls[1]) and ls["A1"].alignment.wrap_text
    dated = next(r for r in ls.iter_rows(min_row=2) if r[20].value is not None)
    assert dated[20].number_format == "DD/MM/YYYY" and not dated[1].font.b
    assert next(c for c in ls.iter_rows(min_row=2) if c[19].value == "=1+1")[19].data_type == "s"  # text, not run

    ws = wb["Tổng hợp"]
    assert ws["A1"].value == "Biểu mẫu 2 – Báo cáo" and ws["A2"].font.b and not ws["A1"].font.b
    assert ws["A3"].value == "Đơn vị báo cáo: Tỉnh Một (mã TINH)" and ws["A4"].value == "Ngày báo cáo: 20/12/2026"
    assert ws.freeze_panes == "D9"
    assert [ws.column_dimensions[c].width for c in "ABCDEFGHIJKLMNOPQ"] == SUMMARY_WIDTHS
    lines = [[c for c in r] for r in ws.iter_rows(min_row=9)]
    assert [r[1].value for r in lines] == ["XA0", "XA1", "XA2", "TINH"]  # the children, then the total
    total = lines[-1]
    assert total[2].value == "Tổng cộng" and all(c.font.b for c in total)
    assert total[9].number_format == "0.0%" and lines[0][9].number_format == "0.0%" and not lines[0][9].font.b
    assert lines[0][0].value == 1 and total[0].value is None


async def test_the_csv_export_lists_the_same_people(sessions: Sessions) -> None:
    rows = province(random.Random(4))
    rows["person"] = rows["person"][: 3 + 400]  # a smaller province: the CSV path is the same stream
    kept = {p["id"] for p in rows["person"]}
    rows["assessment"] = [a for a in rows["assessment"] if a["person_id"] in kept]
    aids = {a["id"] for a in rows["assessment"]}
    rows["answer"] = [a for a in rows["answer"] if a["assessment_id"] in aids]
    rows["evidence"] = [e for e in rows["evidence"] if e["assessment_id"] in aids]
    await seed(sessions, rows)
    want = expected_list(rows)
    made = await exports.build_export(
        sessions, unit_id=1, year=2026, registry=default_registry(), zone=ZONE, locale="vi", now=NOW, as_csv=True
    )
    assert [f.name for f in made.files] == ["tong-hop-TINH-2026.csv", "danh-sach-TINH-2026.csv"]
    listing = list(csv.reader(io.StringIO(made.files[1].content.decode("utf-8-sig"))))
    assert len(listing) == len(want) + 1 == made.people + 1

    def as_text(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, datetime):
            return value.strftime("%d/%m/%Y")
        if isinstance(value, str) and value.startswith(("=", "+", "-", "@")):
            return "'" + value
        return str(value)

    assert listing[1:] == [[as_text(v) for v in line] for line in want]


# --------------------------------------------------------------------------- streaming, without a database


def report() -> exports.Report:
    targets = Targets(2030, 0.6, 0.8, 0.9, 0.9)
    total = Figures(1, "TINH", "Tỉnh", "province", targets, headcount=10)
    return exports.Report("TINH", "Tỉnh", 2026, Tally(2026, total, [], []), [], NOW)


class Batch(list):  # type: ignore[type-arg]
    """A list that can be watched with a weak reference (a plain list cannot)."""


class Source:
    """Batches of list rows made on demand, counting how many were taken and how many are still held."""

    def __init__(self, batches: int, size: int) -> None:
        self.batches, self.size = batches, size
        self.taken = 0
        self.alive: list[weakref.ref[Batch]] = []
        self.most_held = 0

    def make(self) -> Batch:
        batch = Batch(
            ListRow(i, f"Người {i}", "V1", "Thôn 1", "phu-luc-i", 1, "submitted", (10,) * 10, 10, None, None, None)
            for i in range(self.taken * self.size, (self.taken + 1) * self.size)
        )
        self.taken += 1
        self.alive = [r for r in self.alive if r() is not None]
        self.most_held = max(self.most_held, len(self.alive))
        self.alive.append(weakref.ref(batch))
        return batch

    def __iter__(self) -> Iterator[Batch]:
        while self.taken < self.batches:
            yield self.make()

    async def stream(self) -> AsyncIterator[Batch]:
        while self.taken < self.batches:
            await asyncio.sleep(0)
            yield self.make()


class Sink(io.BytesIO):
    """The file being written, noting how many batches had been taken at each write."""

    def __init__(self, source: Source) -> None:
        super().__init__()
        self.source = source
        self.taken_at_writes: list[int] = []

    def write(self, data: Any) -> int:
        self.taken_at_writes.append(self.source.taken)
        return super().write(data)


def test_the_writer_writes_each_batch_before_taking_many_more() -> None:
    source = Source(batches=60, size=100)
    sink = Sink(source)
    assert exports.write_xlsx(sink, report(), source, "vi", ZONE) == 6_000
    early = {n for n in sink.taken_at_writes if 0 < n < source.batches}
    assert len(early) >= 5  # the file grew while the list was still being read, not only at the end
    assert source.most_held <= 2  # rows already written were let go
    rows = list(load_workbook(sink).worksheets[1].iter_rows(min_row=2, values_only=True))
    assert len(rows) == 6_000 and rows[-1][:2] == (6_000, "Người 5999")


async def test_an_async_list_is_read_one_batch_ahead_of_the_writer() -> None:
    source = Source(batches=40, size=100)
    sink = Sink(source)
    loop = asyncio.get_running_loop()
    pull = exports._Pull(source.stream(), loop)
    written = await loop.run_in_executor(None, exports.write_xlsx, sink, report(), pull, "vi", ZONE)
    await pull.aclose()
    assert written == 4_000
    assert len({n for n in sink.taken_at_writes if 0 < n < source.batches}) >= 5
    assert source.most_held <= 3  # the batch being written, the one fetched ahead, and the next one's maker


async def test_an_abandoned_export_stops_reading() -> None:
    source = Source(batches=1_000, size=10)
    loop = asyncio.get_running_loop()
    stream = source.stream()
    pull = exports._Pull(stream, loop)

    def write_some() -> None:
        for n, _ in enumerate(pull):
            if n == 3:
                raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        await loop.run_in_executor(None, write_some)
    await pull.aclose()
    assert source.taken <= 5  # one ahead of the writer, and nothing after it stopped
    with pytest.raises(StopAsyncIteration):  # closed: its database cursor would be released
        await anext(stream)


# --------------------------------------------------------------------------- the writer's cells


def test_cells_keep_their_values_and_text_never_runs() -> None:
    out = io.BytesIO()
    book = XlsxStream(out)
    day = book.style(Style(number_format="DD/MM/YYYY"))
    bold = book.style(Style(bold=True))
    assert book.style(Style(bold=True)) == bold  # one id per style
    sheet = book.sheet("Tên 'lạ' & <x>", widths=[10, 20.5], freeze="B3")
    sheet.append(['=HYPERLINK("x")', " lề ", "a\x00b\x1fc & <d>", "", None, 7, 2.5, True, date(2026, 1, 2)])
    sheet.append([None, "", "x"], [bold, bold, 0])
    sheet.append([datetime(2026, 1, 2, 12)], [day])
    sheet.auto_filter = "A1:I3"
    book.close()

    wb = load_workbook(out)
    ws = wb.worksheets[0]
    assert ws.title == "Tên 'lạ' & <x>" and ws.freeze_panes == "B3" and ws.auto_filter.ref == "A1:I3"
    assert ws.column_dimensions["A"].width == 10 and ws.column_dimensions["B"].width == 20.5
    first = [c.value for c in ws[1]]
    assert first[:4] == ['=HYPERLINK("x")', " lề ", "abc & <d>", None] and ws["A1"].data_type == "s"
    assert first[5:8] == [7, 2.5, True] and first[8] == 46024  # 2 January 2026 as Excel counts days
    assert ws["A2"].font.b and ws["A2"].value is None and ws["C2"].value == "x" and not ws["C2"].font.b
    assert ws["A3"].value == datetime(2026, 1, 2, 12) and ws["A3"].number_format == "DD/MM/YYYY"


def test_frozen_rows_only_and_the_row_limit() -> None:
    out = io.BytesIO()
    book = XlsxStream(out)
    sheet = book.sheet("A", freeze="A2")
    sheet.rows = MAX_ROWS  # as if full
    with pytest.raises(ValueError, match="1,048,576"):
        sheet.append([1])
    book.close()
    assert load_workbook(out).worksheets[0].freeze_panes == "A2"


async def test_other_transactions_go_on_while_an_export_reads(
    sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An update arriving mid-export is answered before the export ends (on SQLite the export must not take
    the process's one writer turn)."""
    rows = province(random.Random(2))
    await seed(sessions, rows)
    answered = asyncio.Event()
    streamed = rr.stream_list_rows

    async def held_after_first_batch(**kwargs: Any) -> AsyncIterator[list[ListRow]]:
        first = True
        async for batch in streamed(**kwargs):
            yield batch
            if first:  # the export's transaction is open and its cursor is mid-way
                first = False
                await asyncio.wait_for(answered.wait(), timeout=20)

    monkeypatch.setattr(rr, "stream_list_rows", held_after_first_batch)
    export = asyncio.create_task(
        exports.build_export(
            sessions, unit_id=1, year=2026, registry=default_registry(), zone=ZONE, locale="vi", now=NOW
        )
    )
    async with unit_of_work(sessions) as s:  # a citizen's update: it writes
        person = await s.get(Person, 10)
        assert person is not None
        person.full_name = "Tên mới"
    answered.set()
    made = await export
    assert made.people == len(expected_list(rows))
