"""How much a citizen reads, end to end, on Telegram: /start, consent, name, group, ten indicators each with a
level and a photo, the summary, submitting. Every message the person is given (each send, and each edit of
one, with its buttons) is counted as read: no message over 1,000 characters, the whole under 12,000, in
Vietnamese and in English. Before issue 10 it was 17,380 (Vietnamese), the longest message 1,419."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.message_split import TELEGRAM_LIMIT
from storage.db import Sessions
from tests.bot.chat_view import Citizen, received
from tests.bot.harness import Harness
from tests.bot.test_citizen_journey import make_unit

MESSAGE_LIMIT = 1000
JOURNEY_LIMIT = 12000
WORDS = {
    "vi": ("Tôi đồng ý", "Người dân trong cộng đồng", "10 điểm", "Xong", "Nộp bản tự đánh giá", "Nộp"),
    "en": ("I agree", "Community residents", "10 points", "Done", "Submit the self-assessment", "Submit"),
}


def reading(text: str) -> int:
    """Characters to read: runs of blanks and line breaks count as one space."""
    return len(" ".join(text.split()))


async def whole_journey(bot: Harness, user_id: int, lang: str) -> Citizen:
    agree, group, level, done, submit, confirm = WORDS[lang]
    person = Citizen(bot, user_id, language_code=lang)
    await person.say("/start THON1")
    await person.press_label(agree)
    await person.say("Nguyễn Thị Lan")
    await person.press_label(group)
    for n in range(1, 11):
        await person.press_label(level)
        await person.photo(f"evidence {n}".encode())
        await person.press_label(done)
    await person.press_label(submit)
    await person.press_label(confirm)
    return person


@pytest.mark.parametrize("lang", ["vi", "en"])
async def test_a_whole_journey_reads_under_twelve_thousand_characters(
    sessions: Sessions, tmp_path: Path, lang: str
) -> None:
    await make_unit(sessions)
    bot = await Harness.start(sessions, tmp_path / "evidence")
    try:
        person = await whole_journey(bot, 6001, lang)
        assert "100/100" in person.now()  # the journey did reach the result
        sent = [c.params["text"] for c in bot.api.calls if c.method in ("sendMessage", "editMessageText")]
        assert all(len(text) <= TELEGRAM_LIMIT for text in sent)
        read = [reading(text) for text in received(bot.api, person.id)]
        assert max(read) <= MESSAGE_LIMIT
        assert sum(read) < JOURNEY_LIMIT, sum(read)
    finally:
        await bot.stop()
