"""Units: import from CSV and XLSX (idempotent, parents in any order, errors by line), rename, move with the
subtree's paths rewritten, and a person moved to another unit keeping their history."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlmodel import select

from bot import cli, cli_officers
from storage import repo_people as rp
from storage import repo_units as ru
from storage.db import Sessions, unit_of_work
from storage.models import Assessment, AssessmentStatus, AuditEvent, Person, Unit
from storage.unit_import import ImportFileError, parse_rows

CSV = """code,name,parent code,kind,headcount
THON1,Thôn Bình Vọng,XA1,thôn,120
XA1,Xã Văn Bình,TINH,xã,
TINH,Hà Nội,,province,0
TRUONG1,Trường THCS Văn Bình,XA1,trường,45
THON2,Thôn Đông,XA1,community,80
"""


async def _units(sessions: Sessions) -> dict[str, Unit]:
    async with sessions() as s:
        return {u.code: u for u in (await s.exec(select(Unit))).all()}


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


async def test_csv_import_builds_the_tree_with_parents_after_children(sessions: Sessions, tmp_path: Path) -> None:
    status, lines = await cli_officers.units_import(sessions, _write(tmp_path, "units.csv", CSV))
    assert status == 0, lines
    assert lines[0].startswith("created 5, updated 0, unchanged 0, rows with errors 0")
    units = await _units(sessions)
    tinh, xa, thon = units["TINH"], units["XA1"], units["THON1"]
    assert (tinh.kind, xa.kind, thon.kind, units["TRUONG1"].kind) == ("province", "commune", "community", "learning")
    assert thon.path == f"/{tinh.id}/{xa.id}/{thon.id}/"
    assert thon.parent_id == xa.id and xa.parent_id == tinh.id and tinh.parent_id is None
    assert (thon.headcount, xa.headcount, thon.name) == (120, 0, "Thôn Bình Vọng")


async def test_reimport_updates_and_never_duplicates(sessions: Sessions, tmp_path: Path) -> None:
    await cli_officers.units_import(sessions, _write(tmp_path, "a.csv", CSV))
    before = await _units(sessions)
    again = await cli_officers.units_import(sessions, _write(tmp_path, "b.csv", CSV))
    assert again == (0, ["created 0, updated 0, unchanged 5, rows with errors 0"])
    changed = CSV.replace("Thôn Đông,XA1,community,80", "Thôn Đông Mới,TINH,community,95")
    status, lines = await cli_officers.units_import(sessions, _write(tmp_path, "c.csv", changed))
    assert status == 0 and lines[0].startswith("created 0, updated 1, unchanged 4")
    after = await _units(sessions)
    assert len(after) == 5
    assert {c: u.id for c, u in after.items()} == {c: u.id for c, u in before.items()}
    thon2 = after["THON2"]
    assert (thon2.name, thon2.headcount, thon2.parent_id) == ("Thôn Đông Mới", 95, after["TINH"].id)
    assert thon2.path == f"/{after['TINH'].id}/{thon2.id}/"
    # A blank headcount keeps the stored figure.
    kept = CSV.replace("THON1,Thôn Bình Vọng,XA1,thôn,120", "THON1,Thôn Bình Vọng,XA1,thôn,")
    await cli_officers.units_import(sessions, _write(tmp_path, "d.csv", kept))
    assert (await _units(sessions))["THON1"].headcount == 120


async def test_xlsx_import_with_vietnamese_headers(sessions: Sessions, tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    sheet.append(["Mã đơn vị", "Tên đơn vị", "Mã cấp trên", "Loại", "Số người"])
    sheet.append(["to5", "Tổ dân phố 5", "PHUONG", "tổ dân phố", 210])
    sheet.append(["PHUONG", "Phường Hạ Long", None, "phường", 3500])
    sheet.append(["CTY", "Công ty May 10", "PHUONG", "doanh nghiệp", 640.0])
    path = tmp_path / "units.xlsx"
    book.save(path)
    status, lines = await cli_officers.units_import(sessions, path)
    assert status == 0, lines
    units = await _units(sessions)
    assert set(units) == {"TO5", "PHUONG", "CTY"}
    assert units["TO5"].path == f"/{units['PHUONG'].id}/{units['TO5'].id}/"
    assert (units["CTY"].kind, units["CTY"].headcount, units["PHUONG"].headcount) == ("learning", 640, 3500)
    assert (await cli_officers.units_import(sessions, path))[1][0].startswith("created 0, updated 0, unchanged 3")


async def test_bad_rows_are_reported_by_line_and_the_rest_imported(sessions: Sessions, tmp_path: Path) -> None:
    text = (
        "code,name,parent code,kind,headcount\n"
        "XA1,Xã Văn Bình,,commune,10\n"
        ",Không mã,XA1,community,1\n"  # line 3
        "THON9,Thôn Chín,NOWHERE,community,5\n"  # line 4: unknown parent
        "THON8,Thôn Tám,THON9,community,5\n"  # line 5: its parent was left out
        "THON7,Thôn Bảy,XA1,castle,5\n"  # line 6: unknown kind
        "THON6,Thôn Sáu,XA1,community,nhiều\n"  # line 7: headcount
        "XA1,Xã trùng,,commune,1\n"  # line 8: duplicate code
        "LOOPA,A,LOOPB,community,1\n"  # lines 9-10: a loop
        "LOOPB,B,LOOPA,community,1\n"
        "THON1,Thôn Một,XA1,community,7\n"
    )
    status, lines = await cli_officers.units_import(sessions, _write(tmp_path, "bad.csv", text))
    assert status == 1
    assert lines[0] == "created 2, updated 0, unchanged 0, rows with errors 8"
    report = "\n".join(lines)
    for line, words in [
        (3, "code is empty"),
        (4, "parent code NOWHERE"),
        (5, "parent code THON9"),
        (6, "kind 'castle' unknown"),
        (7, "headcount 'nhiều'"),
        (8, "code XA1 already on line 2"),
        (9, "under itself"),
        (10, "under itself"),
    ]:
        assert any(x.strip().startswith(f"line {line}: ") and words in x for x in lines), report
    assert set(await _units(sessions)) == {"XA1", "THON1"}


async def test_dry_run_changes_nothing(sessions: Sessions, tmp_path: Path) -> None:
    status, lines = await cli_officers.units_import(sessions, _write(tmp_path, "u.csv", CSV), dry_run=True)
    assert status == 0 and lines[0].startswith("would create 5")
    assert await _units(sessions) == {}


def test_a_file_without_the_needed_columns_is_refused() -> None:
    with pytest.raises(ImportFileError, match="missing: code"):
        parse_rows([(1, ["tên", "cấp trên"]), (2, ["A", "B"])])


async def test_move_rewrites_the_paths_of_the_whole_subtree(sessions: Sessions, tmp_path: Path) -> None:
    await cli_officers.units_import(sessions, _write(tmp_path, "u.csv", CSV))
    extra = "code,name,parent code,kind,headcount\nXA2,Xã Bên,TINH,commune,0\nXOM,Xóm Trại,THON1,community,12\n"
    await cli_officers.units_import(sessions, _write(tmp_path, "x.csv", extra))
    status, lines = await cli_officers.units_move(sessions, "XA1", "XA2")
    assert status == 0 and "(5 unit(s) in its subtree)" in lines[0]
    u = await _units(sessions)
    t, x2, x1 = u["TINH"].id, u["XA2"].id, u["XA1"].id
    assert u["XA1"].path == f"/{t}/{x2}/{x1}/"
    assert u["THON1"].path == f"/{t}/{x2}/{x1}/{u['THON1'].id}/"
    assert u["XOM"].path == f"/{t}/{x2}/{x1}/{u['THON1'].id}/{u['XOM'].id}/"
    assert u["XA2"].path == f"/{t}/{x2}/" and u["XA1"].parent_id == x2
    # Under itself: refused, nothing changes.
    assert (await cli_officers.units_move(sessions, "XA1", "XOM"))[0] == 2
    assert (await _units(sessions))["XOM"].path == u["XOM"].path
    # To the top.
    assert (await cli_officers.units_move(sessions, "XA1", "-"))[0] == 0
    u = await _units(sessions)
    assert u["XOM"].path == f"/{x1}/{u['THON1'].id}/{u['XOM'].id}/" and u["XA1"].parent_id is None
    assert (await cli_officers.units_rename(sessions, "xom", "  Xóm   Trại Mới "))[0] == 0
    assert (await _units(sessions))["XOM"].name == "Xóm Trại Mới"


async def test_person_moves_with_the_open_assessment_and_keeps_history(sessions: Sessions) -> None:
    async with unit_of_work(sessions) as s:
        a = await rp.add_unit(session=s, code="A", name="A")
        b = await rp.add_unit(session=s, code="B", name="B")
        person = await rp.create_person(session=s, telegram_id=55, chat_id=55, locale="vi")
        person.unit_id = a.id
        s.add(Assessment(person_id=person.id, unit_id=a.id, year=2025, status=AssessmentStatus.RECOGNISED))
        s.add(Assessment(person_id=person.id, unit_id=a.id, year=2026, status=AssessmentStatus.DRAFT))
        a_id, b_id = a.id, b.id
    status, lines = await cli_officers.person_move(sessions, 55, "b", 2026)
    assert status == 0 and "2026 assessment moved" in lines[0]
    async with sessions() as s:
        person = (await s.exec(select(Person))).one()
        years = {x.year: x.unit_id for x in (await s.exec(select(Assessment))).all()}
        audit = (await s.exec(select(AuditEvent))).one()
    assert person.unit_id == b_id
    assert years == {2025: a_id, 2026: b_id}
    assert (audit.action, audit.before["unit"], audit.after["unit"]) == ("person_moved", "A", "B")
    assert (await cli_officers.person_move(sessions, 999, "B", 2026))[0] == 2


async def test_a_decided_assessment_stays_in_its_unit(sessions: Sessions) -> None:
    async with unit_of_work(sessions) as s:
        a = await rp.add_unit(session=s, code="A", name="A")
        b = await rp.add_unit(session=s, code="B", name="B")
        person = await rp.create_person(session=s, telegram_id=56, chat_id=56, locale="vi")
        s.add(Assessment(person_id=person.id, unit_id=a.id, year=2026, status=AssessmentStatus.REVIEWED))
        await s.flush()
        moved = await ru.move_person(session=s, person=person, unit=b, year=2026, actor_id=None)
        assert moved is None
        assert (await s.exec(select(Assessment))).one().unit_id == a.id


def test_cli_wiring_on_sqlite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("ADMIN_IDS", "")
    monkeypatch.chdir(tmp_path)  # no .env from the working folder
    path = _write(tmp_path, "u.csv", CSV)
    assert cli.main(["units", "import", str(path)]) == 0
    assert cli.main(["units", "rename", "THON1", "Thôn Bình Vọng Mới"]) == 0
    assert cli.main(["units", "move", "THON2", "TINH"]) == 0
    assert cli.main(["grant", "777", "reviewer", "XA1"]) == 0
    assert cli.main(["grant", "777", "reviewer"]) == 2
    assert cli.main(["revoke", "777", "reviewer", "XA1"]) == 0
    assert cli.main(["units", "list"]) == 0
    out = capsys.readouterr().out
    assert "created 5" in out and "Thôn Bình Vọng Mới" in out and "777 is reviewer of XA1" in out
    assert "  THON2\tThôn Đông" in out  # now a child of the top unit
