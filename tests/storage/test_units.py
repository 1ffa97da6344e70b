"""Units: import from CSV and XLSX (idempotent, parents in any order, errors by line), rename, move with the
subtree's paths rewritten, and a person moved to another unit keeping their history."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlmodel import select

from bot import cli, cli_officers
from conversations.criteria import default_registry
from conversations.identity import parse_contact
from storage import repo_people as rp
from storage import repo_units as ru
from storage.db import Sessions, unit_of_work
from storage.models import Assessment, AssessmentStatus, AuditEvent, Person, Unit
from storage.unit_import import ImportFileError, parse_file, parse_rows

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
        person = await rp.create_person(session=s, channel="telegram", external_id="55", chat_id="55", locale="vi")
        person.unit_id = a.id
        s.add(Assessment(person_id=person.id, unit_id=a.id, year=2025, status=AssessmentStatus.RECOGNISED))
        s.add(Assessment(person_id=person.id, unit_id=a.id, year=2026, status=AssessmentStatus.DRAFT))
        a_id, b_id = a.id, b.id
    status, lines = await cli_officers.person_move(sessions, parse_contact("55"), "b", 2026)
    assert status == 0 and "2026 assessment moved" in lines[0]
    async with sessions() as s:
        person = (await s.exec(select(Person))).one()
        years = {x.year: x.unit_id for x in (await s.exec(select(Assessment))).all()}
        audit = (await s.exec(select(AuditEvent))).one()
    assert person.unit_id == b_id
    assert years == {2025: a_id, 2026: b_id}
    assert (audit.action, audit.before["unit"], audit.after["unit"]) == ("person_moved", "A", "B")
    assert (await cli_officers.person_move(sessions, parse_contact("999"), "B", 2026))[0] == 2


async def test_a_decided_assessment_stays_in_its_unit(sessions: Sessions) -> None:
    async with unit_of_work(sessions) as s:
        a = await rp.add_unit(session=s, code="A", name="A")
        b = await rp.add_unit(session=s, code="B", name="B")
        person = await rp.create_person(session=s, channel="telegram", external_id="56", chat_id="56", locale="vi")
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


# --------------------------------------------------------------------------- codes a join link can carry


async def test_import_refuses_codes_a_join_link_cannot_carry_and_suggests_one(
    sessions: Sessions, tmp_path: Path
) -> None:
    text = (
        "code,name,parent code,kind,headcount\n"
        "Thôn Một,Thôn Một,,community,1\n"
        "A/B,Xóm A B,,community,1\n"
        "XÃ-ĐÔNG,Xã Đông,,commune,1\n"
        "TO.1,Tổ 1,,community,1\n"
        f"{'X' * 40},Dài,,community,1\n"
        "Ok_code-1,Đúng,,community,1\n"
    )
    status, lines = await cli_officers.units_import(sessions, _write(tmp_path, "codes.csv", text))
    assert status == 1
    assert 'line 2: unit code "Thôn Một" may only use A-Z a-z 0-9 _ - (at most 32); try THON-MOT' in lines[1]
    assert lines[2].endswith("; try AB") and lines[3].endswith("; try XA-DONG") and lines[4].endswith("; try TO1")
    assert lines[5].endswith(f"; try {'X' * 32}")
    assert set(await _units(sessions)) == {"OK_CODE-1"}


async def test_import_reads_the_override_column(sessions: Sessions, tmp_path: Path) -> None:
    text = (
        "code,name,parent code,kind,headcount,override\n"
        "XA1,Xã Một,,commune,10,phu-luc-iv=phu-luc-iv-i67\n"
        "XA2,Xã Hai,,commune,10,\n"
        "XA3,Xã Ba,,commune,10,phu-luc-iv=nonexistent\n"  # line 4
        "XA4,Xã Bốn,,commune,10,phu-luc-4=phu-luc-iv-i67\n"  # line 5: misspelt base
        "XA5,Xã Năm,,commune,10,garbage\n"  # line 6
    )
    status, lines = await cli_officers.units_import(sessions, _write(tmp_path, "o.csv", text))
    assert status == 1 and lines[0].startswith("created 2,")
    assert lines[1].strip().startswith("line 4: override phu-luc-iv=nonexistent: no criteria pack nonexistent")
    assert lines[2].strip().startswith("line 5: override phu-luc-4=phu-luc-iv-i67: phu-luc-4 is not a pack")
    assert lines[3].strip() == "line 6: override 'garbage' must be BASE=PACK, e.g. phu-luc-iv=phu-luc-iv-i67"
    units = await _units(sessions)
    assert (units["XA1"].pack_overrides, units["XA2"].pack_overrides) == ({"phu-luc-iv": "phu-luc-iv-i67"}, {})
    # Without the column the overrides stay; with an empty cell they go.
    await cli_officers.units_import(sessions, _write(tmp_path, "keep.csv", "code,name\nXA1,Xã Một\n"))
    assert (await _units(sessions))["XA1"].pack_overrides == {"phu-luc-iv": "phu-luc-iv-i67"}
    status, lines = await cli_officers.units_import(
        sessions, _write(tmp_path, "clear.csv", "code,name,override\nXA1,Xã Một,\n")
    )
    assert (status, lines[0]) == (0, "created 0, updated 1, unchanged 0, rows with errors 0")
    assert (await _units(sessions))["XA1"].pack_overrides == {}
    async with sessions() as s:
        audit = (await s.exec(select(AuditEvent).where(AuditEvent.action == "unit_overrides"))).one()
    assert audit.before == {"unit": "XA1", "overrides": {"phu-luc-iv": "phu-luc-iv-i67"}}
    assert audit.after == {"unit": "XA1", "overrides": {}}


def test_headcounts_are_whole_numbers_with_their_row_named(tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    sheet.append(["code", "name", "headcount"])
    sheet.append(["A", "A", 12.5])
    sheet.append(["B", "B", 1200.0])
    sheet.append(["C", "C", "1.200"])
    sheet.append(["D", "D", "-5"])
    path = tmp_path / "h.xlsx"
    book.save(path)
    parsed = parse_file(path)
    assert [(r.code, r.headcount) for r in parsed.rows] == [("B", 1200), ("C", 1200)]
    assert parsed.errors == [
        (2, "headcount '12.5' is not a whole number of people"),
        (5, "headcount '-5' is not a whole number of people"),
    ]


def test_a_windows_csv_is_refused_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "units.csv"
    path.write_bytes("code,name\nTHON1,Thôn Đông\n".encode("cp1258"))
    with pytest.raises(ImportFileError, match='save it as "CSV UTF-8'):
        parse_file(path)


# --------------------------------------------------------------------------- unit add, override, list


async def test_unit_add_refuses_with_one_line(sessions: Sessions) -> None:
    registry = default_registry()
    assert await cli_officers.units_add(sessions, registry, "XA1", "Xã Một") == (0, ["unit XA1 added: Xã Một"])
    for args, kw, words in [
        (("xa1", "Khác"), {}, "a unit with code XA1 already exists"),
        (("X2", "Xóm 2"), {"parent_code": "NOPE"}, "no unit with code NOPE"),
        (("X2", "Xóm 2"), {"overrides": ["phu-luc-iv=nonexistent"]}, "no criteria pack nonexistent"),
        (("X2", "Xóm 2"), {"overrides": ["phu-luc-4=phu-luc-iv-i67"]}, "phu-luc-4 is not a pack"),
        (("X2", "Xóm 2"), {"overrides": ["garbage"]}, "'garbage' must be BASE=PACK"),
        (("X2", "  "), {}, "the unit name is empty"),
        (("X2", "Xóm 2"), {"headcount": -1}, "headcount"),
        (("Xóm 2", "Xóm 2"), {}, "try XOM-2"),
    ]:
        status, lines = await cli_officers.units_add(sessions, registry, *args, **kw)
        assert status == 2 and len(lines) == 1 and lines[0].startswith("cdht: ") and words in lines[0], (args, lines)
    assert set(await _units(sessions)) == {"XA1"}
    ok = await cli_officers.units_add(
        sessions, registry, "X2", "Xóm 2", parent_code="xa1", overrides=["phu-luc-iv=phu-luc-iv-i67"]
    )
    assert ok[0] == 0
    assert (await _units(sessions))["X2"].pack_overrides == {"phu-luc-iv": "phu-luc-iv-i67"}


async def test_unit_override_sets_clears_and_is_checked_at_start(sessions: Sessions) -> None:
    registry = default_registry()
    async with unit_of_work(sessions) as s:
        await rp.add_unit(session=s, code="XA1", name="Xã Một")
        # Stored before its pack was removed from the criteria folder.
        await rp.add_unit(session=s, code="XA2", name="Xã Hai", pack_overrides={"phu-luc-iv": "phu-luc-iv-old"})
    async with sessions() as s:
        problems = await ru.check_unit_overrides(session=s, registry=registry)
    assert len(problems) == 1
    assert problems[0].startswith("unit XA2 uses phu-luc-iv-old instead of phu-luc-iv: no criteria pack phu-luc-iv-old")
    assert "cdht unit override XA2 --clear phu-luc-iv" in problems[0]

    set_ = await cli_officers.units_override(sessions, registry, "xa1", spec="phu-luc-iv=phu-luc-iv-i67")
    assert set_ == (0, ["unit XA1: phu-luc-iv=phu-luc-iv-i67"])
    bad = await cli_officers.units_override(sessions, registry, "XA1", spec="phu-luc-iv=nonexistent")
    assert bad[0] == 2 and "no criteria pack nonexistent" in bad[1][0]
    assert (await cli_officers.units_override(sessions, None, "XA1")) == (0, ["unit XA1: phu-luc-iv=phu-luc-iv-i67"])
    # Clearing needs no registry: a pack that is gone can always be cleared.
    cleared = await cli_officers.units_override(sessions, None, "XA2", clear="phu-luc-iv")
    assert cleared == (0, ["unit XA2: no overrides (the group packs)"])
    assert (await cli_officers.units_override(sessions, None, "XA2", clear="phu-luc-iv"))[0] == 1
    assert (await cli_officers.units_override(sessions, None, "NOPE"))[0] == 2
    async with sessions() as s:
        assert await ru.check_unit_overrides(session=s, registry=registry) == []
        audits = (await s.exec(select(AuditEvent).where(AuditEvent.action == "unit_overrides"))).all()
    assert len(audits) == 2


async def test_unit_list_prints_children_under_their_parent(sessions: Sessions, tmp_path: Path) -> None:
    text = (
        "code,name,parent code\n"
        "TINH,Tỉnh,\n"
        "XA-A,Xã A,TINH\n"
        "XA-B,Xã B,TINH\n"
        "THON-A1,Thôn A1,XA-A\n"
        "THON-B1,Thôn B1,XA-B\n"
        "TO-A1X,Tổ A1X,THON-A1\n"
        "KHAC,Khác,\n"
    )
    assert (await cli_officers.units_import(sessions, _write(tmp_path, "t.csv", text)))[0] == 0
    status, lines = await cli_officers.units_list(sessions, None)
    assert status == 0
    assert [line.split("\t")[0] for line in lines] == [
        "KHAC",
        "TINH",
        "  XA-A",
        "    THON-A1",
        "      TO-A1X",
        "  XA-B",
        "    THON-B1",
    ]
    _, lines = await cli_officers.units_list(sessions, "thon-a1")
    assert [line.split("\t")[0] for line in lines] == ["THON-A1", "  TO-A1X"]


async def test_the_example_file_in_docs_imports_cleanly(sessions: Sessions) -> None:
    example = Path(__file__).parents[2] / "docs" / "units-example.csv"
    status, lines = await cli_officers.units_import(sessions, example)
    assert (status, lines) == (0, ["created 6, updated 0, unchanged 0, rows with errors 0"])
    units = await _units(sessions)
    assert units["THON-DONG"].headcount == 1150
    assert units["TRUONG-MN-TH-A"].pack_overrides == {"phu-luc-iv": "phu-luc-iv-i67"}
