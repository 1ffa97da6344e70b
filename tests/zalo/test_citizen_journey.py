"""A citizen's whole journey on Zalo, over real HTTP against a fake Zalo Bot API on 127.0.0.1: any first
message, consent, name, the unit code typed, the group, ten indicators with photo evidence, review, submit;
typed numbers and words for the choices; bad input; and continuing after a restart."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlmodel import select

from conversations.criteria import default_registry
from storage.db import Sessions
from storage.models import Assessment, AssessmentStatus, Evidence, Person
from tests.bot.test_citizen_journey import make_unit
from tests.fakes.zalo_api import (
    USER_ID,
    FakeZaloApi,
    sticker_update,
    text_update,
    unsupported_update,
)
from tests.zalo.people import MAX, Typist, jpeg, make_bot

Citizen = Typist


@pytest.fixture
async def zalo_api() -> AsyncIterator[FakeZaloApi]:
    async with FakeZaloApi() as fake:
        yield fake


async def test_whole_journey_typed(zalo_api: FakeZaloApi, sessions: Sessions, tmp_path: Path) -> None:
    await make_unit(sessions)
    bot = make_bot(zalo_api, sessions, tmp_path / "evidence")
    an = Citizen(bot, zalo_api)

    welcome = await an.say("Xin chào")
    assert "Nghị định 13/2023" in welcome and "1." in welcome and "Gõ số 1–2" in welcome
    out_of_range = await an.say("7")
    assert "từ 1 đến 2" in out_of_range
    async with sessions() as s:
        person = (await s.exec(select(Person))).one()
        assert person.consent_at is None and person.channel == "zalo" and person.external_id == USER_ID
        assert person.display_name == "Nguyễn Văn An"
    assert "họ và tên" in await an.say("đồng ý")
    assert "mã" in (await an.say("Nguyễn Văn An")).lower()
    assert "nhóm đối tượng" in await an.say("THON1")
    level = await an.say("1")
    pack = default_registry().latest("phu-luc-i")
    assert "Chỉ tiêu 1/10" in level

    for i, n in enumerate(pack.numbers):
        assert f"Chỉ tiêu {n}/10" in level
        await an.say("1")  # the first level: 10 points
        if i == 3:
            assert "Zalo chỉ gửi được ảnh" in await an.send(unsupported_update(user_id=USER_ID))
        received = await an.photo(jpeg(n))
        assert f"Chỉ tiêu {n} · Đã nhận: 1 ảnh" in received and "1.</b> ✔️ Xong" in received
        level = await an.say("Xong")
    assert "nộp" in level.lower()
    confirm = await an.say("nộp")
    result = await an.say("1")
    assert "100" in result
    async with sessions() as s:
        assessment = (await s.exec(select(Assessment))).one()
        assert assessment.status == AssessmentStatus.SUBMITTED and assessment.total == 100
        files = (await s.exec(select(Evidence))).all()
        assert len(files) == 10
        assert all((tmp_path / "evidence" / f.path).is_file() for f in files)
    assert confirm
    assert all(0 < len(t) <= MAX for t in zalo_api.texts())
    # After submitting, a sticker is no dead end: it is submitted, what comes next, where to look.
    after = await an.send(sticker_update(user_id=USER_ID))
    assert after.startswith("📤 Bản tự đánh giá năm 2026 của bạn đã nộp") and "Tổ đánh giá sẽ xem xét" in after
    assert "/status" in after and "1." not in after


async def test_continues_after_restart_and_commands_as_words(
    zalo_api: FakeZaloApi, sessions: Sessions, tmp_path: Path
) -> None:
    await make_unit(sessions)
    first = make_bot(zalo_api, sessions, tmp_path / "evidence")
    an = Citizen(first, zalo_api)
    await an.say("Xin chào")
    await an.say("1")
    await an.say("Trần Thị Bình")
    await an.say("THON1")
    await an.say("1")
    await an.say("2")  # a level of indicator 1
    # A new process on the same database takes over where she was.
    second = make_bot(zalo_api, sessions, tmp_path / "evidence")
    an.bot = second
    status = await an.say("trạng thái")
    assert "Tình hình tự đánh giá năm 2026" in status and "Trần Thị Bình" in status
    # Typed answers apply to the step she is on: the evidence step of indicator 1, shown right after.
    assert "1.</b> ✔️ Xong" in status
    assert "«Công dân học tập»</b> là danh hiệu" in await an.say("Trợ giúp")
    assert "Chỉ tiêu 1 · Đã nhận: 1 ảnh" in await an.photo(jpeg(1))
    # /reminders as plain words, with its argument.
    assert "Đã tắt nhắc nhở" in await an.say("Nhắc nhở tắt")
    async with sessions() as s:
        assert (await s.exec(select(Person))).one().reminders is False
    assert "Đã bật nhắc nhở" in await an.say("/reminders on")
    # An officer command is not "unknown" on Zalo: without a role, a polite refusal.
    assert "chưa được giao vai trò" in await an.say("/tally")
    assert "Bot không hiểu lệnh này" in await an.say("/khongco")


async def test_one_persons_quick_messages_apply_in_order_beside_anothers(
    zalo_api: FakeZaloApi, sessions: Sessions, tmp_path: Path
) -> None:
    await make_unit(sessions)
    bot = make_bot(zalo_api, sessions, tmp_path / "evidence")
    steps = ("Xin chào", "1", "Phạm Thị Dung", "THON1", "1", "1")  # ... to indicator 1's evidence step
    for typed in steps:  # no waiting between messages: each is taken while the earlier ones are handled
        await bot.receive(text_update(typed, user_id="dung"))
        await bot.receive(text_update("trợ giúp", user_id="other"))
    await bot.drain()
    async with sessions() as s:
        dung = (await s.exec(select(Person).where(Person.external_id == "dung"))).one()
        assessment = (await s.exec(select(Assessment).where(Assessment.person_id == dung.id))).one()
    assert dung.full_name == "Phạm Thị Dung" and (assessment.step, assessment.indicator) == ("evidence", 1)
    assert len(zalo_api.texts("other")) == len(steps)
    assert bot._lanes is not None and bot._lanes.busy == 0  # every lane dropped once its person had nothing waiting


async def test_zalo_texts_say_type_where_telegram_says_press(
    zalo_api: FakeZaloApi, sessions: Sessions, tmp_path: Path
) -> None:
    bot = make_bot(zalo_api, sessions, tmp_path / "evidence")
    an = Citizen(bot, zalo_api)
    await an.say("Xin chào")
    declined = await an.say("2")  # "I do not agree": nothing is kept, and how to start again is typed
    assert "gõ <b>bắt đầu</b>" in declined and "bấm" not in declined.lower()
    await bot.close()
