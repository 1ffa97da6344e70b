"""What a process remembers of each Telegram chat (the last prompt with buttons, the evidence receipt) is kept
for the most recent chats only (bot.context.RecentChats), not for every chat ever seen; a chat forgotten still
gets its answers, only a new message where an edit would have been."""

from __future__ import annotations

from pathlib import Path

from bot.context import RecentChats
from storage.db import Sessions
from tests.bot.chat_view import Citizen
from tests.bot.harness import Harness
from tests.bot.test_citizen_journey import make_unit


def test_the_least_recently_shown_chat_is_forgotten_first() -> None:
    chats = RecentChats(size=2)
    chats.of(1)["live"] = 11
    chats.of(2)["live"] = 22
    assert chats.of(1)["live"] == 11  # chat 1 is now the most recent
    chats.of(3)["live"] = 33
    assert len(chats) == 2
    assert chats.of(1) == {"live": 11} and chats.of(3) == {"live": 33}
    assert chats.of(2) == {}  # forgotten: asked again, it starts empty


async def _to_the_indicators(citizen: Citizen) -> None:
    await citizen.say("/start THON1")
    await citizen.press_label("Tôi đồng ý")
    await citizen.say("Nguyễn Thị Lan")
    await citizen.press_label("Người dân trong cộng đồng")


async def test_chats_beyond_the_bound_are_forgotten_and_still_answered(sessions: Sessions, tmp_path: Path) -> None:
    await make_unit(sessions)
    bot = await Harness.start(sessions, tmp_path / "ev")
    try:
        bot.app.bot_data.shown.size = 2
        people = [Citizen(bot, 6100 + n) for n in range(4)]
        for person in people:
            await _to_the_indicators(person)
        assert len(bot.app.bot_data.shown) == 2
        assert not bot.app.chat_data  # python-telegram-bot's own per-chat memory is not used: it never shrinks

        # A remembered chat's old prompt loses its buttons when a new one comes; a forgotten chat's keeps them
        # (pressing one is refused as stale by the flow), and both are answered.
        remembered, forgotten = people[-1], people[0]
        for person in (remembered, forgotten):
            await person.say("xin chào")
            assert "Chỉ tiêu 1/10" in person.now() and person.view()[-1].buttons
        assert len(remembered.live()) == 1
        assert len(forgotten.live()) == 2
    finally:
        await bot.stop()
