"""One person's updates keep their arrival order across workers on one database (issue 9): a round-robin proxy
hands a person's consent to worker 1 and, a moment later, the name they type next to worker 2. Worker 2 waits
until worker 1 has handled the consent, so the name lands on the name step; an earlier update whose worker died
(pending longer than REPLAY_AFTER) holds nobody back for good. A single worker looks nothing up."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select
from telegram import Update

from bot.inbox import InboxQueue
from bot.lanes import PersonOrderedProcessor
from bot.zalo.runtime import ZaloBot
from bot.zalo.updates import parse_update
from storage import repo_inbox
from storage.db import Sessions, make_engine, make_sessions
from storage.inbox_writer import InboxWriter
from storage.models import Person, UpdateInbox
from tests.bot.harness import Clock, Harness, User
from tests.bot.test_citizen_journey import make_unit
from tests.conftest import Database
from tests.fakes.zalo_api import USER_ID, FakeZaloApi, text_update
from tests.zalo.people import Typist, make_bot

NOW = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)
LAN = 4301
CONSENT, NAME = 880001, 880002
HELD = 0.3  # seconds worker 2 is watched waiting before worker 1 handles the earlier update


@pytest.fixture
async def other_sessions(database: Database) -> AsyncIterator[Sessions]:
    """Worker 2's own engine (pool) on the same database."""
    engine = make_engine(database.url, schema=database.schema)
    yield make_sessions(engine)
    await engine.dispose()


@pytest.fixture
async def workers(sessions: Sessions, other_sessions: Sessions, tmp_path: Path) -> AsyncIterator[tuple[Harness, ...]]:
    a = await Harness.start(sessions, tmp_path / "ev", clock=Clock(NOW), workers=2)
    b = await Harness.start(other_sessions, tmp_path / "ev", clock=Clock(NOW), workers=2)
    try:
        yield a, b
    finally:
        await a.stop()
        await b.stop()


async def consent_and_name(a: Harness, sessions: Sessions) -> tuple[dict[str, Any], dict[str, Any]]:
    """Lan opens the bot at A and is asked for consent; returns her pressing "Tôi đồng ý", then typing her name."""
    await make_unit(sessions)
    await User(a, LAN).say("/start THON1")
    yes = next(b["callback_data"] for row in a.api.last_markup() for b in row if "đồng ý" in b["text"])
    user = {"id": LAN, "is_bot": False, "first_name": "Lan", "language_code": "vi"}
    chat = {"id": LAN, "type": "private"}
    message = {"message_id": 9, "date": 0, "chat": chat, "text": "(buttons)"}
    callback = {"id": "cb1", "from": user, "chat_instance": "ci", "data": yes, "message": message}
    name = {"message_id": 10, "date": 0, "from": user, "chat": chat, "text": "Nguyễn Thị Lan"}
    return {"update_id": CONSENT, "callback_query": callback}, {"update_id": NAME, "message": name}


async def pending(sessions: Sessions, channel: str, key: str) -> bool:
    async with sessions() as s:
        return await repo_inbox.is_pending(session=s, channel=channel, key=key)


async def wait_done(sessions: Sessions, channel: str, key: str) -> None:
    for _ in range(200):
        if not await pending(sessions, channel, key):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{channel} update {key} was never handled")


async def person(sessions: Sessions, channel: str) -> Person:
    async with sessions() as s:
        return (await s.exec(select(Person).where(Person.channel == channel))).one()


async def test_a_persons_later_update_at_another_worker_waits_for_the_earlier_one(
    workers: tuple[Harness, Harness], sessions: Sessions
) -> None:
    a, b = workers
    consent, name = await consent_and_name(a, sessions)
    queue_a = a.app.update_queue
    assert isinstance(queue_a, InboxQueue)
    # A's webhook took the consent in (recorded, 200) but A has not handled it yet.
    assert await queue_a.writer.record(str(CONSENT), consent, str(LAN))
    await b.app.update_queue.put(Update.de_json(name, b.app.bot))  # the name reaches B: recorded and queued
    await asyncio.sleep(HELD)
    assert await pending(sessions, "telegram", str(NAME))  # B holds it back behind the consent
    assert await pending(sessions, "telegram", str(CONSENT))
    queue_a.recorded.add(str(CONSENT))
    await a.app.process_update(Update.de_json(consent, a.app.bot))  # A gets round to the consent
    await wait_done(sessions, "telegram", str(NAME))
    lan = await person(sessions, "telegram")
    assert lan.consent_at is not None
    assert lan.full_name == "Nguyễn Thị Lan"  # typed at the consent step, the name would not have been kept


async def test_a_waiting_update_holds_no_slot_for_other_people(
    sessions: Sessions, other_sessions: Sessions, tmp_path: Path
) -> None:
    """Worker 2 handles one update at a time (CONCURRENT_UPDATES=1): while Lan's name waits for her consent at
    worker 1, Minh's first message at worker 2 is handled all the same."""
    a = await Harness.start(sessions, tmp_path / "ev", clock=Clock(NOW), workers=2)
    b = await Harness.start(other_sessions, tmp_path / "ev", clock=Clock(NOW), workers=2, concurrent_updates=1)
    try:
        consent, name = await consent_and_name(a, sessions)
        assert isinstance(a.app.update_queue, InboxQueue)
        assert await a.app.update_queue.writer.record(str(CONSENT), consent, str(LAN))
        await b.app.update_queue.put(Update.de_json(name, b.app.bot))
        minh = {"id": 4302, "is_bot": False, "first_name": "Minh", "language_code": "vi"}
        start = {"message_id": 1, "date": 0, "from": minh, "chat": {"id": 4302, "type": "private"}, "text": "/start"}
        await b.app.update_queue.put(Update.de_json({"update_id": 880003, "message": start}, b.app.bot))
        await wait_done(sessions, "telegram", "880003")
        assert await pending(sessions, "telegram", str(NAME))  # still behind Lan's consent
        a.app.update_queue.recorded.add(str(CONSENT))
        await a.app.process_update(Update.de_json(consent, a.app.bot))
        await wait_done(sessions, "telegram", str(NAME))
    finally:
        await a.stop()
        await b.stop()


async def test_an_earlier_update_of_a_dead_worker_holds_the_person_back_only_until_replay_after(
    workers: tuple[Harness, Harness], sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = workers
    monkeypatch.setattr(repo_inbox, "REPLAY_AFTER", timedelta(seconds=0.5))
    consent, name = await consent_and_name(a, sessions)
    assert isinstance(a.app.update_queue, InboxQueue)
    assert await a.app.update_queue.writer.record(str(CONSENT), consent, str(LAN))  # ...and A died
    await b.app.update_queue.put(Update.de_json(name, b.app.bot))
    await wait_done(sessions, "telegram", str(NAME))  # B went on: the consent is the replay's now
    assert await pending(sessions, "telegram", str(CONSENT))
    lan = await person(sessions, "telegram")
    assert lan.consent_at is None and lan.full_name is None  # handled as it came: a name before consent


async def test_another_persons_earlier_update_and_rows_without_a_sender_hold_nobody_back(
    sessions: Sessions,
) -> None:
    writer = InboxWriter(sessions, "telegram")
    assert await writer.record("1", {}, "111")  # someone else's, pending
    assert await writer.record("2", {})  # recorded before 0010: no sender
    assert await writer.record("3", {}, "222")
    async with sessions() as s:
        assert not await repo_inbox.earlier_pending(session=s, channel="telegram", sender="222", key="3")
        assert not await repo_inbox.earlier_pending(session=s, channel="zalo", sender="111", key="3")
        assert not await repo_inbox.earlier_pending(session=s, channel="telegram", sender="111", key="404")
    assert await writer.record("4", {}, "111")
    async with sessions() as s:
        assert await repo_inbox.earlier_pending(session=s, channel="telegram", sender="111", key="4")
        assert not await repo_inbox.earlier_pending(session=s, channel="telegram", sender="111", key="1")
        await repo_inbox.mark_done(session=s, channel="telegram", key="1", now=NOW)
        await s.commit()
    async with sessions() as s:
        assert not await repo_inbox.earlier_pending(session=s, channel="telegram", sender="111", key="4")
        senders = {r.key: r.sender for r in (await s.exec(select(UpdateInbox))).all()}
    assert senders == {"1": "111", "2": None, "3": "222", "4": "111"}


async def test_a_single_worker_looks_nothing_up(sessions: Sessions, tmp_path: Path) -> None:
    one = await Harness.start(sessions, tmp_path / "ev", clock=Clock(NOW))
    try:
        processor = one.app.update_processor
        assert isinstance(processor, PersonOrderedProcessor) and processor.in_order is None
    finally:
        await one.stop()


# ---------------------------------------------------------------------------------------------------- Zalo


@pytest.fixture
async def zalo_api() -> AsyncIterator[FakeZaloApi]:
    async with FakeZaloApi() as fake:
        yield fake


@pytest.fixture
async def zalo_workers(
    zalo_api: FakeZaloApi, sessions: Sessions, other_sessions: Sessions, tmp_path: Path
) -> AsyncIterator[tuple[ZaloBot, ZaloBot]]:
    one = make_bot(zalo_api, sessions, tmp_path / "ev", workers=2)
    two = make_bot(zalo_api, other_sessions, tmp_path / "ev", workers=2)
    try:
        yield one, two
    finally:
        await one.close()
        await two.close()


async def test_on_zalo_a_persons_later_message_at_another_worker_waits_for_the_earlier_one(
    zalo_workers: tuple[ZaloBot, ZaloBot], zalo_api: FakeZaloApi, sessions: Sessions
) -> None:
    one, two = zalo_workers
    await make_unit(sessions)
    await Typist(one, zalo_api).say("Xin chào")  # asked for consent
    agree, name = text_update("đồng ý"), text_update("Nguyễn Văn An")
    agree_key = str(parse_update(agree).message_id)  # type: ignore[union-attr]
    name_key = str(parse_update(name).message_id)  # type: ignore[union-attr]
    assert await InboxWriter(sessions, "zalo").record(agree_key, agree, USER_ID)  # worker 1 took it in...
    assert await two.receive(name)  # the name reaches worker 2, which holds it back
    await asyncio.sleep(HELD)
    assert await pending(sessions, "zalo", name_key)
    update = parse_update(agree)
    assert update is not None
    await one.handle(update)  # ...and worker 1 handles the consent now
    await two.drain()
    assert not await pending(sessions, "zalo", name_key)
    an = await person(sessions, "zalo")
    assert an.consent_at is not None and an.full_name == "Nguyễn Văn An"


async def test_on_zalo_an_earlier_message_of_a_dead_worker_holds_the_person_back_only_until_replay_after(
    zalo_workers: tuple[ZaloBot, ZaloBot], zalo_api: FakeZaloApi, sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    one, two = zalo_workers
    monkeypatch.setattr(repo_inbox, "REPLAY_AFTER", timedelta(seconds=0.5))
    await make_unit(sessions)
    await Typist(one, zalo_api).say("Xin chào")
    agree, name = text_update("đồng ý"), text_update("Nguyễn Văn An")
    agree_key = str(parse_update(agree).message_id)  # type: ignore[union-attr]
    assert await InboxWriter(sessions, "zalo").record(agree_key, agree, USER_ID)  # worker 1 died with it
    assert await two.receive(name)
    await asyncio.wait_for(two.drain(), 30)  # went on after REPLAY_AFTER
    assert await pending(sessions, "zalo", agree_key)
    an = await person(sessions, "zalo")
    assert an.consent_at is None and an.full_name is None
