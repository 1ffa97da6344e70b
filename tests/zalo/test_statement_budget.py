"""What one citizen's typed update costs the database on Zalo (issue 9, item 1): every typed line was first a look
for an officer's step owed; now the step owed comes with the person, so a citizen pays nothing for it. Counted
on the engine while ``ZaloBot.receive`` records and handles each update (the inbox insert is one statement more
than the handling)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from storage.db import Sessions
from tests.bot.test_citizen_journey import make_unit
from tests.bot.test_statement_budget import Cost, counting
from tests.fakes.zalo_api import FakeZaloApi
from tests.zalo.people import Typist, jpeg, make_bot

INBOX_INSERT = 1


async def test_a_typed_choice_costs_what_a_press_does(
    zalo_api: FakeZaloApi, sessions: Sessions, tmp_path: Path
) -> None:
    await make_unit(sessions)
    bot = make_bot(zalo_api, sessions, tmp_path / "evidence")
    an = Typist(bot, zalo_api)
    costs: dict[str, list[Cost]] = {}

    with counting(sessions) as cost:

        async def step(kind: str, act: Callable[[], Awaitable[Any]]) -> str:
            cost()
            answer = await act()
            costs.setdefault(kind, []).append(cost())
            return answer

        await step("registration", lambda: an.say("Xin chào"))
        await step("registration", lambda: an.say("đồng ý"))
        await step("registration", lambda: an.say("Nguyễn Văn An"))
        await step("registration", lambda: an.say("THON1"))
        await step("choice", lambda: an.say("1"))  # the group
        await step("first level", lambda: an.say("1"))
        await step("photo", lambda: an.photo(jpeg(1)))
        await step("choice", lambda: an.say("Xong"))
        for n in range(2, 5):
            await step("choice", lambda: an.say("1"))
            await step("photo", lambda n=n: an.photo(jpeg(n)))
            await step("choice", lambda: an.say("Xong"))
        await step("text", lambda: an.say("xin chào bot"))
        shown = await step("command", lambda: an.say("/status"))
        await bot.drain()

    assert "Chỉ tiêu 5" in shown or "chỉ tiêu 5" in shown  # /status: four levels stored, the fifth is next
    most = {kind: max(len(c.statements) for c in found) for kind, found in costs.items()}
    assert most["choice"] <= 4 + INBOX_INSERT, costs["choice"]
    assert most["first level"] <= 5 + INBOX_INSERT, costs["first level"]  # the draft counted "in progress"
    assert most["photo"] <= 6 + INBOX_INSERT, costs["photo"]
    assert most["text"] <= 2 + INBOX_INSERT and most["command"] <= 2 + INBOX_INSERT, costs
    for kind in ("choice", "photo", "text", "command"):
        for c in costs[kind]:
            assert not [s for s in c.statements if s.startswith("SELECT") and "FROM role" in s], c.statements
            assert all(s.startswith("WITH this_year") for s in c.statements if "officer_pending" in s), c.statements
