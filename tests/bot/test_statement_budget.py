"""What one citizen's update costs the database (issue 9, item 1): SQL statements and transactions counted on the
engine (``before_cursor_execute``, ``begin``) while the real Application handles each update of a journey, on
SQLite and PostgreSQL. A button press costs at most 4 statements, a photo at most 6, in one transaction (a photo:
a look before its download, then one); the officer features cost a citizen nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlmodel import func, select

from storage.db import Sessions
from storage.models import Answer, Evidence, TallyCount
from storage.tally_counters import recounted, stored
from tests.bot.harness import Harness, User, jpeg
from tests.bot.test_citizen_journey import make_unit


@dataclass
class Cost:
    statements: list[str] = field(default_factory=list)
    transactions: int = 0


@contextmanager
def counting(sessions: Sessions) -> Iterator[Callable[[], Cost]]:
    """Counts what the engine runs until the block ends; ``cost()`` gives what ran since it was last asked."""
    engine = sessions.kw["bind"].sync_engine
    now = Cost()

    def statement(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        now.statements.append(" ".join(sql.split()))

    def begin(_conn: Any) -> None:
        now.transactions += 1

    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "begin", begin)

    def cost() -> Cost:
        taken = Cost(list(now.statements), now.transactions)
        now.statements.clear()
        now.transactions = 0
        return taken

    try:
        yield cost
    finally:
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine, "begin", begin)


@pytest.fixture
async def bot(sessions: Sessions, tmp_path: Path):
    h = await Harness.start(sessions, tmp_path / "evidence")
    yield h
    await h.stop()


async def test_a_press_costs_at_most_4_statements_and_a_photo_6(bot: Harness, sessions: Sessions) -> None:
    await make_unit(sessions)
    lan = User(bot, 4242)
    costs: dict[str, list[Cost]] = {}

    with counting(sessions) as cost:

        async def step(kind: str, act: Callable[[], Awaitable[Any]]) -> None:
            cost()
            await act()
            costs.setdefault(kind, []).append(cost())

        await step("registration", lambda: lan.say("/start THON1"))
        await step("registration", lambda: lan.press_label("Tôi đồng ý"))
        await step("registration", lambda: lan.say("Nguyễn Thị Lan"))
        await step("group", lambda: lan.press_label("Người dân trong cộng đồng"))
        await step("first level", lambda: lan.press_label("8 điểm"))
        await step("photo", lambda: lan.photo(b"\xff\xd8 first"))
        await step("press", lambda: lan.press_label("Xong"))
        for n in range(2, 6):
            await step("press", lambda: lan.press_label("8 điểm"))
            await step("photo", lambda n=n: lan.photo(f"photo {n}".encode()))
            await step("photo", lambda n=n: lan.photo(f"photo {n} again".encode()))
            await step("press", lambda: lan.press_label("Xong"))
        await step("text", lambda: lan.say("xin chào"))
        await step("command", lambda: lan.say("/status"))

    def most(kind: str) -> int:
        return max(len(c.statements) for c in costs[kind])

    assert "Chưa chọn mức: chỉ tiêu 6, 7, 8, 9, 10" in lan.last_text()  # /status: the five levels are stored
    assert most("press") <= 4, costs["press"]
    assert most("group") <= 4, costs["group"]
    # The year's first level also counts the draft as "in progress" in the tally counters: one statement more.
    assert most("first level") <= 5, costs["first level"]
    assert most("photo") <= 6, costs["photo"]
    assert most("text") <= 2 and most("command") <= 2, (costs["text"], costs["command"])
    # One transaction an update; a photo's look before its download (no lock, nothing written) is one more.
    for kind in ("press", "group", "first level", "text", "command"):
        assert all(c.transactions == 1 for c in costs[kind]), (kind, [c.transactions for c in costs[kind]])
    assert all(c.transactions <= 2 for c in costs["photo"])
    # Citizens pay nothing for officer features: no look at roles or officers' steps beyond the one load.
    for kind in ("press", "photo", "text", "command"):
        for c in costs[kind]:
            assert not [s for s in c.statements if s.startswith("SELECT") and "FROM role" in s], c.statements
            # The step owed comes with the person, in the one statement that loads the journey.
            assert all(s.startswith("WITH this_year") for s in c.statements if "officer_pending" in s), c.statements
    # What was written is all there, and the counters kept in the same transactions agree with a recount.
    async with sessions() as s:
        assert (await s.exec(select(func.count()).select_from(Answer))).one() == 5
        assert (await s.exec(select(func.count()).select_from(Evidence))).one() == 9
        assert (await s.exec(select(func.count()).select_from(TallyCount))).one() > 0
        assert await stored(s) == await recounted(s)


async def test_a_file_sent_twice_is_one_row_without_a_query_for_it(bot: Harness, sessions: Sessions) -> None:
    """The duplicate check reads the files loaded with the journey: the same file again adds no row."""
    await make_unit(sessions)
    lan = User(bot, 4343)
    await lan.say("/start THON1")
    await lan.press_label("Tôi đồng ý")
    await lan.say("Nguyễn Thị Lan")
    await lan.press_label("Người dân trong cộng đồng")
    await lan.press_label("8 điểm")
    file = lan.serve(jpeg(b"once"))
    await lan.photo(file=file)
    with counting(sessions) as cost:
        await lan.photo(file=file)
        again = cost()
    assert "đã có trong minh chứng" in lan.last_text()
    assert len(again.statements) <= 2, again.statements  # the look, and the update marked done
    assert not [s for s in again.statements if s.startswith("SELECT evidence.id")]
    async with sessions() as s:
        assert (await s.exec(select(func.count()).select_from(Evidence))).one() == 1
