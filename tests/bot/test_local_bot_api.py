"""Over real HTTP: TELEGRAM_API_BASE_URL and TELEGRAM_FILE_BASE_URL point python-telegram-bot's own
httpx transport at a local Bot API emulator on 127.0.0.1, as an operator's local Bot API server would."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select
from telegram import Update

from bot.app import build_application
from storage.db import Sessions
from storage.models import Evidence
from tests.bot.harness import make_settings
from tests.bot.test_citizen_journey import make_unit
from tests.fakes.bot_api_server import Emulator, running_emulator


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with running_emulator() as server:
        yield server


async def test_the_bot_talks_to_the_configured_local_bot_api(
    emulator: Emulator, sessions: Sessions, tmp_path: Path
) -> None:
    await make_unit(sessions)
    settings = make_settings(
        tmp_path / "ev",
        telegram_api_base_url=f"{emulator.base}/bot",
        telegram_file_base_url=f"{emulator.base}/file/bot",
    )
    app = build_application(settings, sessions)  # no fake transport: python-telegram-bot's httpx request
    emulator.api.files["PHOTO1"] = b"\xff\xd8\xff\xe0 evidence over http"
    async with app:
        user = {"id": 4242, "is_bot": False, "first_name": "Lan", "language_code": "vi"}
        chat = {"id": 4242, "type": "private"}

        async def feed(update_id: int, **content: Any) -> None:
            await app.process_update(Update.de_json({"update_id": update_id, **content}, app.bot))

        def last_buttons() -> dict[str, str]:
            for method, params in reversed(emulator.requests):
                if method == "sendMessage" and params.get("reply_markup"):
                    return {
                        b["text"]: b["callback_data"] for row in params["reply_markup"]["inline_keyboard"] for b in row
                    }
            return {}

        def press(update_id: int, label: str):  # type: ignore[no-untyped-def]
            data = next(d for text, d in last_buttons().items() if label in text)
            return feed(
                update_id,
                callback_query={
                    "id": str(update_id),
                    "from": user,
                    "chat_instance": "c",
                    "data": data,
                    "message": {"message_id": 1, "date": 0, "chat": chat, "text": "x"},
                },
            )

        msg = {"date": 0, "from": user, "chat": chat}
        await feed(
            1,
            message={
                **msg,
                "message_id": 1,
                "text": "/start THON1",
                "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
            },
        )
        await press(2, "Tôi đồng ý")
        await feed(3, message={**msg, "message_id": 2, "text": "Nguyễn Thị Lan"})
        await press(4, "cộng đồng")
        await press(5, "10 điểm")
        await feed(
            6,
            message={
                **msg,
                "message_id": 3,
                "photo": [
                    {"file_id": "PHOTO1", "file_unique_id": "UPHOTO1", "width": 10, "height": 10, "file_size": 25}
                ],
            },
        )
        await asyncio.sleep(0)

    methods = [m for m, _ in emulator.requests]
    assert methods[0] == "getMe"
    assert "getFile" in methods and "download" in methods
    texts = [p.get("text", "") for m, p in emulator.requests if m == "sendMessage"]
    assert any("Chỉ tiêu 1 · Đã nhận: 1 ảnh" in t for t in texts)
    async with sessions() as s:
        ev = (await s.exec(select(Evidence))).one()
    assert (tmp_path / "ev" / ev.path).read_bytes() == b"\xff\xd8\xff\xe0 evidence over http"
