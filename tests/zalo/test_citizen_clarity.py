"""What a citizen reads on Zalo at the moments issue 10 names, typing numbers and words: the level chosen kept
in the chat, the levels as the numbered lines, the hint with the same numbers, a photo kept while editing, a
file removed, no dead end once submitted, and the team's points and reasons on /status and in the decision."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import select

from bot.zalo.outbox import make_dispatcher
from storage.db import Sessions
from storage.models import Evidence, Unit
from tests.bot.chat_view import visible
from tests.bot.test_citizen_journey import make_unit
from tests.fakes.zalo_api import FakeZaloApi, sticker_update
from tests.team_desk import decide, review
from tests.zalo.people import MAX, Typist, jpeg, make_bot


async def at_first_level(typist: Typist, name: str = "Nguyễn Văn An") -> str:
    for typed in ("Xin chào", "đồng ý", name, "THON1"):
        await typist.say(typed)
    return await typist.say("1")  # the first group


async def test_levels_are_the_numbered_lines_and_the_choice_stays_in_the_chat(
    zalo_api: FakeZaloApi, sessions: Sessions, tmp_path: Path
) -> None:
    await make_unit(sessions)
    an = Typist(make_bot(zalo_api, sessions, tmp_path / "evidence"), zalo_api)
    level = await at_first_level(an)
    assert "<b>1. 10 điểm</b>: Đọc, xem hoặc nghe tin tức" in level and "<b>5.</b> 💡 Gợi ý" in level
    assert level.count("Đọc, xem hoặc nghe tin tức, kiến thức gần như hằng ngày") == 1  # not again in the text
    hint = await an.say("gợi ý")
    assert "Gợi ý cho chỉ tiêu 1" in hint and "Sách báo, tivi, đài, điện thoại hay máy tính đều được" in hint
    assert "<b>1.</b> 10 điểm" in hint and "<b>5.</b> 💡 Gợi ý" in hint  # the same numbers as the level screen
    chose = await an.say("1")
    assert chose.startswith("<i>Chỉ tiêu 1/10</i> ➡️ Bạn chọn: <b>10 điểm</b>")
    assert "📎 Gửi ảnh chụp làm minh chứng cho chỉ tiêu 1, ví dụ: thẻ thư viện" in chose  # photos only on Zalo
    received = await an.photo(jpeg(1))
    assert received.startswith("📎 Chỉ tiêu 1 · Đã nhận: 1 ảnh.") and "<b>2.</b> 🗑 Xóa một tệp" in received
    # "Done" is not echoed: the next screen says it all.
    assert (await an.say("Xong")).startswith("<i>Chỉ tiêu 2/10</i>")
    assert all(len(t) <= MAX for t in zalo_api.texts())


async def test_a_file_is_removed_by_typing_its_number(
    zalo_api: FakeZaloApi, sessions: Sessions, tmp_path: Path
) -> None:
    await make_unit(sessions)
    an = Typist(make_bot(zalo_api, sessions, tmp_path / "evidence"), zalo_api)
    await at_first_level(an)
    await an.say("2")  # 8 points
    await an.photo(jpeg(1))
    assert "Đã nhận: 2 ảnh" in await an.photo(jpeg(2))
    listing = await an.say("2")  # 🗑 Xóa một tệp
    assert "Xóa tệp nào của chỉ tiêu 1?" in listing and "1. Ảnh gửi lúc 10:00 1/6/26" in listing
    assert "<b>1.</b> 🗑 1" in listing and "<b>3.</b> ◀️ Quay lại" in listing
    async with sessions() as s:
        first = (await s.exec(select(Evidence).order_by(Evidence.id))).first()
    assert first is not None and (tmp_path / "evidence" / first.path).is_file()
    removed = await an.say("1")
    assert "🗑 Đã xóa tệp." in removed and "Đã nhận: 1 ảnh." in removed
    assert not (tmp_path / "evidence" / first.path).exists()
    async with sessions() as s:
        assert len((await s.exec(select(Evidence))).all()) == 1


async def test_editing_from_the_summary_a_photo_is_evidence_and_after_submitting_no_dead_end(
    zalo_api: FakeZaloApi, sessions: Sessions, tmp_path: Path
) -> None:
    await make_unit(sessions)
    an = Typist(make_bot(zalo_api, sessions, tmp_path / "evidence"), zalo_api)
    await at_first_level(an)
    for n in range(1, 11):
        await an.say("1")
        if n != 4:
            await an.photo(jpeg(n))
            await an.say("Xong")
        else:
            await an.say("Xong")
            await an.say("bỏ qua")
    summary = await an.say("trạng thái")
    assert "Chưa có minh chứng (đang tính 0 điểm): chỉ tiêu 4" in summary
    level = await an.say("4")  # ✏️ 4 on the summary
    assert "Bạn đang chọn: <b>10 điểm</b>. Muốn bổ sung minh chứng, cứ gửi ảnh." in level
    assert (await an.photo(jpeg(40))).startswith("📎 Chỉ tiêu 4 · Đã nhận: 1 ảnh.")
    back = await an.say("xong")
    assert "Tổng điểm hiện tại: <b>100/100</b>" in back
    await an.say("nộp")
    await an.say("1")
    after = await an.say("còn gì nữa không?")
    assert after.startswith("📤 Bản tự đánh giá năm 2026 của bạn đã nộp, không cần gửi thêm gì.")
    assert "Gõ /status" in after and "<b>1.</b>" not in after
    photo = await an.photo(jpeg(99))
    assert "không nhận thêm minh chứng; tệp này chưa được lưu" in photo
    assert "không nhận thêm" in await an.send(sticker_update(user_id=an.id))


async def test_the_teams_points_on_status_and_in_the_decision_on_zalo(
    zalo_api: FakeZaloApi, sessions: Sessions, tmp_path: Path
) -> None:
    await make_unit(sessions)
    bot = make_bot(zalo_api, sessions, tmp_path / "evidence")
    an = Typist(bot, zalo_api)
    await at_first_level(an)
    for n in range(1, 11):
        await an.say("1")
        await an.photo(jpeg(n))
        await an.say("Xong")
    await an.say("nộp")
    await an.say("1")
    await review(sessions, "zalo", an.id, {7: (5, "Sổ thu chi chỉ có một trang")})
    status = visible(await an.say("trạng thái"))
    assert "Tự chấm: 100/100 · Tổ đánh giá chấm: 95/100" in status
    assert "Chỉ tiêu 7: bạn chấm 10, tổ chấm 5 — lý do: Sổ thu chi chỉ có một trang" in status
    assert "1." not in status.split("lý do")[-1]  # nothing to continue: no numbered choices
    async with sessions() as s:
        path = (await s.exec(select(Unit).where(Unit.code == "THON1"))).one().path
    await decide(sessions, path)
    assert (await make_dispatcher(bot.client, bot.data).run()).sent == 1
    notice = visible(zalo_api.texts(an.id)[-1])
    assert "Chúc mừng" in notice and "95/100" in notice
    assert "Tổ đánh giá đã chấm lại:" in notice and "Chỉ tiêu 7: bạn chấm 10, tổ chấm 5" in notice
