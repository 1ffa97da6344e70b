"""/tally, /export and /chart typed on Zalo: the same figures and files as on Telegram, over real HTTP against
the fake Zalo Bot API. Files go as signed links (here: addresses the fake itself serves, so sendPhoto can
fetch the charts and the test can open the workbook); without links the officer is told files need
PUBLIC_BASE_URL. The tree is the storage test's ``seed()``, plus one citizen who assessed on Zalo where the
figures are checked.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from openpyxl import load_workbook
from sqlmodel import select

from bot.replies import OutFile, StoredFile
from bot.zalo.runtime import ZaloBot
from storage import repo_people as rp
from storage.db import Sessions, unit_of_work
from storage.models import Person, RoleName
from tests.fakes.zalo_api import FakeZaloApi
from tests.storage.test_repo_reports import seed
from tests.zalo.people import MAX, Typist, give_zalo_role, jpeg, make_bot

PNG = b"\x89PNG\r\n\x1a\n"
OFFICER, HEAD, REVIEWER, CITIZEN = "zofficer1", "zhead1", "zreviewer1", "zcitizen1"


class ServedLinks:
    """Signed links as the fake Zalo API serves them: every file made for an officer gets an address of
    the fake, so sendPhoto fetches the PNG and the test can download the workbook."""

    def __init__(self, api: FakeZaloApi) -> None:
        self.api = api
        self.given: list[tuple[str, int]] = []  # (file name, officer id) of every link made

    def file_url(self, file: OutFile, *, officer_id: int) -> str:
        self.given.append((file.name, officer_id))
        return self.api.add_photo(file.content, file.mime)

    def evidence_url(self, file: StoredFile, *, officer_id: int) -> str:
        raise AssertionError("reports show no evidence")


@pytest.fixture
async def links(zalo_api: FakeZaloApi) -> ServedLinks:
    return ServedLinks(zalo_api)


@pytest.fixture
async def bot(zalo_api: FakeZaloApi, sessions: Sessions, tmp_path: Path, links: ServedLinks) -> AsyncIterator[ZaloBot]:
    await seed(sessions)
    found = make_bot(zalo_api, sessions, tmp_path / "evidence", links=links)
    yield found
    await found.close()


@pytest.fixture
async def zalo_citizen(bot: ZaloBot, zalo_api: FakeZaloApi) -> Typist:
    """A resident of V1 (inside XA1) who registered and submitted on Zalo, every indicator at 10 points."""
    dan = Typist(bot, zalo_api, CITIZEN)
    for typed in ("Xin chào", "đồng ý", "Lê Thị Zalo", "V1", "1"):
        await dan.say(typed)
    for n in range(1, 11):
        await dan.say("1")
        await dan.photo(jpeg(n))
        await dan.say("Xong")
    await dan.say("nộp")
    assert "100" in await dan.say("1")
    return dan


async def person_id(sessions: Sessions, external_id: str) -> int:
    async with sessions() as s:
        person = await rp.get_person(session=s, channel="zalo", external_id=external_id)
        assert person is not None and person.id is not None
        return person.id


def all_fit(api: FakeZaloApi) -> bool:
    return all(0 < len(t) <= MAX for t in api.texts()) and all(len(p.caption or "") <= MAX for p in api.photos)


def link_of(text: str, name: str) -> str:
    found = re.search(rf"<b>{re.escape(name)}</b> \([^)]*\): (\S+)", text)
    assert found is not None, text
    return found.group(1)


async def download(url: str) -> bytes:
    async with httpx.AsyncClient() as http:
        response = await http.get(url)
        response.raise_for_status()
        return response.content


# --------------------------------------------------------------------------- /tally


async def test_tally_typed_as_words_and_as_a_command(
    bot: ZaloBot, zalo_api: FakeZaloApi, sessions: Sessions, zalo_citizen: Typist
) -> None:
    await give_zalo_role(sessions, OFFICER, RoleName.OFFICER, "TINH")
    officer = Typist(bot, zalo_api, OFFICER)

    seen = len(zalo_api.texts(OFFICER))
    text = await officer.say("thống kê")  # the officer's own unit, this year
    assert len(zalo_api.texts(OFFICER)) == seen + 1  # a province of two communes: one message
    assert "Kết quả năm 2026: Đơn vị TINH" in text
    assert "Số người (mẫu số): <b>380</b> · đã đăng ký: <b>15</b>" in text  # 14 on Telegram, 1 on Zalo
    assert "<b>Đơn vị XA1</b> (XA1)\n     ĐK 13 · nộp 9 · CN 3/180 · 1,7%/53,3%" in text
    assert "Chỉ tiêu có điểm trung bình thấp nhất" in text

    text = await officer.say("/tally XA1 2025")
    assert "Kết quả năm 2025: Đơn vị XA1" in text and "Trực thuộc trực tiếp Đơn vị XA1" in text
    assert "Kết quả năm 2026: Đơn vị V2" in await officer.say("Tổng hợp v2")  # a code typed in lower case
    assert all_fit(zalo_api) and not zalo_api.photos


async def test_a_long_tally_is_cut_between_units_each_message_under_its_heading(
    bot: ZaloBot, zalo_api: FakeZaloApi, sessions: Sessions
) -> None:
    async with unit_of_work(sessions) as s:
        tinh = await rp.find_unit(session=s, code="TINH")
        for i in range(40):
            await rp.add_unit(
                session=s, code=f"XA{i + 10}", name=f"Xã Thượng Nguồn Sông Đà số {i + 10}", parent=tinh, headcount=900
            )
    await give_zalo_role(sessions, OFFICER, RoleName.OFFICER, "TINH")
    officer = Typist(bot, zalo_api, OFFICER)
    seen = len(zalo_api.texts(OFFICER))
    await officer.say("thống kê TINH")
    messages = zalo_api.texts(OFFICER)[seen:]
    assert len(messages) >= 3 and all_fit(zalo_api)
    assert messages[0].startswith("📊 <b>Kết quả năm 2026: Đơn vị TINH</b>")
    listed = [m for m in messages if "Sông Đà số" in m]
    assert len(listed) >= 2
    for message in listed:  # each message of the list reads on its own: its heading, then whole units
        assert message.split("\n\n")[-1].startswith("<b>Các đơn vị trực thuộc</b>") or message.startswith(
            "<b>Các đơn vị trực thuộc</b>"
        )
        for name in re.findall(r"<b>(Xã Thượng Nguồn Sông Đà số \d+)</b>", message):
            assert re.search(rf"<b>{name}</b> \(XA\d+\)\n     ĐK 0 · nộp 0 · CN 0/900", message), name
    codes = re.findall(r"Sông Đà số (\d+)</b>", "\n".join(messages))
    assert codes == [str(i + 10) for i in range(40)]  # every unit once, in order
    assert "/export TINH 2026" in messages[-1]

    village = Typist(bot, zalo_api, OFFICER)
    seen = len(zalo_api.texts(OFFICER))
    await village.say("thống kê V1")
    assert len(zalo_api.texts(OFFICER)) == seen + 1  # a village's tally is one message


# --------------------------------------------------------------------------- /export and /chart


async def test_export_arrives_as_a_link_to_the_workbook(
    bot: ZaloBot, zalo_api: FakeZaloApi, sessions: Sessions, links: ServedLinks, zalo_citizen: Typist
) -> None:
    await give_zalo_role(sessions, HEAD, RoleName.HEAD, "XA1")
    head = Typist(bot, zalo_api, HEAD)
    text = await head.say("xuất")
    assert "11 bản tự đánh giá" in text  # ten from Telegram, one from Zalo
    assert links.given == [("bao-cao-XA1-2026.xlsx", await person_id(sessions, HEAD))]
    workbook = load_workbook(io.BytesIO(await download(link_of(text, "bao-cao-XA1-2026.xlsx"))))
    assert workbook.sheetnames == ["Tổng hợp", "Danh sách"]
    names = [row[1] for row in workbook["Danh sách"].iter_rows(min_row=2, values_only=True)]
    assert "Lê Thị Zalo" in names and len(names) == 11
    assert all_fit(zalo_api) and not zalo_api.photos


async def test_export_csv_by_words_gives_two_links(
    bot: ZaloBot, zalo_api: FakeZaloApi, sessions: Sessions, links: ServedLinks, zalo_citizen: Typist
) -> None:
    await give_zalo_role(sessions, OFFICER, RoleName.OFFICER, "XA1")
    officer = Typist(bot, zalo_api, OFFICER)
    text = await officer.say("xuất XA1 --csv")
    assert sorted(name for name, _ in links.given) == ["danh-sach-XA1-2026.csv", "tong-hop-XA1-2026.csv"]
    assert "dạng CSV" in text
    summary = await download(link_of(text, "tong-hop-XA1-2026.csv"))
    assert summary.startswith(b"\xef\xbb\xbf")  # the BOM: Excel reads UTF-8
    rows = list(csv.reader(io.StringIO(summary.decode("utf-8-sig"))))
    assert rows[-1][2:9] == ["Tổng cộng", "180", "13", "1", "9", "5", "3"]
    assert all_fit(zalo_api)


async def test_chart_arrives_as_three_photos(
    bot: ZaloBot, zalo_api: FakeZaloApi, sessions: Sessions, links: ServedLinks
) -> None:
    await give_zalo_role(sessions, REVIEWER, RoleName.REVIEWER, "XA2")
    reviewer = Typist(bot, zalo_api, REVIEWER)
    await reviewer.say("biểu đồ")
    photos = [p for p in zalo_api.photos if p.chat_id == REVIEWER]
    assert len(photos) == 3
    for photo in photos:
        assert photo.photo is not None and photo.photo.startswith(PNG) and len(photo.photo) > 5_000
    assert "Đơn vị XA2" in (photos[0].caption or "") and not photos[1].caption
    officer_id = await person_id(sessions, REVIEWER)
    assert [who for _, who in links.given] == [officer_id] * 3
    assert all_fit(zalo_api)


async def test_without_public_links_the_officer_is_told_why(
    zalo_api: FakeZaloApi, sessions: Sessions, tmp_path: Path
) -> None:
    await seed(sessions)
    bot = make_bot(zalo_api, sessions, tmp_path / "evidence")  # no PUBLIC_BASE_URL: no links
    await give_zalo_role(sessions, OFFICER, RoleName.OFFICER, "XA1")
    officer = Typist(bot, zalo_api, OFFICER)
    try:
        for typed in ("xuất", "xuất --csv", "biểu đồ"):
            text = await officer.say(typed)
            assert "PUBLIC_BASE_URL" in text, typed
            assert "http" not in text, typed
        assert not zalo_api.photos and all_fit(zalo_api)
    finally:
        await bot.close()


# --------------------------------------------------------------------------- refusals


async def test_a_citizen_without_a_role_is_refused_politely(
    bot: ZaloBot, zalo_api: FakeZaloApi, sessions: Sessions, links: ServedLinks
) -> None:
    citizen = Typist(bot, zalo_api, CITIZEN)
    for typed in ("Xin chào", "đồng ý", "Lê Thị Zalo", "V1"):  # registered in V1, no role
        await citizen.say(typed)
    for typed in ("/tally", "thống kê XA1", "/export", "biểu đồ V1"):
        text = await citizen.say(typed)
        assert "chưa được giao vai trò" in text, typed
        assert "380" not in text and "Đơn vị V1" not in text
    stranger = Typist(bot, zalo_api, "zstranger")
    assert "chưa được giao vai trò" in await stranger.say("/tally TINH")
    async with sessions() as s:  # refusing a stranger does not register them
        assert (await s.exec(select(Person).where(Person.external_id == "zstranger"))).first() is None
    assert not links.given and not zalo_api.photos


async def test_an_officer_out_of_scope_is_refused(
    bot: ZaloBot, zalo_api: FakeZaloApi, sessions: Sessions, links: ServedLinks
) -> None:
    await give_zalo_role(sessions, OFFICER, RoleName.OFFICER, "XA1")
    await give_zalo_role(sessions, REVIEWER, RoleName.REVIEWER, "XA1")
    officer = Typist(bot, zalo_api, OFFICER)
    for typed in ("thống kê XA2", "/tally TINH", "xuất XA2", "biểu đồ TINH 2026"):
        text = await officer.say(typed)
        assert "không thuộc phạm vi" in text, typed
        assert "380" not in text
    reviewer = Typist(bot, zalo_api, REVIEWER)  # the team may count, not list names
    assert "chưa được giao vai trò" in await reviewer.say("xuất XA1")
    assert not links.given and not zalo_api.photos and all_fit(zalo_api)
