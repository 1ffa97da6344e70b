"""/broadcast typed on Zalo: the officer's text is their typed step, the preview's choices are numbers or
words, and the announcement reaches every citizen of the subtree on their own messenger exactly once (the
Telegram and the Zalo dispatchers both run, over the fake Bot API and the fake Zalo API), with the summary
coming back to the officer on Zalo."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import col, select

from bot.reminders import make_dispatcher as telegram_dispatcher
from bot.reminders import policy_for
from bot.zalo.outbox import make_dispatcher as zalo_dispatcher
from scheduler import jobs
from storage import repo_people as rp
from storage.db import Sessions, unit_of_work
from storage.models import Broadcast, OfficerPending, Outbox, OutboxStatus
from tests.bot.harness import Harness
from tests.bot.officer_helpers import seed_commune, texts_to
from tests.fakes.zalo_api import FakeZaloApi
from tests.zalo.people import MAX, Typist, give_zalo_role, make_bot

OFFICER = "zofficer1"
# (channel, id, unit): four people inside XA1, one in the commune beside it.
CITIZENS = [
    ("telegram", "1001", "THON1"),
    ("telegram", "1002", "THON2"),
    ("zalo", "zdan1", "THON1"),
    ("zalo", "zdan2", "THON2"),
    ("zalo", "zdan3", "THON3"),
]


async def _citizens(sessions: Sessions) -> None:
    async with unit_of_work(sessions) as s:
        for channel, external_id, code in CITIZENS:
            person = await rp.create_person(
                session=s, channel=channel, external_id=external_id, chat_id=external_id, locale="vi"
            )
            unit = await rp.find_unit(session=s, code=code)
            assert unit is not None
            person.unit_id = unit.id


async def _broadcasts(sessions: Sessions) -> list[Broadcast]:
    async with sessions() as s:
        return list((await s.exec(select(Broadcast).order_by(col(Broadcast.id)))).all())


async def _outbox(sessions: Sessions) -> list[Outbox]:
    async with sessions() as s:
        return list((await s.exec(select(Outbox).order_by(col(Outbox.id)))).all())


async def test_a_zalo_officer_reaches_telegram_and_zalo_citizens_once_each(
    zalo_api: FakeZaloApi, sessions: Sessions, tmp_path: Path
) -> None:
    await seed_commune(sessions)
    await _citizens(sessions)
    await give_zalo_role(sessions, OFFICER, "officer", "XA1")
    bot = make_bot(zalo_api, sessions, tmp_path / "evidence")
    telegram = await Harness.start(sessions, tmp_path / "evidence", clock=bot.data.clock)
    woken: list[int] = []
    bot.data.wakers.append(lambda: woken.append(1))
    officer = Typist(bot, zalo_api, OFFICER)
    try:
        asked = await officer.say("gửi tin XA1")  # the command's plain words
        assert "<b>4</b> người nhận" in asked and "Xã Văn Bình" in asked

        preview = await officer.say("Họp thôn <lúc 8h> & mang sổ")
        assert "Xem trước" in preview and "<b>4</b> người" in preview and len(preview) <= MAX
        assert "Họp thôn &lt;lúc 8h&gt; &amp; mang sổ" in preview
        assert "<b>1.</b> ✅ Gửi" in preview and "<b>2.</b> ✖️ Hủy" in preview
        [draft] = await _broadcasts(sessions)
        assert draft.status == "draft" and await _outbox(sessions) == []

        # A text that begins with a command's word ("mời" is /invite) is the text owed, lines kept.
        preview = await officer.say("Mời bà con họp thôn\n\n\n  lúc 8h   sáng")
        assert "Mời bà con họp thôn\n\nlúc 8h sáng" in preview and "Xem trước" in preview
        [draft] = await _broadcasts(sessions)
        assert draft.text == "Mời bà con họp thôn\n\nlúc 8h sáng"

        # Typed again: the same draft takes the new text.
        preview = await officer.say("Họp thôn lúc 8h sáng Chủ nhật, mang theo sổ")
        assert "8h sáng Chủ nhật" in preview
        [draft] = await _broadcasts(sessions)
        assert draft.text == "Họp thôn lúc 8h sáng Chủ nhật, mang theo sổ"

        assert woken == []
        queued = await officer.say("gửi")
        assert "Đã xếp hàng gửi thông báo tới <b>4</b> người" in queued
        assert woken == [1]  # the dispatchers were woken once the rows were committed
        rows = await _outbox(sessions)
        assert sorted(r.channel for r in rows) == ["telegram", "telegram", "zalo", "zalo"]
        async with sessions() as s:
            assert (await s.exec(select(OfficerPending))).all() == []
        await officer.say("1")  # the preview's menu went with the step: "1" sends nothing again
        assert len(await _outbox(sessions)) == 4

        policy = policy_for(bot.data.settings)
        by_telegram = telegram_dispatcher(telegram.app.bot, telegram.app.bot_data, policy)
        by_zalo = zalo_dispatcher(bot.client, bot.data)
        before = len(zalo_api.texts())
        assert ((await by_telegram.run()).sent, (await by_zalo.run()).sent) == (2, 2)
        assert ((await by_telegram.run()).sent, (await by_zalo.run()).sent) == (0, 0)  # never twice
        for tid in (1001, 1002):
            [text] = texts_to(telegram.api, tid)
            assert text.startswith("📢 <b>Thông báo từ Xã Văn Bình</b>") and "8h sáng Chủ nhật" in text
        for zid in ("zdan1", "zdan2"):
            [text] = zalo_api.texts(zid)
            assert text.startswith("📢 <b>Thông báo từ Xã Văn Bình</b>") and "8h sáng Chủ nhật" in text
        assert zalo_api.texts("zdan3") == [] and len(zalo_api.texts()) == before + 2
        assert {r.status for r in await _outbox(sessions)} == {OutboxStatus.SENT}

        # Every row has an outcome: the summary goes to the officer, on Zalo.
        assert await jobs.close_broadcasts(sessions=sessions, now=bot.data.now()) == 1
        assert ((await by_telegram.run()).sent, (await by_zalo.run()).sent) == (0, 1)
        summary = zalo_api.texts(OFFICER)[-1]
        assert "Xã Văn Bình" in summary and "Đã nhận: 4" in summary
    finally:
        await telegram.stop()
        await bot.close()


async def test_cancel_and_refusals_on_zalo_send_nothing(
    zalo_api: FakeZaloApi, sessions: Sessions, tmp_path: Path
) -> None:
    await seed_commune(sessions)
    await _citizens(sessions)
    await give_zalo_role(sessions, OFFICER, "officer", "XA1")
    bot = make_bot(zalo_api, sessions, tmp_path / "evidence")
    officer, citizen = Typist(bot, zalo_api, OFFICER), Typist(bot, zalo_api, "zdan1")
    try:
        assert "chưa được giao vai trò" in await citizen.say("/broadcast THON1")
        assert "không thuộc phạm vi" in await officer.say("/broadcast XA2")
        assert "Chưa có ai" not in await officer.say("/broadcast")  # one unit in scope: no code needed
        assert "Xem trước" in await officer.say("Lịch họp")
        assert "Đã hủy thao tác đang dở" in await officer.say("hủy")  # Zalo's word for /cancel
        after = await officer.say("1")  # the preview's "Send" is gone with the step
        assert "Đã xếp hàng" not in after
        assert [b.status for b in await _broadcasts(sessions)] == ["draft"]  # dead: its step is gone

        await officer.say("/broadcast XA1")
        assert "Xem trước" in await officer.say("Lịch họp mới")
        dropped = await officer.say("2")
        assert "Đã hủy thông báo" in dropped
        assert [b.status for b in await _broadcasts(sessions)] == ["cancelled", "cancelled"]
        assert await _outbox(sessions) == []
    finally:
        await bot.close()
