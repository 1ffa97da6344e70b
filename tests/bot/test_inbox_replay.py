"""An update recorded in the inbox but never handled (the process was killed) is handled on the next start,
exactly once, even when Telegram sends it again because the killed process never confirmed it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from bot.app import build_application
from bot.server import run
from storage import repo_inbox
from storage.db import Sessions, unit_of_work
from storage.models import Answer
from tests.bot.harness import Clock, Harness, User, make_settings
from tests.bot.test_citizen_journey import make_unit, register
from tests.bot.test_web import start_update
from tests.fakes.bot_api_server import running_emulator

NOW = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)
UPDATE_ID = 880001


def _press(user_id: int, data: str) -> dict[str, Any]:
    user = {"id": user_id, "is_bot": False, "first_name": "Lan", "language_code": "vi"}
    message = {"message_id": 9, "date": 0, "chat": {"id": user_id, "type": "private"}, "text": "(buttons)"}
    callback = {"id": "cb1", "from": user, "chat_instance": "ci", "data": data, "message": message}
    return {"update_id": UPDATE_ID, "callback_query": callback}


async def test_an_update_recorded_but_not_handled_is_handled_once_on_start(
    sessions: Sessions, engine: AsyncEngine, tmp_path: Path
) -> None:
    await make_unit(sessions)
    earlier = await Harness.start(sessions, tmp_path / "ev", clock=Clock(NOW))
    lan = User(earlier, 4101)
    await register(lan)
    await lan.press_label("Người dân trong cộng đồng")
    ten = next(b["callback_data"] for row in earlier.api.last_markup() for b in row if b["text"] == "10 điểm")
    await earlier.stop()

    press = _press(4101, ten)
    async with unit_of_work(sessions) as session:  # received and recorded, then the process was killed
        await repo_inbox.record_updates(session=session, channel="telegram", updates=[(str(UPDATE_ID), press)], now=NOW)

    with running_emulator() as api:
        api.push_update(press)  # never confirmed: Telegram sends it again after the restart
        settings = make_settings(
            tmp_path / "ev", telegram_api_base_url=f"{api.base}/bot", telegram_file_base_url=f"{api.base}/file/bot"
        )
        app = build_application(settings, sessions, clock=Clock(NOW))
        stop = asyncio.Event()
        running = asyncio.create_task(run(app, settings, engine, stop))
        try:
            confirmed = await asyncio.to_thread(
                api.wait_until, lambda: any(int(p.get("offset") or 0) > UPDATE_ID for p in api.calls("getUpdates"))
            )
        finally:
            stop.set()
            await running

    assert confirmed, api.requests
    assert len(api.calls("answerCallbackQuery")) == 1  # handled once: a second press would be answered again
    replies = [str(p.get("text", "")) for m, p in api.requests if m in ("sendMessage", "editMessageText")]
    assert any("minh chứng cho chỉ tiêu 1" in t for t in replies), replies
    async with sessions() as s:
        answers = (await s.exec(select(Answer))).all()
        assert [(a.indicator, a.chosen) for a in answers] == [(1, 10)]
        assert await repo_inbox.list_pending(session=s, channel="telegram") == []


class FlakySessions:
    """Sessions whose first use fails, as a database that is away for a moment."""

    def __init__(self, real: Sessions) -> None:
        self.real = real
        self.failures = 1

    def __call__(self) -> Any:
        if self.failures:
            self.failures -= 1
            raise OperationalError("insert into update_inbox", {}, ConnectionRefusedError("database away"))
        return self.real()


async def test_polling_goes_on_when_the_inbox_cannot_record_for_a_moment(
    sessions: Sessions, engine: AsyncEngine, tmp_path: Path
) -> None:
    with running_emulator() as api:
        api.push_update(start_update(UPDATE_ID, user_id=4102))
        settings = make_settings(
            tmp_path / "ev", telegram_api_base_url=f"{api.base}/bot", telegram_file_base_url=f"{api.base}/file/bot"
        )
        app = build_application(settings, sessions, clock=Clock(NOW))
        app.update_queue.sessions = FlakySessions(sessions)  # type: ignore[attr-defined]
        stop = asyncio.Event()
        running = asyncio.create_task(run(app, settings, engine, stop))
        try:
            # Not recorded, so not confirmed: fetched again after the back-off, then recorded and handled.
            answered = await asyncio.to_thread(api.wait_until, lambda: bool(api.calls("sendMessage")))
        finally:
            stop.set()
            await running
    assert answered, api.requests
    assert len(api.calls("sendMessage")) == 1
    async with sessions() as s:
        assert await repo_inbox.list_pending(session=s, channel="telegram") == []
