"""A citizen's notices caused by an officer (the head's decision, an assessment returned) go through the
outbox: owed in the officer's own transaction, sent by the dispatcher once each, in the citizen's language,
composed from the assessment as it is when sent, never to someone who blocked the bot, never stale."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from bot.reminders import CONTINUE_DATA, DISPATCH_JOB
from storage.db import Sessions, unit_of_work
from storage.models import Assessment, Outbox, OutboxStatus, Person
from tests.bot.harness import Clock, Harness, User
from tests.bot.officer_helpers import (
    drain,
    give_role,
    last_to,
    markup_of,
    person_id,
    press,
    register,
    seed_commune,
    started,
    submit_all,
    texts_to,
)

NOW = datetime(2026, 12, 21, 3, 0, tzinfo=UTC)  # 10:00 in Hà Nội


@pytest.fixture
async def bot(sessions: Sessions, tmp_path: Path):  # type: ignore[no-untyped-def]
    h = await started(sessions, tmp_path, clock=Clock(NOW))
    yield h
    await h.stop()


async def _rows(sessions: Sessions, kind: str) -> list[Outbox]:
    async with sessions() as s:
        return list((await s.exec(select(Outbox).where(Outbox.kind == kind).order_by(Outbox.id))).all())


async def _status(sessions: Sessions, user_id: int) -> str:
    pid = await person_id(sessions, user_id)
    async with sessions() as s:
        return (await s.exec(select(Assessment).where(Assessment.person_id == pid))).one().status


async def _block(sessions: Sessions, user_id: int) -> None:
    async with unit_of_work(sessions) as s:
        await s.exec(update(Person).where(col(Person.external_id) == str(user_id)).values(blocked_at=NOW))


async def _reviewed_three(h: Harness) -> tuple[User, User, User]:
    """Lan (vi, 100 points), Minh (en, 50 points) and Hoa (vi, 100 points), all confirmed by the team."""
    lan, minh, hoa = User(h, 1001), User(h, 1002, "en", first_name="Minh"), User(h, 1003, first_name="Hoa")
    reviewer = User(h, 600)
    for citizen, name, points in ((lan, "Nguyễn Thị Lan", 10), (minh, "Trần Văn Minh", 5), (hoa, "Lê Thị Hoa", 10)):
        await register(citizen, "THON1", name)
        await submit_all(citizen, points)
    await reviewer.say("/review THON1 2026")
    for _ in range(3):
        await press(reviewer, "Xác nhận")
    return lan, minh, hoa


async def test_decision_notices_are_owed_with_the_decision_and_sent_once_each(bot: Harness, sessions: Sessions) -> None:
    await seed_commune(sessions)
    await give_role(sessions, 600, "reviewer", "XA1")
    await give_role(sessions, 700, "head", "XA1")
    lan, minh, hoa = await _reviewed_three(bot)
    await _block(sessions, hoa.id)  # Hoa blocked the bot after submitting
    head = User(bot, 700)
    bot.api.clear()

    await head.say("/recognise XA1 2026 --decision 12/QĐ-UBND 20/12/2026")
    # The head's confirmation is immediate; the citizens' results are rows committed with the decision.
    assert "<b>2</b> người được công nhận, <b>1</b> người chưa đủ" in last_to(head)
    assert "giờ nghỉ" not in last_to(head)
    assert [texts_to(bot.api, c.id) for c in (lan, minh, hoa)] == [[], [], []]
    rows = await _rows(sessions, "decision")
    assert {r.person_id for r in rows} == {await person_id(sessions, c.id) for c in (lan, minh, hoa)}
    assert {(r.cycle, r.status, r.due_at) for r in rows} == {("2026", OutboxStatus.PENDING, NOW)}

    stats = await drain(bot)
    assert (stats.sent, stats.blocked) == (2, 1)
    [to_lan], [to_minh] = texts_to(bot.api, lan.id), texts_to(bot.api, minh.id)
    assert "Chúc mừng" in to_lan and "12/QĐ-UBND" in to_lan and "20/12/2026" in to_lan and "100/100" in to_lan
    assert "not enough for recognition" in to_minh and "20 December 2026" in to_minh and "50/100" in to_minh
    assert [c for c in bot.api.calls if int(c.params.get("chat_id", 0) or 0) == hoa.id] == []  # not even tried
    status = {r.person_id: r.status for r in await _rows(sessions, "decision")}
    assert status[await person_id(sessions, hoa.id)] == OutboxStatus.BLOCKED
    assert sorted(status.values()) == sorted([OutboxStatus.SENT, OutboxStatus.SENT, OutboxStatus.BLOCKED])

    # A second run sends nothing more.
    sent = len(bot.api.sent("sendMessage"))
    assert (await drain(bot)).claimed == 0
    assert len(bot.api.sent("sendMessage")) == sent


async def test_a_decision_in_the_quiet_hours_reaches_citizens_at_their_end(sessions: Sessions, tmp_path: Path) -> None:
    clock = Clock(NOW)
    h = await started(sessions, tmp_path, clock=clock)
    try:
        await seed_commune(sessions)
        await give_role(sessions, 600, "reviewer", "XA1")
        await give_role(sessions, 700, "head", "XA1")
        lan, minh, _hoa = await _reviewed_three(h)
        clock.now = datetime(2026, 12, 21, 15, 0, tzinfo=UTC)  # 22:00 in Hà Nội
        head = User(h, 700)
        await head.say("/recognise XA1 2026 --decision 12/QĐ-UBND 20/12/2026")
        assert "Đã ghi Quyết định số <b>12/QĐ-UBND</b>" in last_to(head)
        assert "Đang trong giờ nghỉ" in last_to(head) and "08:00" in last_to(head)
        assert (await drain(h)).claimed == 0
        assert not any("Chúc mừng" in t for t in texts_to(h.api, lan.id))
        clock.now = datetime(2026, 12, 22, 1, 0, tzinfo=UTC)  # 08:00
        assert (await drain(h)).sent == 3
        assert "Chúc mừng" in texts_to(h.api, lan.id)[-1] and "not enough" in texts_to(h.api, minh.id)[-1]
    finally:
        await h.stop()


async def _return(reviewer: User, indicators: tuple[int, ...], reason: str) -> None:
    await reviewer.say("/review THON1 2026")
    await press(reviewer, "Trả lại")
    for n in indicators:
        await press(reviewer, f"CT {n}")
    await press(reviewer, "Nhập lý do")
    await reviewer.say(reason)


async def _resubmit(citizen: User) -> None:
    await citizen.say("/start")  # the summary of the returned assessment
    await press(citizen, "Nộp bản tự đánh giá")
    await press(citizen, "Nộp")


async def test_the_return_notice_is_sent_from_the_outbox_with_a_lasting_continue_button(
    bot: Harness, sessions: Sessions
) -> None:
    await seed_commune(sessions)
    await give_role(sessions, 600, "reviewer", "XA1")
    lan, reviewer = User(bot, 1001), User(bot, 600)
    await register(lan, "THON1", "Nguyễn Thị Lan")
    await submit_all(lan, 10)
    bot.api.clear()
    await _return(reviewer, (2, 7), "Thiếu <ảnh> kế hoạch")
    assert "Người dân sẽ nhận được thông báo" in texts_to(bot.api, reviewer.id)[-2]
    assert texts_to(bot.api, lan.id) == []
    [row] = await _rows(sessions, "returned")
    assert (row.status, row.cycle.startswith("2026:r")) == (OutboxStatus.PENDING, True)

    assert (await drain(bot)).sent == 1
    [notice] = texts_to(bot.api, lan.id)
    assert "trả lại bản tự đánh giá năm 2026" in notice and "chỉ tiêu 2, 7" in notice
    assert "Thiếu &lt;ảnh&gt; kế hoạch" in notice  # the reviewer's words, escaped
    assert [[b["callback_data"] for b in r] for r in markup_of(bot.api, lan.id)] == [[CONTINUE_DATA]]
    await lan.say("/status")  # the person moves on: a step button would now be stale, this one is not
    await lan.press(CONTINUE_DATA)
    assert "đề nghị bạn sửa chỉ tiêu: 2, 7" in last_to(lan)
    assert (await drain(bot)).claimed == 0


async def test_a_return_already_answered_is_not_announced(bot: Harness, sessions: Sessions) -> None:
    await seed_commune(sessions)
    await give_role(sessions, 600, "reviewer", "XA1")
    lan, reviewer = User(bot, 1001), User(bot, 600)
    await register(lan, "THON1", "Nguyễn Thị Lan")
    await submit_all(lan, 10)
    await _return(reviewer, (3,), "Ảnh bị mờ, chụp lại")
    await _resubmit(lan)  # Lan saw it in the bot before the notice went out
    assert await _status(sessions, lan.id) == "submitted"
    bot.api.clear()
    stats = await drain(bot)
    assert (stats.sent, stats.skipped) == (0, 1)
    assert texts_to(bot.api, lan.id) == []
    [row] = await _rows(sessions, "returned")
    assert (row.status, row.last_error) == (OutboxStatus.CANCELLED, "no longer returned")


async def test_a_second_return_overtakes_the_first_notice(bot: Harness, sessions: Sessions) -> None:
    await seed_commune(sessions)
    await give_role(sessions, 600, "reviewer", "XA1")
    lan, reviewer = User(bot, 1001), User(bot, 600)
    await register(lan, "THON1", "Nguyễn Thị Lan")
    await submit_all(lan, 10)
    await _return(reviewer, (3,), "Ảnh bị mờ, chụp lại")
    await _resubmit(lan)
    await _return(reviewer, (4, 6), "Thiếu xác nhận của thôn")
    first, second = await _rows(sessions, "returned")
    assert first.cycle != second.cycle  # one row per return
    bot.api.clear()
    stats = await drain(bot)
    # Both rows came in one batch: one message a second to a chat, so the second waits its turn.
    assert (stats.sent, stats.skipped, stats.deferred) == (0, 1, 1)
    clock = bot.app.bot_data.clock
    assert isinstance(clock, Clock)
    clock.now += timedelta(seconds=2)
    assert (await drain(bot)).sent == 1
    [notice] = texts_to(bot.api, lan.id)
    assert "chỉ tiêu 4, 6" in notice and "Thiếu xác nhận của thôn" in notice
    first, second = await _rows(sessions, "returned")
    assert (first.status, first.last_error, second.status) == (
        OutboxStatus.CANCELLED,
        "returned again",
        OutboxStatus.SENT,
    )


async def test_with_the_scheduler_on_the_notice_goes_out_without_waiting_for_the_interval(
    sessions: Sessions, tmp_path: Path
) -> None:
    long = 3600.0  # neither job comes round by itself during the test
    h = await started(
        sessions, tmp_path, clock=Clock(NOW), scheduler_enabled=True, dispatch_interval=long, planning_interval=long
    )
    try:
        await seed_commune(sessions)
        await give_role(sessions, 600, "reviewer", "XA1")
        lan, reviewer = User(h, 1001), User(h, 600)
        await register(lan, "THON1", "Nguyễn Thị Lan")
        await submit_all(lan, 10)
        await _return(reviewer, (5,), "Thiếu minh chứng")
        woken = [t for t in asyncio.all_tasks() if t.get_name() == f"{DISPATCH_JOB}:now"]
        assert woken  # the officer's update started one dispatch run after its commit
        await asyncio.gather(*woken)
        assert any("chỉ tiêu 5" in t for t in texts_to(h.api, lan.id))
        [row] = await _rows(sessions, "returned")
        assert row.status == OutboxStatus.SENT
        next_run = h.app.job_queue.get_jobs_by_name(DISPATCH_JOB)[0].next_t  # type: ignore[union-attr]
        assert next_run is not None and next_run > datetime.now(UTC) + timedelta(minutes=30)  # schedule unchanged
    finally:
        await h.stop()
