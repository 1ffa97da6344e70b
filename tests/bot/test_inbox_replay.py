"""An update recorded in the inbox but never handled (the process was killed) is handled on the next start,
exactly once, even when Telegram sends it again because the killed process never confirmed it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from bot.app import build_application
from bot.server import run
from storage import repo_inbox
from storage.db import Sessions, unit_of_work
from storage.models import Answer
from tests.bot.harness import Clock, Harness, User, make_settings
from tests.bot.test_citizen_journey import make_unit, register
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
