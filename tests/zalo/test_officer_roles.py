"""/grant, /roles and /invite typed on Zalo, and a role pass used there (no deep links: ``/start role-…``, the
pass alone, or a message holding it), over real HTTP against the fake Zalo Bot API; and what a Telegram
officer's pass and poster say when the same process also serves Zalo."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlmodel import select

from bot.handlers.officer_roles import qr_png
from bot.replies import OutFile, StoredFile
from bot.settings import Settings
from storage.db import Sessions
from storage.models import Person, Role, RoleInvite, Unit
from tests.bot.harness import Harness, User
from tests.bot.officer_helpers import give_role, last_to, seed_commune
from tests.fakes.zalo_api import TOKEN, FakeZaloApi, text_update
from tests.zalo.people import MAX, Typist, give_zalo_role, make_bot

ADMIN = "zadmin1"
PASS = re.compile(r"role-[A-Za-z0-9_-]{24}")
BOT_URL = "https://zalo.me/1234567890"


class Person_(Typist):
    """A Zalo user with a display name of their own (the fake's default is one name for everybody)."""

    def __init__(self, bot: Any, api: FakeZaloApi, user_id: str, name: str) -> None:
        super().__init__(bot, api, user_id)
        self.name = name

    async def say(self, text: str) -> str:
        return await self.send(text_update(text, user_id=self.id, display_name=self.name))


class Links:
    """Signed links as the fake serves them: sendPhoto can fetch the QR code; remembers what it was given."""

    def __init__(self, api: FakeZaloApi) -> None:
        self.api = api
        self.given: list[tuple[OutFile, int]] = []

    def file_url(self, file: OutFile, *, officer_id: int) -> str:
        self.given.append((file, officer_id))
        return self.api.add_photo(file.content, file.mime)

    def evidence_url(self, file: StoredFile, *, officer_id: int) -> str:
        raise AssertionError("no evidence here")


@pytest.fixture
async def units(sessions: Sessions) -> dict[str, int]:
    return await seed_commune(sessions)


async def roles_of(sessions: Sessions, external_id: str) -> set[tuple[str, str]]:
    async with sessions() as s:
        found = await s.exec(
            select(Role.role, Unit.code)
            .join(Person, Person.id == Role.person_id)  # type: ignore[arg-type]
            .join(Unit, Unit.id == Role.unit_id)  # type: ignore[arg-type]
            .where(Person.channel == "zalo", Person.external_id == external_id)
        )
        return set(found.all())


async def test_a_zalo_admin_grants_roles_that_zalo_people_take_by_typing_the_pass(
    zalo_api: FakeZaloApi, sessions: Sessions, tmp_path: Path, units: dict[str, int]
) -> None:
    bot = make_bot(zalo_api, sessions, tmp_path / "evidence", admin_ids=[f"zalo:{ADMIN}"])
    admin = Person_(bot, zalo_api, ADMIN, "Quản trị Xã")
    ba = Person_(bot, zalo_api, "zba", "Trần Thị Ba")
    cuong = Person_(bot, zalo_api, "zcuong", "Lê Văn Cường")
    dung = Person_(bot, zalo_api, "zdung", "Phạm Dung")
    try:
        made = await admin.say("/grant reviewer XA1")
        assert "thành viên tổ đánh giá" in made and "Xã Văn Bình" in made and "một lần" in made
        assert "Trên Zalo" in made and "t.me" not in made  # no Telegram bot in this process: no deep link
        assert len(made) <= MAX
        [first] = PASS.findall(made)

        taken = await ba.say(f"/start {first}")
        assert "Bạn đã được giao vai trò <b>thành viên tổ đánh giá</b> tại <b>Xã Văn Bình</b>" in taken
        assert "<b>duyệt</b> [mã] [năm]" in taken  # Zalo's help names the word to type
        assert await roles_of(sessions, "zba") == {("reviewer", "XA1")}
        assert "đã được sử dụng" in await dung.say(first)  # once only, even typed alone

        # The command's plain words work too; the pass is found inside a forwarded line.
        [second] = PASS.findall(await admin.say("cấp quyền head XA1"))
        taken = await cuong.say(f"Chị Oanh nhắn: {second} — nhập mã này nhé")
        assert "người ký quyết định" in taken and "<b>công nhận</b>" in taken
        assert await roles_of(sessions, "zcuong") == {("head", "XA1")}
        [third] = PASS.findall(await admin.say("/grant officer THON2"))
        assert "Khuyến học" in await dung.say(f"/{third}")
        assert await roles_of(sessions, "zdung") == {("officer", "THON2")}

        assert "không hợp lệ" in await dung.say("/start role-not-a-real-token")
        assert "không hợp lệ" in await dung.say("role_" + "x" * 24)

        listed = await admin.say("/roles XA1")
        assert "Vai trò trong" in listed and len(listed) <= MAX
        assert "❌ Trần Thị Ba — thành viên tổ đánh giá, XA1" in listed
        assert "Lê Văn Cường — người ký" in listed and "Phạm Dung — cán bộ" in listed and "id zalo" not in listed
        async with sessions() as s:
            assert len((await s.exec(select(RoleInvite))).all()) == 3
    finally:
        await bot.close()


async def test_grant_refusals_on_zalo_change_nothing(
    zalo_api: FakeZaloApi, sessions: Sessions, tmp_path: Path, units: dict[str, int]
) -> None:
    bot = make_bot(zalo_api, sessions, tmp_path / "evidence")
    await give_zalo_role(sessions, "zofficer", "officer", "THON1")
    officer, stranger = Typist(bot, zalo_api, "zofficer"), Typist(bot, zalo_api, "zstranger")
    try:
        assert "chưa được giao vai trò" in await stranger.say("/grant reviewer THON1")
        assert "không thuộc phạm vi" in await officer.say("/grant reviewer XA1")
        assert "/grant VAI_TRÒ MÃ_ĐƠN_VỊ" in await officer.say("/grant boss THON1")
        assert "chưa được giao vai trò" in await stranger.say("/roles THON1")
        assert "chưa được giao vai trò" in await stranger.say("mời THON1")
        async with sessions() as s:
            assert (await s.exec(select(RoleInvite))).all() == []
    finally:
        await bot.close()


async def test_invite_on_zalo_gives_the_code_and_how_to_find_the_bot(
    zalo_api: FakeZaloApi, sessions: Sessions, tmp_path: Path, units: dict[str, int]
) -> None:
    await give_zalo_role(sessions, "zofficer", "officer", "XA1")
    # Nothing configured: the code and the steps, no picture.
    bare = make_bot(zalo_api, sessions, tmp_path / "evidence")
    try:
        text = await Typist(bare, zalo_api, "zofficer").say("/invite THON1")
    finally:
        await bare.close()
    assert "Thôn Bình Vọng" in text and "<b>THON1</b>" in text and "Xin chào" in text and "t.me" not in text
    assert len(text) <= MAX and zalo_api.photos == []

    # The bot's name and Zalo address configured, and signed links: the poster QR opens the bot in Zalo.
    links = Links(zalo_api)
    bot = make_bot(
        zalo_api, sessions, tmp_path / "evidence", links=links, zalo_bot_url=BOT_URL, zalo_bot_name="CDHT Văn Bình"
    )
    try:
        text = await Typist(bot, zalo_api, "zofficer").say("mời")  # the officer's own unit by default
    finally:
        await bot.close()
    assert "«CDHT Văn Bình»" in text and BOT_URL in text and "gõ <b>XA1</b>" in text and len(text) <= MAX
    [(file, officer_id)] = links.given
    assert file.name == "qr-XA1-zalo.png" and file.content == qr_png(BOT_URL)  # the QR encodes the bot's address
    async with sessions() as s:
        officer = (await s.exec(select(Person).where(Person.external_id == "zofficer"))).one()
    assert officer_id == officer.id
    [photo] = zalo_api.photos
    assert photo.chat_id == "zofficer" and photo.photo == file.content and "XA1" in (photo.caption or "")

    # An address but no PUBLIC_BASE_URL: the text, and a word on why the picture cannot come.
    unlinked = make_bot(zalo_api, sessions, tmp_path / "evidence", zalo_bot_url=BOT_URL)
    try:
        text = await Typist(unlinked, zalo_api, "zofficer").say("/invite")
    finally:
        await unlinked.close()
    assert BOT_URL in text and "PUBLIC_BASE_URL" in text and len(zalo_api.photos) == 1


async def test_a_telegram_officers_pass_and_poster_name_zalo_where_it_runs(
    sessions: Sessions, tmp_path: Path, units: dict[str, int]
) -> None:
    h = await Harness.start(
        sessions, tmp_path / "evidence", zalo_bot_token=TOKEN, zalo_bot_url=BOT_URL, zalo_bot_name="CDHT Văn Bình"
    )
    try:
        await give_role(sessions, 105, "officer", "XA1")
        officer = User(h, 105)
        await officer.say("/grant reviewer THON1")
        made = last_to(officer)
        [deep, typed] = PASS.findall(made)
        assert deep == typed and f"t.me/cdht_test_bot?start={deep}" in made
        assert "Trên Zalo: nhắn cho bot «CDHT Văn Bình» (https://zalo.me/1234567890)" in made
        await officer.say("/invite THON1")
        caption = h.api.sent("sendPhoto")[-1].params["caption"]
        assert "https://t.me/cdht_test_bot?start=THON1" in caption
        assert "Trên Zalo: tìm bot «CDHT Văn Bình»" in caption and "<b>THON1</b>" in caption
        assert len(caption) <= 1024  # Telegram's caption limit
    finally:
        await h.stop()


@pytest.mark.parametrize(
    "url", ["http://zalo.me/123", "https://example.org/123", "https://zalo.me/", "https://notzalo.me/1", "ftp://x"]
)
def test_zalo_bot_url_must_be_a_zalo_address(url: str) -> None:
    with pytest.raises(ValidationError, match="ZALO_BOT_URL"):
        Settings(_env_file=None, zalo_bot_url=url)  # type: ignore[call-arg]


def test_zalo_bot_url_and_name_when_fine() -> None:
    settings = Settings(_env_file=None, zalo_bot_url=f" {BOT_URL} ", zalo_bot_name="  CDHT   Văn Bình ")  # type: ignore[call-arg]
    assert (settings.zalo_bot_url, settings.zalo_bot_name) == (BOT_URL, "CDHT Văn Bình")
    assert Settings(_env_file=None, zalo_bot_url="", zalo_bot_name=" ").zalo_bot_url is None  # type: ignore[call-arg]
