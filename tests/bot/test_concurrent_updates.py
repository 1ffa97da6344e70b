"""Different people's updates are handled at once, one person's strictly in arrival order: updates put on
the Application's queue (as polling and the webhook do) go through the PersonOrderedProcessor."""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path
from typing import Any

from sqlmodel import select
from telegram import Update

from bot import metrics
from bot.lanes import Lanes, PersonOrderedProcessor
from storage.db import Sessions
from storage.models import Person
from tests.bot.harness import Harness, User
from tests.bot.test_citizen_journey import make_unit, register

_ids = itertools.count(900_000)


def _command(user: User, text: str) -> dict[str, Any]:
    return {
        "update_id": next(_ids),
        "message": {
            "message_id": next(_ids),
            "date": int(time.time()),
            "from": {"id": user.id, "is_bot": False, "first_name": "X", "language_code": "vi"},
            "chat": {"id": user.id, "type": "private"},
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}],
        },
    }


def _updates_counted(kind: str) -> float:
    return metrics.REGISTRY.get_sample_value("cdht_updates_total", {"channel": "telegram", "kind": kind}) or 0.0


def _replies_to(h: Harness, chat: int) -> list[str]:
    return [c.params.get("text", "") for c in h.api.sent() if str(c.params.get("chat_id")) == str(chat)]


async def test_one_persons_ten_quick_updates_apply_in_order_while_others_run(
    sessions: Sessions, tmp_path: Path
) -> None:
    await make_unit(sessions)
    h = await Harness.start(sessions, tmp_path / "ev", concurrent_updates=4)
    processor = h.app.update_processor
    assert isinstance(processor, PersonOrderedProcessor)
    people = [User(h, 7001 + i) for i in range(4)]
    for person in people:
        await register(person)
    before = {p.id: len(_replies_to(h, p.id)) for p in people}
    counted = _updates_counted("command")

    wanted = ["/reminders off" if i % 2 == 0 else "/reminders on" for i in range(10)]  # ends on "on"
    for text in wanted:  # all queued at once, interleaved with the others' updates
        await h.app.update_queue.put(Update.de_json(_command(people[0], text), h.app.bot))
        for other in people[1:]:
            await h.app.update_queue.put(Update.de_json(_command(other, "/help"), h.app.bot))

    async def all_answered() -> None:
        # Every reply sent, and every handling over (an update is counted once its handler has returned).
        while processor.lanes.busy or any(  # noqa: ASYNC110
            len(_replies_to(h, p.id)) - before[p.id] < len(wanted) for p in people
        ):
            await asyncio.sleep(0.02)  # the fake Bot API records calls; it has no event to wait on

    await asyncio.wait_for(all_answered(), timeout=60)
    answers = _replies_to(h, people[0].id)[before[people[0].id] :]
    told = ["off" if "Đã tắt" in a else "on" if "Đã bật" in a else "?" for a in answers]
    assert told == [text.split()[1] for text in wanted]
    async with sessions() as s:
        first = (await s.exec(select(Person).where(Person.external_id == str(people[0].id)))).one()
    assert first.reminders is True  # the last of the ten was applied last
    assert 1 < processor.lanes.peak <= 4  # others ran beside her, never more than CONCURRENT_UPDATES
    assert _updates_counted("command") - counted == 40  # /metrics counts each update once, by kind
    await h.stop()


async def test_lanes_keep_a_persons_order_and_bound_the_concurrency() -> None:
    lanes = Lanes(3)
    seen: dict[str, list[int]] = {"a": [], "b": [], "c": [], "d": []}

    async def handle(key: str, n: int) -> None:
        async with lanes.turn(key):
            await asyncio.sleep(0.001 * ((n * 7) % 5))  # uneven work, so a wrong order would show
            seen[key].append(n)

    await asyncio.gather(*(handle(key, n) for n in range(20) for key in seen))
    assert all(order == list(range(20)) for order in seen.values())
    assert lanes.peak == 3 and lanes.running == 0 and lanes.busy == 0
