"""State lives in the database: a new process, days later, continues exactly where the person was."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlmodel import select

from conversations.criteria import Registry, default_registry, parse_pack
from storage.db import Sessions, unit_of_work
from storage.models import Assessment
from tests.bot.harness import Clock, Harness, User
from tests.bot.test_citizen_journey import make_unit, register


async def test_restart_mid_journey_continues_at_the_same_step(sessions: Sessions, tmp_path: Path) -> None:
    await make_unit(sessions)
    first = await Harness.start(sessions, tmp_path / "ev")
    lan = User(first, 3001)
    await register(lan)
    await lan.press_label("Người dân trong cộng đồng")
    await lan.press_label("8 điểm")
    await lan.photo(b"one")
    await lan.press_label("Xong")
    await lan.press_label("5 điểm")
    pending_done = next(b["callback_data"] for row in first.api.last_markup() for b in row if "Xong" in b["text"])
    await first.stop()  # the process goes away; nothing is kept in memory

    clock = Clock(datetime(2026, 6, 4, 2, 0, tzinfo=UTC))  # three days later
    second = await Harness.start(sessions, tmp_path / "ev", clock=clock)
    lan.h = second
    await lan.say("/start")
    assert "minh chứng cho chỉ tiêu 2" in lan.last_text()
    await lan.photo(b"two")
    await lan.press(pending_done)  # a button from the old process still works: it carries the stored revision
    assert "Chỉ tiêu 3/10" in lan.last_text()
    await second.stop()


async def test_two_processes_serve_one_person_alternately(sessions: Sessions, tmp_path: Path) -> None:
    await make_unit(sessions)
    a = await Harness.start(sessions, tmp_path / "ev")
    b = await Harness.start(sessions, tmp_path / "ev")
    lan_a, lan_b = User(a, 3002), User(b, 3002)
    await lan_a.say("/start THON1")
    consent = next(bt["callback_data"] for row in a.api.last_markup() for bt in row if "đồng ý" in bt["text"])
    await lan_b.press(consent)
    await lan_a.say("Trần Văn Bình")
    group = next(bt["callback_data"] for row in a.api.last_markup() for bt in row if "cộng đồng" in bt["text"])
    await lan_b.press(group)
    assert "Chỉ tiêu 1/10" in lan_b.last_text()
    await a.stop()
    await b.stop()


async def test_status_shows_progress_and_continue_button(sessions: Sessions, tmp_path: Path) -> None:
    await make_unit(sessions)
    h = await Harness.start(sessions, tmp_path / "ev")
    lan = User(h, 3003)
    await register(lan)
    await lan.press_label("Người dân trong cộng đồng")
    await lan.press_label("10 điểm")
    await lan.photo(b"p")
    await lan.press_label("Xong")
    await lan.say("/status")
    status = lan.last_text()
    assert "Đã chọn mức 1/10" in status and "1 chỉ tiêu có minh chứng" in status
    assert "Tổng điểm hiện tại: <b>10/100</b>" in status
    assert "Còn thiếu 70 điểm" in status
    await lan.press_label("Tiếp tục")
    assert "Chỉ tiêu 2/10" in lan.last_text()
    await h.stop()


async def test_new_pack_version_does_not_break_an_open_assessment(sessions: Sessions, tmp_path: Path) -> None:
    await make_unit(sessions)
    h = await Harness.start(sessions, tmp_path / "ev")
    lan = User(h, 3004)
    await register(lan)
    await lan.press_label("Người dân trong cộng đồng")
    await lan.press_label("10 điểm")
    await h.stop()

    import dataclasses

    v1 = default_registry().latest("phu-luc-i")
    ind1 = v1.indicator(1)
    changed = dataclasses.replace(ind1, text=dataclasses.replace(ind1.text, vi="Chỉ tiêu mới của phiên bản 2"))
    v2 = dataclasses.replace(v1, version=2, indicators=(changed, *v1.indicators[1:]))
    registry = Registry(
        [*(default_registry().get(i, default_registry().latest(i).version) for i in default_registry().ids()), v2]
    )
    h2 = await Harness.start(sessions, tmp_path / "ev")
    h2.app.bot_data.registry = registry
    lan.h = h2
    await lan.say("/start")
    await lan.press_label("Quay lại")
    assert v1.indicator(1).text.vi in lan.last_text()  # still version 1
    async with sessions() as s:
        a = (await s.exec(select(Assessment))).one()
        assert (a.pack_id, a.pack_version) == ("phu-luc-i", 1)
    # A newcomer starts on version 2.
    binh = User(h2, 3005)
    await register(binh)
    await binh.press_label("Người dân trong cộng đồng")
    assert "Chỉ tiêu mới của phiên bản 2" in binh.last_text()
    await h2.stop()
    assert parse_pack  # the loader API used by officers stays importable


async def test_unit_override_swaps_indicators_6_and_7(sessions: Sessions, tmp_path: Path) -> None:
    await make_unit(
        sessions,
        code="TRUONG",
        name="Trường MN Tam Hưng A",
        kind="learning",
        pack_overrides={"phu-luc-iv": "phu-luc-iv-i67"},
    )
    h = await Harness.start(sessions, tmp_path / "ev")
    lan = User(h, 3006)
    await register(lan, code="TRUONG")
    await lan.press_label("Cán bộ")
    async with sessions() as s:
        a = (await s.exec(select(Assessment))).one()
        assert (a.pack_id, a.pack_version, a.group_code) == ("phu-luc-iv-i67", 1, "staff")
    donor = default_registry().latest("phu-luc-i")
    for _ in range(5):
        await lan.press_label("0 điểm")
    assert donor.indicator(6).text.vi in lan.last_text()
    await h.stop()


async def test_language_from_telegram_and_switch(sessions: Sessions, tmp_path: Path) -> None:
    await make_unit(sessions)
    h = await Harness.start(sessions, tmp_path / "ev")
    anna = User(h, 3007, language_code="en-GB")
    await anna.say("/start THON1")
    assert "Do you agree?" in anna.last_text()
    await anna.press_label("I agree")
    await anna.say("/language")
    await anna.press_label("Tiếng Việt")
    assert "Đã chuyển sang tiếng Việt" in anna.last_text()
    await anna.say("/start")
    assert "họ và tên" in anna.last_text()
    await h.stop()


async def test_declining_consent_stores_nothing_and_can_restart(sessions: Sessions, tmp_path: Path) -> None:
    await make_unit(sessions)
    h = await Harness.start(sessions, tmp_path / "ev")
    lan = User(h, 3008)
    await lan.say("/start THON1")
    await lan.press_label("Không đồng ý")
    assert "không lưu thông tin" in lan.last_text()
    async with sessions() as s:
        from storage.models import Person

        p = (await s.exec(select(Person))).one()
        assert (p.full_name, p.unit_id, p.consent_at, p.pending_code) == (None, None, None, None)
    await lan.press_label("Bắt đầu lại")
    assert "Nghị định 13/2023" in lan.last_text()
    await h.stop()


async def test_my_data_and_delete_me(sessions: Sessions, tmp_path: Path) -> None:
    await make_unit(sessions)
    h = await Harness.start(sessions, tmp_path / "ev")
    lan = User(h, 3009)
    await register(lan)
    await lan.press_label("Người dân trong cộng đồng")
    await lan.press_label("10 điểm")
    await lan.photo(b"secret")
    files = list((tmp_path / "ev").rglob("*.jpg"))
    assert len(files) == 1
    await lan.say("/mydata")
    shown = lan.last_text()
    assert "Nguyễn Thị Lan" in shown and "Thôn Bình Vọng" in shown and "1 tệp minh chứng" in shown
    await lan.say("/deleteme")
    await lan.press_label("Giữ lại")
    assert "giữ nguyên" in lan.last_text()
    await lan.say("/deleteme")
    await lan.press_label("Xóa toàn bộ")
    assert "Đã xóa toàn bộ dữ liệu của bạn (1 tệp" in lan.last_text()
    assert not files[0].exists()
    async with unit_of_work(sessions) as s:
        from storage.models import Answer, Evidence, Person

        assert (await s.exec(select(Person))).all() == []
        assert (await s.exec(select(Assessment))).all() == []
        assert (await s.exec(select(Answer))).all() == []
        assert (await s.exec(select(Evidence))).all() == []
    await h.stop()


async def test_help_and_cancel(sessions: Sessions, tmp_path: Path) -> None:
    await make_unit(sessions)
    h = await Harness.start(sessions, tmp_path / "ev")
    lan = User(h, 3010)
    await lan.say("/help")
    assert "80 điểm" in lan.last_text()
    await register(lan)
    await lan.say("/cancel")
    assert "vẫn được lưu" in lan.last_text()
    await h.stop()
