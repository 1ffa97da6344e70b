"""Reminders reach each person on the messenger they use: Zalo's rows go through Zalo at its own rate, never
through Telegram; Zalo's quota (429) puts a row back for later, so nothing is lost or sent twice."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from bot.zalo.outbox import make_dispatcher
from scheduler.dispatch import Dispatcher
from storage.db import Sessions
from storage.models import OutboxStatus, Person
from tests.bot.test_citizen_journey import make_unit
from tests.fakes.zalo_api import USER_ID, FakeZaloApi
from tests.scheduler.builders import RecordingSend, make_people, owe, rows
from tests.zalo.test_citizen_journey import Citizen, make_bot

NOW = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)  # 10:00 in Hanoi: outside the quiet hours


@pytest.fixture
async def zalo_api() -> AsyncIterator[FakeZaloApi]:
    async with FakeZaloApi() as fake:
        yield fake


async def _zalo_citizen_in_progress(zalo_api: FakeZaloApi, sessions: Sessions, tmp_path: Path) -> int:
    await make_unit(sessions)
    bot = make_bot(zalo_api, sessions, tmp_path / "evidence")
    an = Citizen(bot, zalo_api)
    for typed in ("Xin chào", "1", "Lê Văn Cường", "THON1", "1"):  # registered, group chosen: a draft
        await an.say(typed)
    async with sessions() as s:
        person = (await s.exec(select(Person).where(Person.channel == "zalo"))).one()
    assert person.id is not None
    return person.id


async def test_each_messenger_sends_only_its_own_people(
    zalo_api: FakeZaloApi, sessions: Sessions, tmp_path: Path
) -> None:
    zalo_person = await _zalo_citizen_in_progress(zalo_api, sessions, tmp_path)
    [telegram_person] = await make_people(sessions, 1)
    await owe(sessions, [zalo_person, telegram_person], NOW - timedelta(minutes=1))
    before = len(zalo_api.messages)

    telegram_send = RecordingSend()
    await Dispatcher(sessions, telegram_send, clock=lambda: NOW, channel="telegram").run()
    owner = {r.id: r.person_id for r in await rows(sessions)}
    assert [owner[i] for i in telegram_send.delivered] == [telegram_person]  # never a Zalo person via Telegram

    bot = make_bot(zalo_api, sessions, tmp_path / "evidence")
    zalo = make_dispatcher(bot.client, bot.data)
    zalo.clock = lambda: NOW
    await zalo.run()
    reminders = zalo_api.messages[before:]
    assert [m.chat_id for m in reminders] == [USER_ID]
    assert "31/12" in (reminders[0].text or "") and len(reminders[0].text or "") <= 2000
    assert {r.person_id: r.status for r in await rows(sessions)} == {
        zalo_person: OutboxStatus.SENT,
        telegram_person: OutboxStatus.SENT,
    }


async def test_zalo_quota_puts_the_row_back_and_it_goes_once_later(
    zalo_api: FakeZaloApi, sessions: Sessions, tmp_path: Path
) -> None:
    zalo_person = await _zalo_citizen_in_progress(zalo_api, sessions, tmp_path)
    await owe(sessions, [zalo_person], NOW - timedelta(minutes=1))
    before = len(zalo_api.messages)
    bot = make_bot(zalo_api, sessions, tmp_path / "evidence")
    zalo = make_dispatcher(bot.client, bot.data)
    zalo.clock = lambda: NOW
    zalo_api.fail_next("sendMessage", 429, "quota exceeded")
    await zalo.run()
    [row] = await rows(sessions)
    assert row.status == OutboxStatus.PENDING and row.due_at > NOW  # put back, not dropped
    assert len(zalo_api.messages) == before
    later = row.due_at + timedelta(seconds=1)
    zalo.clock = lambda: later
    await zalo.run()
    await zalo.run()
    [row] = await rows(sessions)
    assert row.status == OutboxStatus.SENT
    assert len(zalo_api.messages) == before + 1  # once
