"""What a citizen reads on Telegram at the moments a whole journey leaves out, each held to the same aims as the
journey (tests/bot/test_reading_load.py): no message over 1,000 characters to read and none over Telegram's
4,096, in Vietnamese and English. /help before registering; the hint and /status, /mydata, /help on the way;
a text and a photo after submitting; /status while submitted; the team's notice and the head's decision when
the team changed three indicators with a reason, and /status after recognition. With every indicator changed
a change is one short line with its reason cut shorter (bot.render.CHANGES_IN_FULL), so the notices and /status
stay under 1,000 too (they read ~1,400-1,500 with every line in full)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select

from bot.message_split import TELEGRAM_LIMIT
from storage.db import Sessions
from storage.models import Unit
from tests.bot.chat_view import Citizen, received
from tests.bot.harness import Harness, User
from tests.bot.officer_helpers import drain, give_role, press
from tests.bot.test_citizen_clarity import DONE, GROUP, POINTS
from tests.bot.test_citizen_journey import make_unit
from tests.bot.test_reading_load import MESSAGE_LIMIT, reading
from tests.team_desk import decide, review

# Reasons as a reviewer writes them: a sentence, one per indicator (the longest are cut on the citizen's screens;
# tests/bot/test_screen_lengths.py holds those to Telegram's and Zalo's limits).
REASONS = {
    "vi": "Ảnh chụp chưa rõ ngày, đề nghị bổ sung giấy xác nhận của thôn",
    "en": "The photo shows no date; please add the village's confirmation",
}
WORDS = {
    "vi": {"hint": "💡 Gợi ý", "continue": "Tiếp tục", "submit": "Nộp bản tự đánh giá", "confirm": "Nộp"},
    "en": {"hint": "💡 Hint", "continue": "Continue", "submit": "Submit the self-assessment", "confirm": "Submit"},
}


async def moments(bot: Harness, sessions: Sessions, lang: str, changed: int) -> tuple[Citizen, dict[str, int]]:
    """Walks one citizen through the moments, the team changing ``changed`` indicators; returns them and the
    number of texts they had been sent by the end of each moment."""
    words = WORDS[lang]
    lan = Citizen(bot, 7001, language_code=lang)
    at: dict[str, int] = {}

    async def moment(name: str) -> None:
        at[name] = len(received(bot.api, lan.id))

    await lan.say("/help")
    await moment("help, not registered")
    await lan.say("/start THON1")
    await lan.press_label("Tôi đồng ý" if lang == "vi" else "I agree")
    await lan.say("Nguyễn Thị Lan")
    await lan.press_label(GROUP[lang])
    await moment("first level")
    await lan.press_label(words["hint"])
    await moment("hint")
    for command in ("/status", "/mydata", "/help"):
        await lan.say(command)
        await moment(f"{command} on the way")
    await lan.press_label(words["continue"])
    for n in range(1, 11):
        await lan.press_label(POINTS[lang].format(10))
        await lan.photo(f"{lan.id} photo {n}".encode())
        await lan.press_label(DONE[lang])
    await moment("summary")
    await lan.press_label(words["submit"])
    await lan.press_label(words["confirm"])
    await moment("result")
    await lan.say("Cho tôi hỏi khi nào có kết quả?")
    await moment("text after submitting")
    await lan.photo(b"one more photo")
    await moment("photo after submitting")
    for command in ("/status", "/mydata", "/help"):
        await lan.say(command)
        await moment(f"{command} submitted")

    # The team changes indicators, each with a reason, and confirms at /review: the citizen is told.
    await give_role(sessions, 600, "reviewer", "THON1")
    changes = {n: (5, f"{n}. {REASONS[lang]}") for n in range(1, changed + 1)}
    await review(sessions, "telegram", str(lan.id), changes, confirm=False)
    reviewer = User(bot, 600)
    await reviewer.say("/review")
    await press(reviewer, "Xác nhận")
    assert (await drain(bot)).sent == 1
    await moment("the team's notice")
    async with sessions() as s:
        path = (await s.exec(select(Unit).where(Unit.code == "THON1"))).one().path
    assert await decide(sessions, path) == 1
    assert (await drain(bot)).sent == 1
    await moment("the decision")
    for command in ("/status", "/start"):
        await lan.say(command)
        await moment(f"{command} decided")
    return lan, at


def over_the_limit(texts: list[str], at: dict[str, int]) -> dict[str, int]:
    """Characters to read of each message over 1,000, by the moment it was sent at."""
    over, start = {}, 0
    for name, end in at.items():
        for text in texts[start:end]:
            if reading(text) > MESSAGE_LIMIT:
                over[name] = reading(text)
        start = end
    return over


@pytest.mark.parametrize("lang", ["vi", "en"])
async def test_every_moment_reads_under_a_thousand_characters(sessions: Sessions, tmp_path: Path, lang: str) -> None:
    await make_unit(sessions)
    bot = await Harness.start(sessions, tmp_path / "evidence", album_settle_seconds=0)
    try:
        lan, at = await moments(bot, sessions, lang, changed=3)
        texts = received(bot.api, lan.id)
        decision = texts[at["the team's notice"] : at["the decision"]]
        assert len(decision) == 1 and "12/QĐ-UBND" in decision[0] and "85/100" in decision[0]
        assert decision[0].count(REASONS[lang]) == 3  # every change and its reason
        sent = [
            c.params.get("text", "")
            for c in bot.api.calls
            if c.method in ("sendMessage", "editMessageText") and str(c.params.get("chat_id")) == str(lan.id)
        ]
        assert len(sent) == len(texts) and all(len(text) <= TELEGRAM_LIMIT for text in sent)
        assert over_the_limit(texts, at) == {}
    finally:
        await bot.stop()


async def test_ten_changed_indicators_read_under_a_thousand_characters(sessions: Sessions, tmp_path: Path) -> None:
    await make_unit(sessions)
    bot = await Harness.start(sessions, tmp_path / "evidence", album_settle_seconds=0)
    try:
        lan, at = await moments(bot, sessions, "vi", changed=10)
        assert over_the_limit(received(bot.api, lan.id), at) == {}
    finally:
        await bot.stop()
