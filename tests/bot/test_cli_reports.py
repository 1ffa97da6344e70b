"""``cdht export`` at a desk: the same workbook and CSV files ``/export`` sends, written to disk."""

from __future__ import annotations

import asyncio
import csv
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from sqlmodel import select

from bot.cli import main
from bot.cli_reports import export_report
from storage import repo_people as rp
from storage.db import Sessions, make_engine, make_sessions, unit_of_work, upgrade
from storage.models import Assessment
from tests.storage.test_repo_reports import seed

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
NOW = datetime(2027, 1, 5, 2, tzinfo=UTC)


async def test_export_report_writes_the_workbook(sessions: Sessions, tmp_path: Path) -> None:
    await seed(sessions)
    status, lines = await export_report(
        sessions, "xa2", 2026, as_csv=False, out=tmp_path, locale="en", zone=ZONE, now=NOW
    )
    assert status == 0
    assert lines[0] == "XA2 2026: headcount 200, registered 2, assessed 2, recognised 1, 2 rows"
    wb = load_workbook(tmp_path / "report-XA2-2026.xlsx")
    assert wb.sheetnames == ["Summary", "List"]
    assert wb["Summary"]["A4"].value == "Report date: 05/01/2027"
    assert [c.value for c in wb["Summary"][9]][:5] == [1, "V3", "Đơn vị V3", 200, 2]
    listed = [(row[1], row[4]) for row in wb["List"].iter_rows(min_row=2, values_only=True)]
    assert listed == [("E1", "Appendix I"), ("E2", "Appendix I")]  # the pack's name, not "phu-luc-i v1"


async def test_export_report_csv_and_unknown_unit(sessions: Sessions, tmp_path: Path) -> None:
    await seed(sessions)
    status, lines = await export_report(
        sessions, "V1", 2026, as_csv=True, out=tmp_path / "thon1.csv", locale="vi", zone=ZONE, now=NOW
    )
    assert status == 0 and len(lines) == 3
    with (tmp_path / "thon1-danh-sach-V1-2026.csv").open(encoding="utf-8-sig", newline="") as fh:
        names = [r["Họ và tên"] for r in csv.DictReader(fh)]
    assert names == ["A1", "A2", "A3", "A4", "A5"]
    assert (tmp_path / "thon1-tong-hop-V1-2026.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    status, lines = await export_report(sessions, "NOPE", 2026, as_csv=False, out=None, locale="vi", zone=ZONE, now=NOW)
    assert status == 2 and "NOPE" in lines[0]


def test_cdht_export_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'cdht.db'}"

    async def prepare() -> None:
        engine = make_engine(url)
        await upgrade(engine)
        await seed(make_sessions(engine))
        await engine.dispose()

    asyncio.run(prepare())
    for name in ("BOT_TOKEN", "ADMIN_IDS", "DEFAULT_LOCALE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)
    assert main(["export", "--unit", "TINH", "--year", "2026"]) == 0
    out = capsys.readouterr().out
    assert "TINH 2026: headcount 380, registered 14, assessed 10, recognised 4" in out
    wb = load_workbook(tmp_path / "bao-cao-TINH-2026.xlsx")
    assert wb["Tổng hợp"]["C11"].value == "Tổng cộng" and wb["Tổng hợp"]["I11"].value == 4


async def test_typed_text_never_becomes_a_formula(sessions: Sessions, tmp_path: Path) -> None:
    await seed(sessions)
    async with unit_of_work(sessions) as s:
        v3 = await rp.find_unit(session=s, code="V3")
        v3.name = '=HYPERLINK("http://x")'
        e1 = (
            await s.exec(select(Assessment).where(Assessment.unit_id == v3.id, Assessment.status == "recognised"))
        ).one()
        e1.decision_no = "=1+1"
    await export_report(sessions, "XA2", 2026, as_csv=False, out=tmp_path, locale="vi", zone=ZONE, now=NOW)
    wb = load_workbook(tmp_path / "bao-cao-XA2-2026.xlsx")
    assert wb["Tổng hợp"]["C9"].value == '=HYPERLINK("http://x")' and wb["Tổng hợp"]["C9"].data_type == "s"
    e1_row = next(r for r in wb["Danh sách"].iter_rows(min_row=2) if r[1].value == "E1")
    assert (e1_row[3].data_type, e1_row[19].value, e1_row[19].data_type) == ("s", "=1+1", "s")
    await export_report(sessions, "XA2", 2026, as_csv=True, out=tmp_path, locale="vi", zone=ZONE, now=NOW)
    with (tmp_path / "danh-sach-XA2-2026.csv").open(encoding="utf-8-sig", newline="") as fh:
        e1_csv = next(r for r in csv.DictReader(fh) if r["Họ và tên"] == "E1")
    assert (e1_csv["Tên đơn vị"], e1_csv["Số quyết định"]) == ('\'=HYPERLINK("http://x")', "'=1+1")
