"""/tally, /export and /chart through the real Application: who may use them where, and what is sent.

The tree and people come from the storage test's ``seed()`` (figures worked out by hand there); here the
officer's role and scope decide, and the files the bot uploads are opened again and checked.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from openpyxl import load_workbook

from bot.handlers.reports import _chunks
from storage import repo_people as rp
from storage import repo_roles as rr
from storage.db import Sessions, unit_of_work
from storage.models import Person, RoleName
from tests.bot.harness import Harness, User
from tests.fakes.telegram_api import Call
from tests.storage.test_repo_reports import seed

ADMIN = 900
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
async def bot(sessions: Sessions, tmp_path: Path):
    await seed(sessions)
    h = await Harness.start(sessions, tmp_path / "evidence", admin_ids=[ADMIN])
    yield h
    await h.stop()


async def officer(sessions: Sessions, user_id: int, role: str | None, code: str | None, locale: str = "vi") -> int:
    """A person holding ``role`` on the unit ``code`` (no role when None)."""
    async with unit_of_work(sessions) as s:
        person = Person(
            channel="telegram",
            external_id=str(user_id),
            chat_id=str(user_id),
            full_name=f"Cán bộ {user_id}",
            locale=locale,
            step="ready",
        )
        s.add(person)
        await s.flush()
        if role is not None:
            unit = await rp.find_unit(session=s, code=code) if code else None
            await rr.grant(session=s, person=person, role=role, unit=unit)
    return user_id


def uploads(call: Call) -> list[tuple[str, bytes]]:
    return list(call.files.values())


def media(call: Call) -> list[dict]:
    items = call.params["media"]
    return json.loads(items) if isinstance(items, str) else items


async def run(bot: Harness, user: User, command: str) -> list[Call]:
    bot.api.clear()
    await user.say(command)
    return [c for c in bot.api.calls if c.method.startswith("send") and c.method != "sendChatAction"]


# --------------------------------------------------------------------------- what is sent


async def test_tally_shows_the_unit_children_and_weakest_indicators(bot: Harness, sessions: Sessions) -> None:
    me = User(bot, await officer(sessions, 501, RoleName.OFFICER, "TINH"))
    sent = await run(bot, me, "/tally")  # default: the officer's unit, this year (2026)
    assert [c.method for c in sent] == ["sendMessage"]
    text = sent[0].params["text"]
    assert "Kết quả năm 2026: Đơn vị TINH" in text
    assert "Số người (mẫu số): <b>380</b> · đã đăng ký: <b>14</b>" in text
    assert "được công nhận: <b>4</b>" in text
    assert "Tỉ lệ công nhận: 4/380 = <b>1,1%</b> (mục tiêu 51,6%)" in text  # 196 of 380 needed
    assert "người dân cộng đồng: 3/360" in text and "cán bộ, người lao động: 1/20 = 5%" in text
    assert "Cần thêm <b>192</b> người" in text
    assert "Có kỹ năng số: 3/4 người được công nhận = 75%" in text
    assert "<b>Đơn vị XA1</b> (XA1)\n     ĐK 12 · nộp 8 · CN 3/180 · 1,7%/53,3%" in text
    assert "<b>Đơn vị XA2</b> (XA2)" in text
    weakest = text.split("thấp nhất")[1]
    assert weakest.index("Chỉ tiêu 10: <b>7,4</b>/10") < weakest.index("Chỉ tiêu 3:") < weakest.index("Chỉ tiêu 5:")


async def test_tally_of_a_past_year_in_english(bot: Harness, sessions: Sessions) -> None:
    me = User(bot, await officer(sessions, 502, RoleName.OFFICER, "XA1", locale="en"), language_code="en")
    sent = await run(bot, me, "/tally XA1 2025")
    text = sent[0].params["text"]
    assert "Results for 2025: Đơn vị XA1" in text
    assert "registered: <b>1</b>" in text and "recognised: <b>1</b>" in text
    assert "target 50%" in text  # 2025 community target overridden by the province to 50%
    assert "Directly in Đơn vị XA1" in text  # the commune's own staff place, as a line of its own


async def test_export_sends_a_workbook_with_both_sheets(bot: Harness, sessions: Sessions) -> None:
    me = User(bot, await officer(sessions, 503, RoleName.HEAD, "XA1"))
    sent = await run(bot, me, "/export")
    assert [c.method for c in sent] == ["sendDocument"]
    [(name, content)] = uploads(sent[0])
    assert name == "bao-cao-XA1-2026.xlsx"
    assert "10 bản tự đánh giá" in sent[0].params["caption"]
    wb = load_workbook(io.BytesIO(content))
    assert wb.sheetnames == ["Tổng hợp", "Danh sách"]
    ws = wb["Tổng hợp"]
    assert ws["A1"].value == "Biểu mẫu 2 – Báo cáo"
    assert ws["A2"].value == "BÁO CÁO KẾT QUẢ ĐÁNH GIÁ, CÔNG NHẬN DANH HIỆU “CÔNG DÂN HỌC TẬP” NĂM 2026"
    assert ws["A3"].value == "Đơn vị báo cáo: Đơn vị XA1 (mã XA1)"
    assert ws["A4"].value == "Ngày báo cáo: 01/06/2026"
    assert [c.value for c in ws[8]][:4] == ["STT", "Mã đơn vị", "Tên đơn vị", "Số người (mẫu số)"]
    rows = [[c.value for c in row] for row in ws.iter_rows(min_row=9)]
    assert [r[1] for r in rows] == ["S1", "V1", "V2", "XA1", "XA1"]  # children, XA1's own members, the total
    school, total = rows[0], rows[-1]
    # S1: headcount 20, registered 2, in progress 0, assessed 2, team-reviewed 2, recognised 1, 1/20, target 70%.
    assert school[3:12] == [20, 2, 0, 2, 2, 1, 0.05, 0.7, "Chưa đạt"]
    assert total[2] == "Tổng cộng" and total[3:9] == [180, 12, 1, 8, 5, 3]
    assert total[9] == pytest.approx(3 / 180) and ws.cell(row=13, column=10).number_format == "0.0%"
    assert total[14:17] == [2, pytest.approx(2 / 3), 0.9]
    ls = wb["Danh sách"]
    header = [c.value for c in ls[1]]
    assert header[:6] == ["STT", "Họ và tên", "Mã đơn vị", "Tên đơn vị", "Bộ tiêu chí", "CT1"]
    assert header[-7:] == [
        "CT10",
        "Tổng điểm",
        "Kết quả",
        "Số minh chứng",
        "Người đánh giá",
        "Số quyết định",
        "Ngày quyết định",
    ]
    people = {row[1]: row for row in ls.iter_rows(min_row=2, values_only=True)}
    assert len(people) == 10 and "B3" not in people  # B3's assessment is of 2025
    a2 = people["A2"]
    assert a2[5:15] == (10, 10, 10, 10, 5, 10, 10, 10, 10, 10) and a2[15] == 95
    assert a2[16:20] == ("Được công nhận", 10, "Trần Tổ Trưởng", "12/QĐ-UBND")
    assert a2[20].strftime("%d/%m/%Y") == "10/08/2026"
    assert people["A3"][14:18] == (0, 90, "Đã nộp, chờ tổ đánh giá", 9)
    assert (a2[4], people["C2"][4]) == ("Phụ lục I", "Phụ lục IV")  # the pack's name, not "phu-luc-i v1"


@pytest.mark.parametrize("flag", ["--csv", "—csv"])  # a phone turns "--" into a dash
async def test_export_csv_sends_two_files_that_excel_reads(bot: Harness, sessions: Sessions, flag: str) -> None:
    me = User(bot, await officer(sessions, 504, RoleName.OFFICER, "XA1"))
    sent = await run(bot, me, f"/export XA1 2026 {flag}")
    assert [c.method for c in sent] == ["sendMediaGroup"]
    assert [m["type"] for m in media(sent[0])] == ["document", "document"]
    files = dict(uploads(sent[0]))
    assert sorted(files) == ["danh-sach-XA1-2026.csv", "tong-hop-XA1-2026.csv"]
    summary = files["tong-hop-XA1-2026.csv"]
    assert summary.startswith(b"\xef\xbb\xbf")  # the BOM: Excel then reads UTF-8
    rows = list(csv.reader(io.StringIO(summary.decode("utf-8-sig"))))
    assert rows[0][:3] == ["STT", "Mã đơn vị", "Tên đơn vị"]
    assert rows[1][:12] == ["1", "S1", "Đơn vị S1", "20", "2", "0", "2", "2", "1", "5%", "70%", "Chưa đạt"]
    assert rows[-1][2:9] == ["Tổng cộng", "180", "12", "1", "8", "5", "3"]
    listing = list(csv.DictReader(io.StringIO(files["danh-sach-XA1-2026.csv"].decode("utf-8-sig"))))
    a1 = next(r for r in listing if r["Họ và tên"] == "A1")
    assert (a1["Tổng điểm"], a1["Kết quả"], a1["Ngày quyết định"]) == ("100", "Được công nhận", "10/08/2026")
    assert a1["Bộ tiêu chí"] == "Phụ lục I"


async def test_chart_sends_three_pngs_as_one_album(bot: Harness, sessions: Sessions) -> None:
    me = User(bot, await officer(sessions, 505, RoleName.REVIEWER, "XA2"))
    sent = await run(bot, me, "/chart")
    assert [c.method for c in sent] == ["sendMediaGroup"]
    items = media(sent[0])
    assert [m["type"] for m in items] == ["photo"] * 3
    assert "Đơn vị XA2" in items[0]["caption"]
    pngs = uploads(sent[0])
    assert len(pngs) == 3
    for _, content in pngs:
        assert content.startswith(PNG) and len(content) > 5_000


# --------------------------------------------------------------------------- role x scope


ALLOWED = {"/tally": "sendMessage", "/export": "sendDocument", "/chart": "sendMediaGroup"}


@pytest.mark.parametrize(
    ("role", "held_on", "asked", "commands"),
    [
        (RoleName.OFFICER, "XA1", "XA1", ALLOWED),  # own unit
        (RoleName.OFFICER, "TINH", "V1", ALLOWED),  # an ancestor's officer
        (RoleName.ADMIN, None, "V3", ALLOWED),  # the admin role, everywhere
        (RoleName.HEAD, "S1", "S1", ALLOWED),
        (RoleName.REVIEWER, "XA1", "V2", {"/tally": "sendMessage", "/chart": "sendMediaGroup"}),
    ],
)
async def test_allowed(
    bot: Harness, sessions: Sessions, role: str, held_on: str | None, asked: str, commands: dict[str, str]
) -> None:
    me = User(bot, await officer(sessions, 600, role, held_on))
    for command, method in commands.items():
        sent = await run(bot, me, f"{command} {asked}")
        assert [c.method for c in sent] == [method], command


async def test_admin_from_settings_may_read_anywhere(bot: Harness) -> None:
    admin = User(bot, ADMIN)  # in ADMIN_IDS, never registered
    for command, method in ALLOWED.items():
        sent = await run(bot, admin, f"{command} XA2 2025")
        assert [c.method for c in sent] == [method], command


@pytest.mark.parametrize(
    ("role", "held_on", "asked", "reply"),
    [
        (None, None, "XA1", "chưa được giao vai trò"),  # a citizen without a role
        (RoleName.OFFICER, "XA1", "XA2", "không thuộc phạm vi"),  # a sibling unit
        (RoleName.OFFICER, "XA1", "TINH", "không thuộc phạm vi"),  # the parent
        (RoleName.OFFICER, "V1", "V2", "không thuộc phạm vi"),
    ],
)
async def test_refused(
    bot: Harness, sessions: Sessions, role: str | None, held_on: str | None, asked: str, reply: str
) -> None:
    me = User(bot, await officer(sessions, 700, role, held_on))
    for command in ALLOWED:
        sent = await run(bot, me, f"{command} {asked}")
        assert [c.method for c in sent] == ["sendMessage"], command
        assert reply in sent[0].params["text"]
        assert "380" not in sent[0].params["text"] and not sent[0].files


async def test_reviewer_may_not_export_names(bot: Harness, sessions: Sessions) -> None:
    me = User(bot, await officer(sessions, 701, RoleName.REVIEWER, "XA1"))
    for command in ("/export XA1", "/export XA1 --csv"):
        sent = await run(bot, me, command)
        assert [c.method for c in sent] == ["sendMessage"] and not sent[0].files


async def test_a_stranger_is_refused_without_being_registered(bot: Harness, sessions: Sessions) -> None:
    stranger = User(bot, 4242)
    sent = await run(bot, stranger, "/tally TINH")
    assert [c.method for c in sent] == ["sendMessage"] and "vai trò" in sent[0].params["text"]
    async with sessions() as s:
        assert await rp.get_person(session=s, channel="telegram", external_id="4242") is None


def test_long_tallies_are_split_between_lines() -> None:
    head = ["Title", "figures"]
    communes = ["Communes:"] + [f"commune {i:02d} " + "x" * 60 for i in range(50)]
    chunks = _chunks([head, communes, ["end"]], limit=1000)
    assert len(chunks) == 4 and all(len(c) <= 1000 for c in chunks)  # 72 characters a line: 13 or 14 a message
    assert chunks[0].startswith("Title\nfigures\n\nCommunes:\ncommune 00")
    assert all(c.startswith("Communes:\ncommune ") for c in chunks[1:])  # the list goes on under its heading
    lines = "\n".join(chunks).split("\n")
    assert [x for x in lines if x.startswith("commune")] == communes[1:]  # every line whole, in order
    assert chunks[-1].endswith("\n\nend")
    assert _chunks([["short"], ["reply"]]) == ["short\n\nreply"]


def test_a_heading_never_ends_a_message_alone() -> None:
    first = ["T" * 900]
    listing = ["Units:", "u1 " + "y" * 200, "u2 " + "y" * 200]
    chunks = _chunks([first, listing], limit=1000)
    assert chunks == ["T" * 900, "Units:\n" + listing[1] + "\n" + listing[2]]
    # A unit's two lines are one line of the block: never parted.
    unit = "<b>Xã A</b> (XA)\n     ĐK 1 · nộp 1"
    chunks = _chunks([["x" * 960], ["Units:", unit]], limit=1000)
    assert chunks == ["x" * 960, "Units:\n" + unit]
