"""Drives the real python-telegram-bot Application with real Update objects over the fake Bot API."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from telegram import Update
from telegram.ext import Application

from bot.app import build_application
from bot.settings import Settings
from storage.db import Sessions
from tests.fakes.telegram_api import FakeBotApi

_update_ids = itertools.count(1)
_file_ids = itertools.count(1)
JPEG_START = b"\xff\xd8\xff\xe0"  # start of image + JFIF marker: what the evidence check looks for


def jpeg(label: bytes) -> bytes:
    """Bytes that pass for a JPEG, told apart by ``label`` (Telegram serves every photo as a JPEG)."""
    return label if label.startswith(JPEG_START[:3]) else JPEG_START + label


def make_settings(evidence_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "bot_token": "123456:TEST-TOKEN",
        "telegram_api_base_url": "http://botapi.invalid/bot",
        "telegram_file_base_url": "http://botapi.invalid/file/bot",
        "evidence_dir": evidence_dir,
        "rate_limit": False,
        "scheduler_enabled": False,  # reminder jobs off; tests/bot/test_reminders.py drives them directly
        "album_settle_seconds": 0.05,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Harness:
    """One bot process; several can run on the same database to show that state lives there."""

    def __init__(self, app: Application, api: FakeBotApi) -> None:
        self.app = app
        self.api = api

    @classmethod
    async def start(
        cls,
        sessions: Sessions,
        evidence_dir: Path,
        clock: Callable[[], datetime] | None = None,
        api: FakeBotApi | None = None,
        **settings: Any,
    ) -> Harness:
        api = api or FakeBotApi()
        app = build_application(
            make_settings(evidence_dir, **settings),
            sessions,
            request=api,
            clock=clock or Clock(datetime(2026, 6, 1, 3, 0, tzinfo=UTC)),
        )
        await app.initialize()
        await app.start()
        return cls(app, api)

    async def stop(self) -> None:
        await self.app.stop()
        await self.app.shutdown()

    async def settle(self) -> None:
        """Waits until album replies held back for an album's last file have been sent."""
        import asyncio

        while pending := [t for t in self.app.bot_data.album_replies.values() if not t.done()]:
            await asyncio.gather(*pending, return_exceptions=True)

    async def feed(self, data: dict[str, Any]) -> None:
        data = {"update_id": next(_update_ids), **data}
        await self.app.process_update(Update.de_json(data, self.app.bot))


class User:
    """A Telegram user talking to the bot in a private chat."""

    def __init__(self, harness: Harness, user_id: int, language_code: str = "vi", first_name: str = "Lan") -> None:
        self.h = harness
        self.id = user_id
        self.language_code = language_code
        self.first_name = first_name
        self._message_ids = itertools.count(1)

    def _from(self) -> dict[str, Any]:
        return {"id": self.id, "is_bot": False, "first_name": self.first_name, "language_code": self.language_code}

    def _message(self, **content: Any) -> dict[str, Any]:
        return {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "from": self._from(),
            "chat": {"id": self.id, "type": "private"},
            **content,
        }

    async def say(self, text: str) -> None:
        entities = (
            [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}] if text.startswith("/") else []
        )
        await self.h.feed({"message": self._message(text=text, entities=entities)})

    async def press(self, data: str) -> None:
        await self.h.feed(
            {
                "callback_query": {
                    "id": str(next(_update_ids)),
                    "from": self._from(),
                    "chat_instance": "ci",
                    "data": data,
                    "message": self._message(text="(buttons)"),
                }
            }
        )

    async def press_label(self, contains: str) -> str:
        """Presses the button of the last keyboard whose label contains ``contains``; returns its data."""
        buttons = [b for row in self.h.api.last_markup() for b in row]
        exact = [b for b in buttons if b["text"] == contains]
        for b in exact or [b for b in buttons if contains in b["text"]]:
            await self.press(b["callback_data"])
            return b["callback_data"]
        raise AssertionError(f"no button {contains!r} in {self.h.api.last_markup()}")

    def buttons(self) -> list[str]:
        return [b["text"] for row in self.h.api.last_markup() for b in row]

    def last_text(self) -> str:
        return self.h.api.texts()[-1]

    def serve(self, content: bytes, size: int | None = None) -> tuple[str, str]:
        file_id = f"F{next(_file_ids)}"
        self.h.api.files[file_id] = content
        if size is not None:
            self.h.api.file_sizes[file_id] = size
        return file_id, f"U{file_id}"

    async def photo(
        self,
        content: bytes = b"\xff\xd8 photo",
        media_group_id: str | None = None,
        size: int | None = None,
        file: tuple[str, str] | None = None,
    ) -> tuple[str, str]:
        file_id, unique = file or self.serve(jpeg(content))
        sizes = [
            {"file_id": f"{file_id}s", "file_unique_id": f"{unique}s", "width": 90, "height": 90, "file_size": 100},
            {
                "file_id": file_id,
                "file_unique_id": unique,
                "width": 1280,
                "height": 960,
                "file_size": size if size is not None else len(content),
            },
        ]
        extra = {"media_group_id": media_group_id} if media_group_id else {}
        await self.h.feed({"message": self._message(photo=sizes, **extra)})
        return file_id, unique

    async def document(self, name: str, mime: str, content: bytes = b"%PDF-1.4 doc", size: int | None = None) -> str:
        file_id, unique = self.serve(content)
        await self.h.feed(
            {
                "message": self._message(
                    document={
                        "file_id": file_id,
                        "file_unique_id": unique,
                        "file_name": name,
                        "mime_type": mime,
                        "file_size": size if size is not None else len(content),
                    }
                )
            }
        )
        return file_id

    async def sticker(self) -> None:
        await self.h.feed(
            {
                "message": self._message(
                    sticker={
                        "file_id": "stk",
                        "file_unique_id": "stku",
                        "width": 512,
                        "height": 512,
                        "is_animated": False,
                        "is_video": False,
                        "type": "regular",
                    }
                )
            }
        )

    async def voice(self) -> None:
        await self.h.feed({"message": self._message(voice={"file_id": "v", "file_unique_id": "vu", "duration": 2})})

    async def location(self) -> None:
        await self.h.feed({"message": self._message(location={"latitude": 21.0, "longitude": 105.8})})
