"""A citizen's whole journey through the real Application: /start to the result, with evidence."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select

from conversations.criteria import default_registry
from storage import repo_people as rp
from storage.db import Sessions, unit_of_work
from storage.models import Answer, Assessment, AuditEvent, Evidence, Person
from tests.bot.chat_view import Citizen
from tests.bot.harness import Harness, User


async def make_unit(sessions: Sessions, code: str = "THON1", name: str = "Thôn Bình Vọng", **kw) -> int:
    async with unit_of_work(sessions) as s:
        unit = await rp.add_unit(session=s, code=code, name=name, **kw)
        return unit.id


@pytest.fixture
async def bot(sessions: Sessions, tmp_path: Path):
    h = await Harness.start(sessions, tmp_path / "evidence")
    yield h
    await h.stop()


async def register(user: User, code: str | None = "THON1", name: str = "Nguyễn Thị Lan") -> None:
    await user.say(f"/start {code}" if code else "/start")
    await user.press_label("đồng ý")
    await user.say(name)


async def test_whole_journey_with_photo_document_and_album(bot: Harness, sessions: Sessions, tmp_path: Path) -> None:
    await make_unit(sessions)
    lan = Citizen(bot, 1001)
    await lan.say("/start THON1")
    assert "Nghị định 13/2023" in lan.last_text()
    # Nothing but the Telegram id (and the waiting join code) before consent.
    async with sessions() as s:
        person = (await s.exec(select(Person))).one()
        assert person.full_name is None and person.consent_at is None and person.unit_id is None
    await lan.press_label("Tôi đồng ý")
    assert "họ và tên" in lan.last_text()
    await lan.say("  Nguyễn   Thị Lan ")
    assert "nhóm đối tượng" in lan.last_text()
    await lan.press_label("Người dân trong cộng đồng")
    pack = default_registry().latest("phu-luc-i")
    assert "Chỉ tiêu 1/10" in lan.last_text()
    assert pack.indicator(1).text.vi in lan.last_text()

    for n in pack.numbers:
        assert f"Chỉ tiêu {n}/10" in lan.last_text()
        await lan.press_label("10 điểm")
        if n == 1:
            await lan.photo(b"\xff\xd8 library card")
        elif n == 2:
            await lan.document("ke-hoach.pdf", "application/pdf", b"%PDF-1.4 plan")
        elif n == 3:
            for i in range(3):
                await lan.photo(f"album {i}".encode(), media_group_id="alb1")
            await bot.settle()
            assert "Đã nhận: 3 ảnh" in lan.now()  # one receipt for the album, as it reads after its last file
        elif n == 10:
            await lan.press_label("Xong")
            assert "chưa có minh chứng" in lan.last_text()
            await lan.press_label("Bỏ qua")
            break
        else:
            await lan.photo(f"photo {n}".encode())
        await lan.press_label("Xong")

    review = lan.last_text()
    assert "Xem lại" in review
    assert "Tổng điểm hiện tại: <b>90/100</b>" in review
    assert "chỉ tiêu 10" in review  # held back: no evidence and below 5
    await lan.press_label("Nộp bản tự đánh giá")
    await lan.press_label("Nộp")
    result = lan.last_text()
    assert "Tổng điểm: <b>90/100</b>" in result
    assert "chờ tổ đánh giá" in result
    assert "Chưa có minh chứng (đang tính 0 điểm): chỉ tiêu 10" in result
    assert "Dưới 5 điểm" not in result  # the same indicator is not listed twice
    assert "Đã nộp lúc 10:00 1/6/26" in result  # Babel's Vietnamese short format, in Asia/Ho_Chi_Minh

    async with sessions() as s:
        a = (await s.exec(select(Assessment))).one()
        assert (a.status, a.total, a.pack_id, a.pack_version) == ("submitted", 90, "phu-luc-i", 1)
        files = (await s.exec(select(Evidence).order_by(Evidence.id))).all()
        assert [f.indicator for f in files].count(3) == 3  # the album: three items
        assert {f.kind for f in files} == {"photo", "document"}
        doc = next(f for f in files if f.kind == "document")
        assert doc.mime_type == "application/pdf" and doc.file_name == "ke-hoach.pdf"
        stored = tmp_path / "evidence" / doc.path
        assert stored.read_bytes() == b"%PDF-1.4 plan"
        import hashlib

        assert doc.sha256 == hashlib.sha256(b"%PDF-1.4 plan").hexdigest()
        assert len((await s.exec(select(Answer))).all()) == 10
        assert (await s.exec(select(AuditEvent))).one().action == "submitted"

    # After submission the answers are locked.
    await lan.say("/start")
    assert "chờ tổ đánh giá" in lan.last_text()


async def test_album_gets_one_reply(sessions: Sessions, tmp_path: Path) -> None:
    # Long enough that four back-to-back updates fall inside it even on a busy machine.
    bot = await Harness.start(sessions, tmp_path / "evidence", album_settle_seconds=0.6)
    await make_unit(sessions)
    lan = User(bot, 1002)
    await register(lan)
    await lan.press_label("Người dân trong cộng đồng")
    await lan.press_label("8 điểm")
    bot.api.clear()
    for i in range(4):
        await lan.photo(f"p{i}".encode(), media_group_id="g")

    await bot.settle()
    await bot.stop()
    replies = [t for t in bot.api.texts() if "Đã nhận" in t]
    assert replies == ["📎 Chỉ tiêu 1 · Đã nhận: 4 ảnh. Gửi thêm, hoặc chọn «Xong»."]


async def test_bot_api_and_file_addresses_come_from_settings(bot: Harness, sessions: Sessions) -> None:
    await make_unit(sessions)
    lan = User(bot, 1003)
    await register(lan)
    await lan.press_label("Người dân trong cộng đồng")
    await lan.press_label("10 điểm")
    await lan.photo(b"where from")
    assert bot.api.calls and all(c.url.startswith("http://botapi.invalid/bot123456:TEST-TOKEN/") for c in bot.api.calls)
    assert bot.api.download_urls and all(u.startswith("http://botapi.invalid/file/bot") for u in bot.api.download_urls)


async def test_send_evidence_on_the_skip_warning_asks_for_evidence(bot: Harness, sessions: Sessions) -> None:
    await make_unit(sessions)
    lan = User(bot, 1004)
    await register(lan)
    await lan.press_label("Người dân trong cộng đồng")
    await lan.press_label("8 điểm")
    await lan.press_label("Xong")
    assert "chưa có minh chứng" in lan.last_text()
    await lan.press_label("Gửi minh chứng")
    # The evidence prompt of the same indicator, not the level screen it was chosen on.
    assert "làm minh chứng cho chỉ tiêu 1" in lan.last_text()
    assert any("Xong" in b for b in lan.buttons()) and not any("điểm" in b for b in lan.buttons())
    await lan.photo(b"late proof")
    await lan.press_label("Xong")
    assert "Chỉ tiêu 2/10" in lan.last_text()
    async with sessions() as s:
        answer = (await s.exec(select(Answer).where(Answer.indicator == 1))).one()
        assert answer.chosen == 8
        assert len((await s.exec(select(Evidence).where(Evidence.indicator == 1))).all()) == 1
