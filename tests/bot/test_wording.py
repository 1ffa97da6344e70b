"""Small things a reader trips over (issue 10, item 9): one spelling of a word across every screen, and an
announcement that says "and the units below it" only where there are some."""

from __future__ import annotations

from pathlib import Path

import pytest

import locales
from storage.db import Sessions
from tests.bot.harness import Harness, User
from tests.bot.officer_helpers import give_role, register, seed_commune


def test_hủy_and_xóa_are_spelt_one_way_on_every_screen() -> None:
    """The old-style "huỷ"/"xoá" only among the words a person may type, where both spellings are accepted."""
    shown = {m.id: m.string for m in locales.read_catalog("vi") if m.id and not m.id.startswith("typed.")}
    old_style = {key: text for key, text in shown.items() if any(w in text.lower() for w in ("huỷ", "xoá"))}
    assert old_style == {}
    assert any("hủy" in text for text in shown.values()) and any("xóa" in text.lower() for text in shown.values())


@pytest.fixture
async def bot(sessions: Sessions, tmp_path: Path):  # type: ignore[no-untyped-def]
    h = await Harness.start(sessions, tmp_path / "evidence")
    yield h
    await h.stop()


async def test_an_announcement_names_units_below_only_where_there_are_some(bot: Harness, sessions: Sessions) -> None:
    await seed_commune(sessions)  # XA1 with THON1 and THON2 below it
    await register(User(bot, 1001), "THON1", "Nguyễn Thị Lan")
    await give_role(sessions, 2001, "officer", "XA1")
    officer = User(bot, 2001)
    await officer.say("/broadcast THON1")
    assert "Thông báo tới <b>Thôn Bình Vọng</b>: <b>1</b> người nhận." in officer.last_text()
    assert "trực thuộc" not in officer.last_text()
    await officer.say("Họp thôn lúc 8 giờ")
    assert "người trong <b>Thôn Bình Vọng</b>." in officer.last_text() and "trực thuộc" not in officer.last_text()
    await officer.say("/cancel")
    await officer.say("/broadcast XA1")
    assert "<b>Xã Văn Bình</b> và các đơn vị trực thuộc" in officer.last_text()
