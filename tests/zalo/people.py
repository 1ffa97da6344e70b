"""People typing to the bot on Zalo, for tests: a citizen or an officer is a Zalo user id, their words go in
as real updates through ``ZaloBot.receive``, and what they read is what the fake Zalo API was sent."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from PIL import Image

from bot.context import BotData
from bot.zalo.client import ZaloClient
from bot.zalo.runtime import Links, ZaloBot
from conversations.criteria import default_registry
from storage import repo_people as rp
from storage import repo_roles as rr
from storage.db import Sessions, unit_of_work
from tests.bot.harness import Clock, make_settings
from tests.fakes.zalo_api import TOKEN, USER_ID, FakeZaloApi, image_update, text_update

MAX = 2000  # Zalo's limit for a message


def jpeg(seed: int = 0) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 24), (seed % 256, 120, 200)).save(buf, "JPEG")
    return buf.getvalue()


def make_bot(
    api: FakeZaloApi, sessions: Sessions, evidence: Path, *, links: Links | None = None, **settings: Any
) -> ZaloBot:
    """A ZaloBot on ``sessions`` talking to ``api``, its clock at 01/06/2026 10:00 in Vietnam."""
    data = BotData(
        settings=make_settings(evidence, zalo_bot_token=TOKEN, zalo_api_base_url=api.base_url, **settings),
        sessions=sessions,
        registry=default_registry(),
        clock=Clock(datetime(2026, 6, 1, 3, 0, tzinfo=UTC)),
    )
    bot = ZaloBot(ZaloClient(TOKEN, base_url=api.base_url, timeout=5), data)
    bot.links = links
    return bot


class Typist:
    """One Zalo user typing to the bot; each call returns the texts the bot sent back, joined."""

    def __init__(self, bot: ZaloBot, api: FakeZaloApi, user_id: str = USER_ID) -> None:
        self.bot, self.api, self.id = bot, api, user_id

    async def say(self, text: str) -> str:
        return await self.send(text_update(text, user_id=self.id))

    async def photo(self, content: bytes) -> str:
        return await self.send(image_update(self.api.add_photo(content), user_id=self.id))

    async def send(self, update: dict[str, Any]) -> str:
        seen = len(self.api.texts(self.id))
        await self.bot.receive(update)
        await self.bot.drain()
        return "\n".join(self.api.texts(self.id)[seen:])


async def give_zalo_role(sessions: Sessions, user_id: str, role: str, code: str | None, locale: str = "vi") -> None:
    """A role given at the desk to a Zalo user (``cdht grant zalo:<id> …``), who need not have written yet."""
    async with unit_of_work(sessions) as s:
        person = await rp.get_person(session=s, channel="zalo", external_id=user_id)
        if person is None:
            person = await rp.create_person(
                session=s, channel="zalo", external_id=user_id, chat_id=user_id, locale=locale
            )
        unit = await rp.find_unit(session=s, code=code) if code else None
        await rr.grant(session=s, person=person, role=role, unit=unit)
