"""Role × scope for every officer command and button: who is let in, who gets a polite refusal, and that a
refusal changes nothing. Also the typed-step plumbing: text reaches the citizen handlers unless the sender
owes an officer step; /cancel drops the step; role links expire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from storage.db import Sessions
from storage.models import Assessment, AuditEvent, OfficerPending, Outbox, RoleInvite, Unit
from tests.bot.harness import Clock, Harness, User
from tests.bot.officer_helpers import (
    button_data,
    drain,
    give_role,
    last_to,
    press,
    register,
    seed_commune,
    sent_to,
    started,
    submit_all,
    texts_to,
)
from tests.fakes.telegram_api import Failure

ADMIN_BY_SETTING = 900
# telegram id -> (role, unit) held; every actor below targets THON1 (inside XA1).
ACTORS: dict[str, tuple[int, str | None, str | None]] = {
    "nobody": (101, None, None),
    "reviewer_sibling": (102, "reviewer", "THON2"),
    "reviewer": (103, "reviewer", "XA1"),
    "head": (104, "head", "XA1"),
    "officer": (105, "officer", "XA1"),
    "officer_here": (106, "officer", "THON1"),
    "officer_other_commune": (107, "officer", "XA2"),
    "admin_role": (108, "admin", None),
    "admin_setting": (ADMIN_BY_SETTING, None, None),
}
ADMINS = {"admin_role", "admin_setting"}
COMMANDS = {
    "/review THON1": {"reviewer"} | ADMINS,
    "/recognise THON1": {"head"} | ADMINS,
    "/invite THON1": {"officer", "officer_here"} | ADMINS,
    "/grant reviewer THON1": {"officer", "officer_here"} | ADMINS,
    "/roles THON1": {"officer", "officer_here"} | ADMINS,
}
REFUSALS = ("Xin lỗi", "Không tìm thấy")


@pytest.fixture
async def bot(sessions: Sessions, tmp_path: Path):
    h = await started(sessions, tmp_path, admin_ids=[ADMIN_BY_SETTING])
    yield h
    await h.stop()


async def _seed_actors(sessions: Sessions) -> None:
    await seed_commune(sessions)
    for user_id, role, unit in ACTORS.values():
        if role:
            await give_role(sessions, user_id, role, unit)


@pytest.mark.parametrize("command", sorted(COMMANDS))
async def test_command_matrix(bot: Harness, sessions: Sessions, command: str) -> None:
    await _seed_actors(sessions)
    lan = User(bot, 1001)
    await register(lan, "THON1", "Nguyễn Thị Lan")
    await submit_all(lan, 10)
    wrong = []
    for name, (user_id, _, _) in ACTORS.items():
        bot.api.clear()
        await User(bot, user_id).say(command)
        captions = [p.get("caption", "") for m in ("sendDocument", "sendPhoto") for p in sent_to(bot.api, user_id, m)]
        answers = texts_to(bot.api, user_id) + captions
        refused = any(r in a for a in answers for r in REFUSALS)
        if refused == (name in COMMANDS[command]) or not answers:
            wrong.append((name, answers[-1:] if answers else "no answer"))
    assert wrong == [], wrong
    async with sessions() as s:
        invites = (await s.exec(select(RoleInvite))).all()
        a = (await s.exec(select(Assessment))).one()
    if command.startswith("/grant"):
        assert len(invites) == len(COMMANDS[command])  # refused ones made no link
    else:
        assert invites == []
    assert a.status == "submitted"  # listing, inviting, reviewing a card: nothing decided


async def test_refusals_name_the_reason(bot: Harness, sessions: Sessions) -> None:
    await _seed_actors(sessions)
    sibling, reviewer, officer = User(bot, 102), User(bot, 103), User(bot, 105)
    await sibling.say("/review THON1")
    assert "Xin lỗi, đơn vị <b>THON1</b> không thuộc phạm vi" in last_to(sibling)
    await reviewer.say("/recognise THON1")
    assert "chưa được giao vai trò" in last_to(reviewer)
    await reviewer.say("/review NOWHERE")
    assert "Không tìm thấy đơn vị có mã <b>NOWHERE</b>" in last_to(reviewer)
    await reviewer.say("/review XA1 2019")
    assert "Năm <b>2019</b> không hợp lệ" in last_to(reviewer)
    await reviewer.say("/review 2025")  # a past year stays readable; the default unit is the reviewer's own
    assert "Không còn bản tự đánh giá nào chờ rà soát trong <b>Xã Văn Bình</b> năm 2025" in last_to(reviewer)
    await officer.say("/grant boss THON1")
    assert "/grant VAI_TRÒ MÃ_ĐƠN_VỊ" in last_to(officer)
    await officer.say("/grant reviewer XA2")
    assert "không thuộc phạm vi" in last_to(officer)


async def test_buttons_recheck_role_and_scope(bot: Harness, sessions: Sessions) -> None:
    await _seed_actors(sessions)
    lan, reviewer = User(bot, 1001), User(bot, 103)
    await register(lan, "THON1", "Nguyễn Thị Lan")
    await submit_all(lan, 10)
    await reviewer.say("/review")
    confirm = button_data(reviewer, "Xác nhận")
    _, verb, owner, rev, _browse = confirm.split("|")
    async with sessions() as s:
        ids = {u.code: u.id for u in (await s.exec(select(Unit))).all()}

    # The same button pressed by people who may not review THON1: a citizen, a sibling reviewer, a head;
    # and the sibling reviewer with the unit swapped for their own.
    for user_id, data in [
        (1001, confirm),
        (102, confirm),
        (104, confirm),
        (102, f"o|{verb}|{owner}|{rev}|{ids['THON2']}"),
    ]:
        await User(bot, user_id).press(data)
        assert (await _status(sessions)) == "submitted", user_id
    # Forged data: nothing.
    await reviewer.press("o|rc|x|1|1")
    await reviewer.press("o|zz|1|1|1")
    assert (await _status(sessions)) == "submitted"

    # The reviewer confirms; the older adjust button is now stale.
    adjust = button_data(reviewer, "Điều chỉnh")
    await press(reviewer, "Xác nhận")
    assert (await _status(sessions)) == "reviewed"
    await reviewer.press(adjust)
    assert any("Nút này đã cũ" in t for t in texts_to(bot.api, reviewer.id)[-3:])
    async with sessions() as s:
        assert (await s.exec(select(OfficerPending))).all() == []

    # A decision button for another commune, pressed by XA1's head: refused, nothing pending.
    head = User(bot, 104)
    await head.press(f"o|dq|{ids['XA2']}|2026|")
    assert "chưa được giao vai trò" in last_to(head)
    async with sessions() as s:
        assert (await s.exec(select(OfficerPending))).all() == []


async def _status(sessions: Sessions) -> str:
    async with sessions() as s:
        return (await s.exec(select(Assessment))).one().status


async def test_text_goes_to_the_citizen_unless_an_officer_step_is_owed(bot: Harness, sessions: Sessions) -> None:
    await _seed_actors(sessions)
    lan, reviewer = User(bot, 1001), User(bot, 103)
    await register(lan, "THON1", "Nguyễn Thị Lan")
    await submit_all(lan, 10)
    # A reviewer owing a reason: their text is the reason's.
    await reviewer.say("/review")
    await press(reviewer, "Điều chỉnh")
    await press(reviewer, "CT 2")
    await press(reviewer, "8 điểm")
    # Meanwhile a newcomer's name still reaches the citizen handlers.
    hoa = User(bot, 1003)
    await hoa.say("/start THON1")
    await press(hoa, "đồng ý")
    await hoa.say("Lê Thị Hoa")
    assert "nhóm đối tượng" in last_to(hoa)
    # /cancel drops the reviewer's step and changes nothing.
    await reviewer.say("/cancel")
    assert "Đã hủy thao tác đang dở" in last_to(reviewer)
    before = len(await _audit(sessions))
    await reviewer.say("Lý do gõ sau khi hủy")
    assert "Đã điều chỉnh" not in last_to(reviewer)
    assert len(await _audit(sessions)) == before
    # Without a step owed, /cancel is the citizen's.
    await reviewer.say("/cancel")
    assert "Đã hủy thao tác đang dở" not in last_to(reviewer)


async def _audit(sessions: Sessions) -> list[AuditEvent]:
    async with sessions() as s:
        return list((await s.exec(select(AuditEvent))).all())


async def test_a_role_link_expires(sessions: Sessions, tmp_path: Path) -> None:
    clock = Clock(datetime(2026, 6, 1, 3, 0, tzinfo=UTC))
    h = await Harness.start(sessions, tmp_path / "evidence", clock=clock, album_settle_seconds=0)
    try:
        await seed_commune(sessions)
        await give_role(sessions, 105, "officer", "XA1")
        officer, late = User(h, 105), User(h, 1009)
        await officer.say("/grant reviewer THON1")
        link = last_to(officer).split("?start=", 1)[1].split()[0]
        clock.now += timedelta(hours=72, seconds=1)
        await late.say(f"/start {link}")
        assert "đã hết hạn" in last_to(late)
        await late.say("/review THON1")
        assert "chưa được giao vai trò" in last_to(late)
        await late.say("/start role-not-a-real-token")
        assert "không hợp lệ" in last_to(late)
    finally:
        await h.stop()


async def test_invite_sends_the_join_link_and_a_qr_png(bot: Harness, sessions: Sessions) -> None:
    await _seed_actors(sessions)
    officer = User(bot, 106)
    await officer.say("/invite")  # the officer's own unit by default
    call = bot.api.sent("sendPhoto")[-1]
    assert "https://t.me/cdht_test_bot?start=THON1" in call.params["caption"]
    assert "Thôn Bình Vọng" in call.params["caption"] and "Zalo" not in call.params["caption"]  # no Zalo bot here
    name, content = call.files["photo"]
    assert name == "qr-THON1.png" and content.startswith(b"\x89PNG\r\n\x1a\n") and len(content) > 300
    # The link works: a newcomer who opens it is asked for consent with the code kept for later.
    newcomer = User(bot, 1010)
    await newcomer.say("/start THON1")
    await press(newcomer, "đồng ý")
    await newcomer.say("Phạm Văn An")
    assert "Thôn Bình Vọng" in last_to(newcomer)


async def test_return_to_a_citizen_who_blocked_the_bot(bot: Harness, sessions: Sessions) -> None:
    await _seed_actors(sessions)
    lan, reviewer = User(bot, 1001), User(bot, 103)
    await register(lan, "THON1", "Nguyễn Thị Lan")
    await submit_all(lan, 10)
    await reviewer.say("/review")
    await press(reviewer, "Trả lại")
    await reviewer.say("chữ")  # while choosing indicators, text points to the buttons
    assert "bấm các nút" in last_to(reviewer)
    await press(reviewer, "Nhập lý do")
    assert "ít nhất một chỉ tiêu" in bot.api.sent("answerCallbackQuery")[-1].params.get("text", "")
    await press(reviewer, "CT 2")
    await press(reviewer, "Nhập lý do")
    blocked = Failure(403, "Forbidden: bot was blocked by the user")
    bot.api.fail_when = lambda method, params: blocked if int(params.get("chat_id", 0)) == lan.id else None
    await reviewer.say("Thiếu minh chứng kế hoạch học tập")
    assert "Đã trả lại bản của Nguyễn Thị Lan" in texts_to(bot.api, reviewer.id)[-2]
    assert (await _status(sessions)) == "returned"
    # The notice is the dispatcher's: Telegram refuses it, the row closes as blocked.
    assert (await drain(bot)).blocked == 1
    async with sessions() as s:
        row = (await s.exec(select(Outbox))).one()
    assert (row.kind, row.status) == ("returned", "blocked")
