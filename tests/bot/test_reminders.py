"""Reminders and broadcasts through the real Application and the real sender (bot/reminders.py) over the
fake Bot API: what a reminder says and its Continue button, Telegram's errors, /reminders, /broadcast."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select
from telegram.error import TimedOut

from bot.reminders import make_dispatcher, policy_for
from scheduler import jobs
from scheduler.dispatch import Dispatcher
from storage import repo_people as rp
from storage.db import Sessions, unit_of_work
from storage.models import Broadcast, Outbox, OutboxStatus, Person
from tests.bot.harness import Clock, Harness, User
from tests.bot.officer_helpers import give_role, markup_of, press, register, seed_commune, submit_all, texts_to
from tests.fakes.telegram_api import Failure, FakeBotApi

NOW = datetime(2026, 12, 24, 2, 0, tzinfo=UTC)  # 09:00 in Hà Nội on 24/12: the 7-days-before reminder


@pytest.fixture
async def bot(sessions: Sessions, tmp_path: Path):  # type: ignore[no-untyped-def]
    h = await Harness.start(sessions, tmp_path / "evidence", clock=Clock(NOW))
    yield h
    await h.stop()


def dispatcher(h: Harness) -> Dispatcher:
    data = h.app.bot_data
    return make_dispatcher(h.app.bot, data, policy_for(data.settings))


async def plan(h: Harness, sessions: Sessions) -> jobs.PlanReport:
    data = h.app.bot_data
    return await jobs.plan(sessions=sessions, policy=policy_for(data.settings), now=data.clock())


async def outbox(sessions: Sessions) -> list[Outbox]:
    async with sessions() as s:
        return list((await s.exec(select(Outbox).order_by(Outbox.id))).all())


async def person(sessions: Sessions, user_id: int) -> Person:
    async with sessions() as s:
        found = await rp.get_person(session=s, channel="telegram", external_id=str(user_id))
        assert found is not None
        return found


# --------------------------------------------------------------------------- the reminder itself


async def test_reminder_says_what_is_left_and_continues_where_the_person_stopped(
    bot: Harness, sessions: Sessions
) -> None:
    await seed_commune(sessions)
    lan = User(bot, 1001)
    await register(lan, "THON1", "Nguyễn Thị Lan")
    await press(lan, "Người dân trong cộng đồng")
    await press(lan, "10 điểm")  # indicator 1 answered, no evidence yet: the evidence step
    evidence_step = lan.last_text()
    assert (await plan(bot, sessions)).reminders == 1
    bot.api.clear()
    stats = await dispatcher(bot).run()
    assert stats.sent == 1
    [text] = texts_to(bot.api, 1001)
    assert "Còn <b>7 ngày</b>" in text and "năm 2026" in text
    assert "Còn 9 chỉ tiêu chưa trả lời." in text
    assert "Còn 1 chỉ tiêu chưa có minh chứng." in text
    assert [b["text"] for row in markup_of(bot.api, 1001) for b in row] == ["▶️ Tiếp tục"]
    await lan.press_label("Tiếp tục")
    assert lan.last_text() == evidence_step  # back at the step they were on
    [row] = await outbox(sessions)
    assert (row.status, row.kind, row.cycle) == (OutboxStatus.SENT, "reminder", "2026:d7")


async def test_a_person_who_submitted_since_planning_gets_nothing(bot: Harness, sessions: Sessions) -> None:
    await seed_commune(sessions)
    lan, minh = User(bot, 1001), User(bot, 1002, first_name="Minh")
    await register(lan, "THON1", "Nguyễn Thị Lan")
    await register(minh, "THON1", "Trần Văn Minh")
    assert (await plan(bot, sessions)).reminders == 2
    await submit_all(lan, 10)  # cancels Lan's pending reminder in the submitting transaction
    bot.api.clear()
    assert (await dispatcher(bot).run()).sent == 1
    assert texts_to(bot.api, 1001) == [] and len(texts_to(bot.api, 1002)) == 1
    assert [r.status for r in await outbox(sessions)] == [OutboxStatus.CANCELLED, OutboxStatus.SENT]


# --------------------------------------------------------------------------- Telegram's errors


class FlakyApi(FakeBotApi):
    """The fake Bot API that also times out for some chats (the request never gets an answer)."""

    def __init__(self) -> None:
        super().__init__()
        self.time_out_for: set[int] = set()

    async def do_request(self, url: str, method: str, request_data: Any = None, **kw: Any) -> tuple[int, bytes]:
        if request_data and int(request_data.parameters.get("chat_id", 0) or 0) in self.time_out_for:
            raise TimedOut("fake timeout")
        return await super().do_request(url, method, request_data, **kw)


async def test_retry_after_forbidden_and_network_errors_from_the_bot_api(sessions: Sessions, tmp_path: Path) -> None:
    api = FlakyApi()
    h = await Harness.start(sessions, tmp_path / "evidence", clock=Clock(NOW), api=api)
    try:
        await seed_commune(sessions)
        ids = {"flood": 1001, "blocked": 1002, "gateway": 1003, "timeout": 1004, "fine": 1005}
        for name, tid in ids.items():
            await register(User(h, tid, first_name=name), "THON1", f"Người {name}")
        assert (await plan(h, sessions)).reminders == 5
        failures = {
            ids["flood"]: Failure(429, "Too Many Requests: retry after 7", retry_after=7),
            ids["blocked"]: Failure(403, "Forbidden: bot was blocked by the user"),
            ids["gateway"]: Failure(502, "Bad Gateway"),
        }
        api.fail_when = lambda method, params: failures.get(int(params.get("chat_id", 0) or 0))
        api.time_out_for = {ids["timeout"]}
        stats = await dispatcher(h).run()
        assert (stats.sent, stats.retried, stats.blocked) == (1, 3, 1)
        rows = {r.person_id: r for r in await outbox(sessions)}
        by_name = {name: rows[(await person(sessions, tid)).id] for name, tid in ids.items()}
        flood = by_name["flood"]
        assert (flood.status, flood.attempts, flood.due_at) == ("pending", 0, NOW + timedelta(seconds=7))
        assert by_name["blocked"].status == "blocked"
        assert (await person(sessions, ids["blocked"])).blocked_at == NOW
        for name in ("gateway", "timeout"):
            row = by_name[name]
            assert (row.status, row.attempts, row.due_at) == ("pending", 1, NOW + timedelta(seconds=30)), name
        assert "NetworkError" in by_name["gateway"].last_error and "TimedOut" in by_name["timeout"].last_error
        assert by_name["fine"].status == "sent"
        # Later the flood is over and the network is back: everything left goes, the blocked person never.
        api.fail_when, api.time_out_for = None, set()
        h.app.bot_data.clock.now = NOW + timedelta(seconds=31)  # type: ignore[attr-defined]
        assert (await dispatcher(h).run()).sent == 3
        statuses = sorted(r.status for r in await outbox(sessions))
        assert statuses == ["blocked", "sent", "sent", "sent", "sent"]
    finally:
        await h.stop()


# --------------------------------------------------------------------------- /reminders


async def test_reminders_command_switches_off_and_on(bot: Harness, sessions: Sessions) -> None:
    await seed_commune(sessions)
    lan = User(bot, 1001)
    await register(lan, "THON1", "Nguyễn Thị Lan")
    assert (await plan(bot, sessions)).reminders == 1  # owed, not sent yet
    await lan.say("/reminders")
    assert "Đã tắt nhắc nhở" in lan.last_text()
    assert not (await person(sessions, 1001)).reminders
    assert [r.status for r in await outbox(sessions)] == ["cancelled"]
    bot.app.bot_data.clock.now = NOW + timedelta(days=4)  # type: ignore[attr-defined]  # the 3-days-before day
    assert (await plan(bot, sessions)).reminders == 0
    await lan.say("/reminders")
    assert "Đã bật nhắc nhở" in lan.last_text() and (await person(sessions, 1001)).reminders
    await lan.say("/reminders on")  # explicit: stays on
    assert (await person(sessions, 1001)).reminders
    assert (await plan(bot, sessions)).reminders == 1
    stranger = User(bot, 4242)
    await stranger.say("/reminders")
    assert "chưa đăng ký" in stranger.last_text()


# --------------------------------------------------------------------------- /broadcast


async def test_broadcast_preview_confirm_deliver_and_summary(bot: Harness, sessions: Sessions) -> None:
    await seed_commune(sessions)
    citizens = {1001: "THON1", 1002: "THON1", 1003: "THON2", 1004: "THON2", 1005: "THON3"}  # THON3: another commune
    names = iter(("Nguyễn An", "Trần Bình", "Lê Chi", "Phạm Dung", "Hoàng Em"))
    for tid, code in citizens.items():
        await register(User(bot, tid, first_name=f"P{tid}"), code, next(names))
    async with unit_of_work(sessions) as s:
        left = await rp.get_person(session=s, channel="telegram", external_id="1004")
        left.blocked_at = NOW  # left earlier: not counted
    await give_role(sessions, 2001, "officer", "XA1")
    officer = User(bot, 2001, first_name="Cán bộ")
    await officer.say("/broadcast XA1")
    assert "<b>3</b> người nhận" in officer.last_text()

    bot.api.clear()
    await officer.say("Họp thôn <lúc 8h> & mang sổ")
    [preview] = texts_to(bot.api, 2001)  # one answer: the citizen's text handler never saw it
    assert "Xem trước" in preview and "<b>3</b> người" in preview
    assert "Họp thôn &lt;lúc 8h&gt; &amp; mang sổ" in preview  # the officer's text is escaped
    assert [b["text"] for row in markup_of(bot.api, 2001) for b in row] == ["✅ Gửi", "✖️ Hủy"]
    assert await outbox(sessions) == []  # nothing queued before confirmation

    await officer.press_label("Gửi")
    assert "Đã xếp hàng gửi thông báo tới <b>3</b> người" in officer.last_text()
    rows = await outbox(sessions)
    assert {(r.kind, r.cycle) for r in rows} == {("broadcast", "broadcast:1")} and len(rows) == 3

    bot.api.fail_when = lambda method, params: (
        Failure(403, "Forbidden: bot was blocked by the user") if int(params.get("chat_id", 0)) == 1003 else None
    )
    bot.api.clear()
    assert (await dispatcher(bot).run()).sent == 2
    for tid in (1001, 1002):
        [text] = texts_to(bot.api, tid)
        assert text.startswith("📢 <b>Thông báo từ Xã Văn Bình</b>") and "&lt;lúc 8h&gt;" in text
    assert texts_to(bot.api, 1005) == [] and texts_to(bot.api, 2001) == []
    assert await jobs.close_broadcasts(sessions=sessions, now=NOW) == 1
    assert (await dispatcher(bot).run()).sent == 1
    [summary] = texts_to(bot.api, 2001)
    assert "Xã Văn Bình" in summary and "Đã nhận: 2" in summary and "Đã chặn bot: 1" in summary
    assert "Không gửi được: 0" in summary
    async with sessions() as s:
        assert (await s.exec(select(Broadcast.status))).one() == "done"
    assert await jobs.close_broadcasts(sessions=sessions, now=NOW) == 0  # one summary only


async def test_broadcast_refused_outside_scope_and_for_citizens(bot: Harness, sessions: Sessions) -> None:
    await seed_commune(sessions)
    lan = User(bot, 1001)
    await register(lan, "THON1", "Nguyễn Thị Lan")
    await lan.say("/broadcast THON1")
    assert "chưa được giao vai trò" in lan.last_text()
    await give_role(sessions, 2001, "officer", "XA1")
    officer = User(bot, 2001)
    await officer.say("/broadcast XA2")
    assert "không thuộc phạm vi" in officer.last_text()
    async with sessions() as s:
        assert (await s.exec(select(Broadcast))).all() == []
    # With nothing open, their typed text is ordinary text.
    await lan.say("xin chào")
    assert "Xem trước" not in lan.last_text()
    assert await outbox(sessions) == []


async def test_broadcast_buttons_belong_to_their_officer_and_cancel_works(bot: Harness, sessions: Sessions) -> None:
    await seed_commune(sessions)
    await register(User(bot, 1001), "THON1", "Nguyễn Thị Lan")
    await give_role(sessions, 2001, "officer", "XA1")
    await give_role(sessions, 2002, "officer", "XA1")
    officer, colleague = User(bot, 2001), User(bot, 2002)
    await officer.say("/broadcast")  # one unit in scope: no code needed
    assert "Xã Văn Bình" in officer.last_text()
    await officer.say("Lịch họp")
    send = next(b["callback_data"] for row in markup_of(bot.api, 2001) for b in row if "Gửi" in b["text"])
    await colleague.press(send)
    assert "không phải của bạn" in colleague.last_text()
    assert await outbox(sessions) == []
    await officer.say("/cancel")  # drops the step the draft hangs on: the officers' own /cancel answers
    assert "Đã hủy thao tác đang dở" in officer.last_text()
    await officer.press(send)
    assert "đã được xử lý" in officer.last_text()
    assert await outbox(sessions) == []
    await officer.say("/broadcast XA1")
    await officer.say("/cancel")
    await officer.say("không phải thông báo")  # nothing open: goes to the ordinary handlers
    async with sessions() as s:
        assert {b.status for b in (await s.exec(select(Broadcast))).all()} == {"cancelled"}


# --------------------------------------------------------------------------- the jobs on the JobQueue


async def test_the_jobs_run_on_the_application_job_queue(sessions: Sessions, tmp_path: Path) -> None:
    h = await Harness.start(
        sessions,
        tmp_path / "evidence",
        clock=Clock(NOW),
        scheduler_enabled=True,
        dispatch_interval=0.05,
        planning_interval=0.05,
    )
    try:
        names = {job.name for job in h.app.job_queue.jobs()}  # type: ignore[union-attr]
        assert {"reminders:plan", "reminders:dispatch"} <= names  # other jobs (the evidence sweep) run beside
        await seed_commune(sessions)
        await register(User(h, 1001), "THON1", "Nguyễn Thị Lan")
        for _ in range(200):  # the jobs plan and send the reminder on their own
            if any("Còn <b>7 ngày</b>" in t for t in texts_to(h.api, 1001)):
                break
            await asyncio.sleep(0.025)
        assert any("Còn <b>7 ngày</b>" in t for t in texts_to(h.api, 1001))
    finally:
        await h.stop()


async def test_last_years_people_are_reminded_to_start_the_new_cycle(sessions: Sessions, tmp_path: Path) -> None:
    clock = Clock(datetime(2025, 6, 1, 3, 0, tzinfo=UTC))
    h = await Harness.start(sessions, tmp_path / "evidence", clock=clock)
    try:
        await seed_commune(sessions)
        lan = User(h, 1001)
        await register(lan, "THON1", "Nguyễn Thị Lan")  # in 2025, and never went further
        clock.now = NOW
        report = await plan(h, sessions)
        assert (report.expired, report.reminders) == (1, 1)  # the 2025 draft closes; 2026 is owed a reminder
        h.api.clear()
        assert (await dispatcher(h).run()).sent == 1
        assert "chưa bắt đầu bản tự đánh giá" in lan.last_text()
        await lan.press_label("Tiếp tục")
        assert "nhóm đối tượng" in lan.last_text()
        await lan.press_label("Người dân trong cộng đồng")
        assert "Chỉ tiêu 1/10" in lan.last_text()
    finally:
        await h.stop()
