"""What a citizen reads at the moments issue 10 names, on Telegram, in Vietnamese and English: the team's points
and reasons once reviewed (and in the decision notice), a closing sentence that follows the status, no dead
end after submitting, a photo kept while editing, evidence added from the summary, a file removed, the chat
keeping each choice with only the newest prompt's buttons and one receipt per evidence step, and the small
ones (the language by name in /mydata, no pack version, dates day first)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select

from storage.db import Sessions
from storage.models import AuditEvent, Evidence, Unit
from tests.bot.chat_view import Citizen, visible
from tests.bot.harness import Harness
from tests.bot.officer_helpers import drain
from tests.bot.test_citizen_journey import make_unit
from tests.team_desk import decide, give_back, review

GROUP = {"vi": "Người dân trong cộng đồng", "en": "Community residents"}
POINTS = {"vi": "{} điểm", "en": "{} points"}
DONE = {"vi": "Xong", "en": "Done"}


@pytest.fixture
async def bot(sessions: Sessions, tmp_path: Path):  # type: ignore[no-untyped-def]
    h = await Harness.start(sessions, tmp_path / "evidence", album_settle_seconds=0)
    yield h
    await h.stop()


async def registered(bot: Harness, user_id: int, lang: str = "vi") -> Citizen:
    """A citizen of THON1 at the first indicator."""
    person = Citizen(bot, user_id, language_code=lang)
    await person.say("/start THON1")
    await person.press_label("Tôi đồng ý" if lang == "vi" else "I agree")
    await person.say("Nguyễn Thị Lan")
    await person.press_label(GROUP[lang])
    return person


async def answered(person: Citizen, lang: str = "vi", *, skip: tuple[int, ...] = ()) -> None:
    """Every indicator at 10 points with a photo, except ``skip`` (skipped without evidence); ends at the summary."""
    for n in range(1, 11):
        await person.press_label(POINTS[lang].format(10))
        if n in skip:
            await person.press_label(DONE[lang])
            await person.press_label("Bỏ qua" if lang == "vi" else "Skip")
            continue
        await person.photo(f"{person.id} photo {n}".encode())
        await person.press_label(DONE[lang])


async def submitted(bot: Harness, user_id: int, lang: str = "vi") -> Citizen:
    person = await registered(bot, user_id, lang)
    await answered(person, lang)
    await person.press_label("Nộp bản tự đánh giá" if lang == "vi" else "Submit the self-assessment")
    await person.press_label("Nộp" if lang == "vi" else "Submit")
    return person


async def unit_path(sessions: Sessions) -> str:
    async with sessions() as s:
        unit = (await s.exec(select(Unit).where(Unit.code == "THON1"))).one()
        return unit.path


# --------------------------------------------------------------------------- 1, 2: the team's points, what is true now


async def test_the_teams_points_show_on_every_screen_once_reviewed_and_in_the_decision(
    bot: Harness, sessions: Sessions
) -> None:
    await make_unit(sessions)
    lan = await submitted(bot, 5001)
    result = lan.now()
    assert "Trạng thái: đã nộp, chờ tổ đánh giá" in result and "Tổ đánh giá sẽ xem xét" in result
    await lan.say("/status")
    status = lan.view()[-1]
    assert "Tổ đánh giá sẽ xem xét" in status.text and status.buttons == []  # submitted: nothing to continue
    assert "phiên bản" not in status.text and "Bộ tiêu chí: Bộ tiêu chí khung" in status.text

    # While the team is at work its figures are not shown; once it has confirmed, everywhere.
    await review(sessions, "telegram", "5001", {2: (8, "Kế hoạch học tập chưa ghi ngày")}, confirm=False)
    await lan.say("/status")
    assert "tổ chấm" not in lan.now()
    await review(sessions, "telegram", "5001", {})
    reason = "Chỉ tiêu 2: bạn chấm 10, tổ chấm 8 — lý do: Kế hoạch học tập chưa ghi ngày"
    for command in ("/status", "/start"):
        await lan.say(command)
        shown = visible(lan.now())
        assert "Tự chấm: 100/100 · Tổ đánh giá chấm: 98/100" in shown, command
        assert reason in shown and "Trạng thái: tổ đánh giá đã xem xét, chờ quyết định công nhận" in shown
        assert "thủ trưởng đơn vị sẽ ra quyết định" in shown and "Tổ đánh giá sẽ xem xét" not in shown
        assert lan.view()[-1].buttons == []

    # The decision: the notice gives the team's total and lists what changed and why.
    assert await decide(sessions, await unit_path(sessions)) == 1
    assert (await drain(bot)).sent == 1
    notice = visible(lan.now())
    assert "98/100" in notice and "12/QĐ-UBND" in notice
    assert "Tổ đánh giá đã chấm lại:" in notice and reason in notice
    await lan.say("/start")
    after = visible(lan.now())
    assert "Trạng thái: 🎉 đã được công nhận «Công dân học tập»" in after
    assert "theo Quyết định số 12/QĐ-UBND ngày 20/12/2026" in after
    assert "sẽ xem xét" not in after and "sẽ ra quyết định" not in after  # nothing is still to come
    assert reason in after


async def test_the_teams_points_in_english(bot: Harness, sessions: Sessions) -> None:
    await make_unit(sessions)
    minh = await submitted(bot, 5002, "en")
    assert "Submitted on 01/06/2026, 10:00." in minh.now()  # day first, as the Vietnamese screen
    await review(sessions, "telegram", "5002", {5: (0, "The screenshot shows someone else's account")})
    await minh.say("/status")
    shown = visible(minh.now())
    assert "Your score: 100/100 · The team's score: 90/100" in shown
    assert "Indicator 5: you gave 10, the team gave 0 — reason: The screenshot shows someone else's account" in shown
    assert "Status: reviewed, awaiting the recognition decision" in shown
    assert "• Below 5 points (each indicator needs 5 or more): indicators 5" in shown  # by the team's points
    await decide(sessions, await unit_path(sessions))
    await drain(bot)
    notice = visible(minh.now())
    assert "90/100" in notice and "What the assessment team changed:" in notice
    assert "Indicator 5: you gave 10, the team gave 0" in notice
    await minh.say("/start")
    assert "You were not recognised for 2026 (decision No. 12/QĐ-UBND of 20/12/2026)." in visible(minh.now())


# --------------------------------------------------------------------------- 3: no dead end once submitted


@pytest.mark.parametrize("lang", ["vi", "en"])
async def test_after_submitting_text_and_a_photo_say_so_and_point_to_status(
    bot: Harness, sessions: Sessions, lang: str
) -> None:
    await make_unit(sessions)
    lan = await submitted(bot, 5003 if lang == "vi" else 5004, lang)
    async with sessions() as s:
        before = len((await s.exec(select(Evidence))).all())
    await lan.say("còn gì nữa không?")
    said = lan.view()[-1]
    expected = {
        "vi": ("📤 Bản tự đánh giá năm 2026 của bạn đã nộp, không cần gửi thêm gì.", "Gõ /status"),
        "en": ("📤 Your 2026 self-assessment has been submitted; nothing more is needed.", "Type /status"),
    }[lang]
    assert said.text.startswith(expected[0]) and expected[1] in said.text and said.buttons == []
    assert "dùng các nút" not in said.text and "use the buttons" not in said.text
    await lan.photo(b"one more")
    said = lan.view()[-1]
    assert ("tệp này chưa được lưu" if lang == "vi" else "this file was not saved") in said.text
    assert ("Tổ đánh giá sẽ xem xét" if lang == "vi" else "The assessment team will review it") in said.text
    assert "Chưa đến bước gửi minh chứng" not in said.text
    async with sessions() as s:
        assert len((await s.exec(select(Evidence))).all()) == before
    await lan.sticker()
    assert lan.now().startswith(expected[0][:20])


# --------------------------------------------------------------------------- 4: a photo while editing, the summary


async def test_a_photo_on_the_level_screen_of_a_chosen_indicator_is_kept(bot: Harness, sessions: Sessions) -> None:
    await make_unit(sessions)
    lan = await registered(bot, 5005)
    await answered(lan, skip=(4,))
    assert "Chưa có minh chứng (đang tính 0 điểm): chỉ tiêu 4" in lan.now()
    await lan.press_label("✏️ 4")
    assert "Bạn đang chọn: <b>10 điểm</b>. Muốn bổ sung minh chứng, cứ gửi ảnh." in lan.now()
    await lan.photo(b"found it")
    assert lan.now().startswith("📎 Chỉ tiêu 4 · Đã nhận: 1 ảnh.")
    async with sessions() as s:
        assert [e.indicator for e in (await s.exec(select(Evidence).where(Evidence.indicator == 4))).all()] == [4]
    await lan.press_label("Xong")
    summary = lan.now()
    assert "Xem lại" in summary and "Tổng điểm hiện tại: <b>100/100</b>" in summary

    # "Add evidence" on the summary: pick the indicator, send, back at the summary.
    await lan.press_label("Thêm minh chứng")
    assert "Thêm minh chứng cho chỉ tiêu nào?" in lan.now()
    assert lan.view()[-1].labels == [f"📎 {n}" for n in range(1, 11)] + ["◀️ Quay lại"]
    await lan.press_label("📎 7")
    assert "làm minh chứng cho chỉ tiêu 7" in lan.now()
    await lan.photo(b"another for 7")
    await lan.press_label("Xong")
    assert "Xem lại" in lan.now() and "📎2" in lan.now()


async def test_before_a_level_is_chosen_a_photo_waits_for_it(bot: Harness, sessions: Sessions) -> None:
    await make_unit(sessions)
    lan = await registered(bot, 5006)
    await lan.photo(b"too early")
    assert "Chưa đến bước gửi minh chứng" in bot.api.texts()[-2]
    async with sessions() as s:
        assert (await s.exec(select(Evidence))).all() == []


# --------------------------------------------------------------------------- 6: the chat keeps the choice


@pytest.mark.parametrize("lang", ["vi", "en"])
async def test_the_chat_keeps_each_choice_and_only_the_newest_prompt_has_buttons(
    bot: Harness, sessions: Sessions, lang: str
) -> None:
    await make_unit(sessions)
    lan = await registered(bot, 5007 if lang == "vi" else 5008, lang)
    chosen_group = {
        "vi": "➡️ Bạn chọn: <b>Người dân trong cộng đồng</b>",
        "en": "➡️ You chose: <b>Community residents</b>",
    }
    assert any(m.text == chosen_group[lang] and not m.buttons for m in lan.view())
    level = lan.view()[-1]
    await lan.press_label(POINTS[lang].format(10))
    record = {
        "vi": "<i>Chỉ tiêu 1/10</i> ➡️ Bạn chọn: <b>10 điểm</b>",
        "en": "<i>Indicator 1/10</i> ➡️ You chose: <b>10 points</b>",
    }
    pressed = next(m for m in lan.view() if m.message_id == level.message_id)
    assert (pressed.text, pressed.buttons) == (record[lang], [])
    # Three photos, one after another: one receipt, updated in place; the ask above it loses its buttons.
    for i in range(3):
        await lan.photo(f"p{i}".encode())
    receipts = [m for m in lan.view() if "📎 " in m.text and ("Đã nhận" in m.text or "Received" in m.text)]
    counted = {"vi": "📎 Chỉ tiêu 1 · Đã nhận: 3 ảnh.", "en": "📎 Indicator 1 · Received: 3 photos."}
    assert len(receipts) == 1 and receipts[0].text.startswith(counted[lang])
    assert [m.message_id for m in lan.live()] == [receipts[0].message_id]
    await lan.say("a word")  # not evidence: said so, the step shown again, still one set of buttons
    assert len(lan.live()) == 1
    await lan.press_label(DONE[lang])
    assert [m.message_id for m in lan.live()] == [lan.view()[-1].message_id]  # the next level screen


# --------------------------------------------------------------------------- 7: removing a file


async def test_a_file_is_removed_from_the_evidence_step_row_and_disk(
    bot: Harness, sessions: Sessions, tmp_path: Path
) -> None:
    await make_unit(sessions)
    lan = await registered(bot, 5009)
    await lan.press_label("8 điểm")
    await lan.photo(b"keep me")
    await lan.document("ke-hoach.pdf", "application/pdf", b"%PDF-1.4 private page")
    assert lan.now().startswith("📎 Chỉ tiêu 1 · Đã nhận: 1 ảnh, 1 tệp.")
    async with sessions() as s:
        doc = (await s.exec(select(Evidence).where(Evidence.kind == "document"))).one()
    stored = tmp_path / "evidence" / doc.path
    assert stored.is_file()
    await lan.press_label("Xóa một tệp")
    listing = lan.view()[-1]
    assert "Xóa tệp nào của chỉ tiêu 1?" in listing.text
    assert "1. Ảnh gửi lúc 10:00 1/6/26" in listing.text and "2. ke-hoach.pdf (gửi lúc 10:00 1/6/26)" in listing.text
    assert listing.labels == ["🗑 1", "🗑 2", "◀️ Quay lại"]
    await lan.press_label("🗑 2")
    assert "🗑 Đã xóa tệp." in bot.api.texts()[-2] and "Đã nhận: 1 ảnh." in lan.now()
    assert not stored.exists()
    async with sessions() as s:
        assert [e.kind for e in (await s.exec(select(Evidence))).all()] == ["photo"]
        assert (await s.exec(select(AuditEvent))).all() == []  # a draft's own file: nobody else has seen it
    # The list's buttons are spent: pressing one again changes nothing.
    await lan.press_on(listing, next(b["callback_data"] for b in listing.buttons if b["text"] == "🗑 1"))
    assert "Nút này đã cũ" in visible(bot.api.texts()[-2])
    async with sessions() as s:
        assert len((await s.exec(select(Evidence))).all()) == 1


async def test_removing_a_file_after_the_team_returned_it_is_audited(bot: Harness, sessions: Sessions) -> None:
    await make_unit(sessions)
    lan = await submitted(bot, 5010)
    await give_back(sessions, "telegram", "5010", [3], "Ảnh chỉ tiêu 3 chụp nhầm giấy tờ của người khác")
    await lan.say("/start")
    assert "đề nghị bạn sửa chỉ tiêu: 3" in lan.now() and "Chỉ tiêu 1, 2, 4, 5, 6, 7, 8, 9, 10: giữ nguyên" in lan.now()
    await lan.press_label("Thêm minh chứng")
    assert lan.view()[-1].labels == ["📎 3", "◀️ Quay lại"]
    await lan.press_label("📎 3")
    await lan.press_label("Xóa một tệp")
    await lan.press_label("🗑 1")
    async with sessions() as s:
        assert (await s.exec(select(Evidence).where(Evidence.indicator == 3))).all() == []
        event = (await s.exec(select(AuditEvent).where(AuditEvent.action == "evidence_removed"))).one()
    assert event.indicator == 3 and event.before is not None and event.before["kind"] == "photo"
    assert len(event.before["sha256"]) == 64


# --------------------------------------------------------------------------- 9: the small ones


@pytest.mark.parametrize(
    ("lang", "language", "status_line"),
    [
        ("vi", "Ngôn ngữ: Tiếng Việt", "• Năm 2026: đang tự đánh giá;"),
        ("en", "Language: English", "• 2026: in progress;"),
    ],
)
async def test_my_data_names_the_language_and_the_status_once(
    bot: Harness, sessions: Sessions, lang: str, language: str, status_line: str
) -> None:
    await make_unit(sessions)
    lan = await registered(bot, 5011 if lang == "vi" else 5012, lang)
    await lan.say("/mydata")
    shown = lan.now()
    assert language in shown and status_line in shown
    assert "Trạng thái" not in shown and "Status:" not in shown


async def test_status_offers_continue_only_while_there_is_something_to_do(bot: Harness, sessions: Sessions) -> None:
    await make_unit(sessions)
    lan = await registered(bot, 5013)
    await lan.say("/status")
    assert lan.view()[-1].labels == ["▶️ Tiếp tục"]
    assert "(phiên bản" not in lan.now()
