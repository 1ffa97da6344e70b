"""How much a citizen reads, end to end, on Zalo: the first "Xin chào", consent, name, unit code, group, ten
indicators each with a level and a photo, the summary, submitting, all typed. Every message the bot sends is
counted, its numbered choices and reply hint included: no message over 1,000 characters or Zalo's 2,000, the
whole under 12,000, in Vietnamese, and in English for someone who types "English" at the welcome (Zalo tells
the bot no language), counted from the welcome in English. Before issue 10 it was 19,461 (Vietnamese), the
longest message 1,503."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage.db import Sessions
from tests.bot.chat_view import visible
from tests.bot.test_citizen_journey import make_unit
from tests.bot.test_reading_load import JOURNEY_LIMIT, MESSAGE_LIMIT, reading
from tests.fakes.zalo_api import FakeZaloApi
from tests.zalo.people import MAX, Typist, jpeg, make_bot

TYPED = {
    "vi": (("Xin chào", "đồng ý"), "xong", "nộp"),
    "en": (("Xin chào", "English", "I agree"), "done", "submit"),
}


@pytest.mark.parametrize("lang", ["vi", "en"])
async def test_a_whole_typed_journey_reads_under_twelve_thousand_characters(
    zalo_api: FakeZaloApi, sessions: Sessions, tmp_path: Path, lang: str
) -> None:
    await make_unit(sessions)
    person = Typist(make_bot(zalo_api, sessions, tmp_path / "evidence"), zalo_api)
    greeting, done, submit = TYPED[lang]
    for typed in (*greeting, "Nguyễn Văn An", "THON1", "1"):
        await person.say(typed)
    for n in range(1, 11):
        await person.say("1")  # 10 points
        await person.photo(jpeg(n))
        await person.say(done)
    await person.say(submit)
    assert "100/100" in await person.say("1")
    texts = zalo_api.texts(person.id)
    assert all(len(text) <= MAX for text in texts)
    if lang == "en":  # what they read in their language: from "Language set to English." on
        texts = texts[next(i for i, t in enumerate(texts) if "Language set to English" in t) + 1 :]
    read = [reading(visible(text)) for text in texts]
    assert max(read) <= MESSAGE_LIMIT
    assert sum(read) < JOURNEY_LIMIT, sum(read)
