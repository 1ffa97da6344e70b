"""What a citizen reads on Zalo at the moments a whole typed journey leaves out, held to the journey's aims
(tests/zalo/test_reading_load.py): no message over 1,000 characters to read and none over Zalo's 2,000, in
Vietnamese and in English. /help before the first hello; the hint and /status, /mydata, /help on the way; a text
and a photo after submitting; /status while submitted; the team's notice (confirmed at /review) and the head's
decision when the team changed three indicators with a reason, and /status after recognition."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlmodel import select

from bot.zalo.outbox import make_dispatcher
from storage.db import Sessions
from storage.models import Unit
from tests.bot.chat_view import visible
from tests.bot.test_citizen_journey import make_unit
from tests.bot.test_reading_load import MESSAGE_LIMIT, reading
from tests.bot.test_reading_moments import REASONS
from tests.fakes.zalo_api import FakeZaloApi
from tests.team_desk import decide, review
from tests.zalo.people import MAX, Typist, give_zalo_role, jpeg, make_bot

GREETING = {"vi": ("Xin chào", "đồng ý"), "en": ("Xin chào", "English", "I agree")}
TYPED = {"vi": ("xong", "nộp", "Cho tôi hỏi khi nào có kết quả?"), "en": ("done", "submit", "When is the result?")}
HINT = re.compile(r"<b>(\d+)\.</b> 💡")


@pytest.mark.parametrize("lang", ["vi", "en"])
async def test_every_moment_reads_under_a_thousand_characters_on_zalo(
    zalo_api: FakeZaloApi, sessions: Sessions, tmp_path: Path, lang: str
) -> None:
    await make_unit(sessions)
    bot = make_bot(zalo_api, sessions, tmp_path / "evidence")
    an = Typist(bot, zalo_api)
    done, submit, question = TYPED[lang]
    at: dict[str, int] = {}

    def moment(name: str) -> None:
        at[name] = len(zalo_api.texts(an.id))

    await an.say("/help")
    moment("help, before the first hello")
    for typed in (*GREETING[lang], "Nguyễn Văn An", "THON1"):
        await an.say(typed)
    level = await an.say("1")  # the first group
    moment("first level")
    hint = HINT.search(level)
    assert hint is not None, level
    await an.say(hint.group(1))
    moment("hint")
    for command in ("/status", "/mydata", "/help"):
        await an.say(command)
        moment(f"{command} on the way")
    for n in range(1, 11):
        await an.say("1")  # 10 points
        await an.photo(jpeg(n))
        await an.say(done)
    moment("summary")
    await an.say(submit)
    assert "100/100" in await an.say("1")
    moment("result")
    await an.say(question)
    moment("text after submitting")
    await an.photo(jpeg(99))
    moment("photo after submitting")
    for command in ("/status", "/mydata", "/help"):
        await an.say(command)
        moment(f"{command} submitted")

    # The team changes three indicators with a reason each and confirms at /review: the citizen is told.
    await give_zalo_role(sessions, "ba", "reviewer", "THON1")
    changes = {n: (5, f"{n}. {REASONS[lang]}") for n in range(1, 4)}
    await review(sessions, "zalo", an.id, changes, confirm=False)
    ba = Typist(bot, zalo_api, "ba")
    await ba.say("/review")
    await ba.say("1")  # confirm
    assert (await make_dispatcher(bot.client, bot.data).run()).sent == 1
    moment("the team's notice")
    async with sessions() as s:
        path = (await s.exec(select(Unit).where(Unit.code == "THON1"))).one().path
    assert await decide(sessions, path) == 1
    assert (await make_dispatcher(bot.client, bot.data).run()).sent == 1
    moment("the decision")
    for command in ("/status", "/start"):
        await an.say(command)
        moment(f"{command} decided")
    await bot.close()

    texts = zalo_api.texts(an.id)
    notices = texts[at["result"] :]
    assert sum(visible(text).count(REASONS[lang]) for text in notices) >= 3 * 3  # notice, decision, /status
    assert "12/QĐ-UBND" in "".join(texts[at["the team's notice"] : at["the decision"]])
    assert all(len(text) <= MAX for text in texts)
    over, start = {}, 0
    for name, end in at.items():  # each moment's messages, named by the moment for a failure to say where
        for text in texts[start:end]:
            if reading(visible(text)) > MESSAGE_LIMIT:
                over[name] = reading(visible(text))
        start = end
    assert over == {}
