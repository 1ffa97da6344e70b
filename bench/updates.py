"""The update path under load: the product next to a bare python-telegram-bot echo bot, on the same fake Bot
API transport, in one run.

Updates go in the way polling and the webhook put them (``Application.update_queue``: the product records
each in its inbox first), through the same update processor (bot/lanes.py, CONCURRENT_UPDATES at once, one
person's in order). Latency: from handing the update to the queue to the end of its handling.

- closed loop: N citizens, each with one update outstanding (the next is sent when the last was handled);
- open loop: N citizens each acting every 2 s (a random start within the first 2 s).

Citizens walk the real journey (start with a unit code, consent, name, group, ten indicators each with a
level, a photo and "done", submit); one who finishes is followed by a new one. Also printed: SQL
statements per update by kind (press, photo, text, command), counted on the engine.

Not a test. Run from the project root:

    .venv/bin/python bench/updates.py                 # SQLite file in a temporary folder
    .venv/bin/python bench/updates.py --postgres      # PostgreSQL (CDHT_TEST_POSTGRES_URL), own schema
    .venv/bin/python bench/updates.py --citizens 200 --seconds 20 --concurrency 8
    .venv/bin/python bench/updates.py --registered    # people already registered: answering indicators

Also printed: the process's CPU time per update (all threads), steadier than wall time on a shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from telegram import Update
from telegram.ext import Application, MessageHandler, filters

from bench.citizen_journey import bench_database
from bot.app import build_application
from bot.inbox import InboxQueue
from bot.lanes import PersonOrderedProcessor, kind_of
from bot.server import settle_memory
from storage import repo_inbox
from storage.db import Sessions
from storage.models import Person
from tests.bot.harness import Clock, jpeg, make_settings
from tests.fakes.telegram_api import FakeBotApi

TOKEN = "123456:BENCH-TOKEN"
_ids = itertools.count(1)


class BenchApi(FakeBotApi):
    """The fake Bot API, remembering each chat's last keyboard and the message that carries it (citizens press
    what they were shown, on the message Telegram would name in the callback query)."""

    def __init__(self) -> None:
        super().__init__()
        self.keyboards: dict[int, list[dict[str, Any]]] = {}
        self.keyboard_message: dict[int, int] = {}
        # The fake keeps every call for tests to read; here that grew by three objects an update for the whole
        # run, and the garbage collector's full sweeps, which every update waits behind, with it.
        self.calls = deque(maxlen=16)  # type: ignore[assignment]
        self.downloads = deque(maxlen=16)  # type: ignore[assignment]
        self.download_urls = deque(maxlen=16)  # type: ignore[assignment]

    def answer(self, api_method: str, params: dict[str, Any]) -> Any:
        result = super().answer(api_method, params)
        markup = params.get("reply_markup")
        if markup and api_method in ("sendMessage", "editMessageText"):
            data = json.loads(markup) if isinstance(markup, str) else markup
            chat = int(params["chat_id"])
            self.keyboards[chat] = [b for row in data.get("inline_keyboard", []) for b in row]
            message_id = params.get("message_id") or (result.get("message_id") if isinstance(result, dict) else None)
            if message_id is not None:
                self.keyboard_message[chat] = int(message_id)
        return result


class TimedProcessor(PersonOrderedProcessor):
    """Marks each update done (its future) when its handling ends; counts SQL statements by kind."""

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.done: dict[int, asyncio.Future[None]] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        assert isinstance(update, Update)
        try:
            await super().do_process_update(update, coroutine)
        finally:
            waiter = self.done.pop(update.update_id, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)


@dataclass
class Run:
    latencies: list[float] = field(default_factory=list)
    by_kind: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statements: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    handled: int = 0
    elapsed: float = 0.0
    cpu: float = 0.0  # the process's CPU seconds (all threads) while the loop ran: steadier than wall time

    def line(self, name: str) -> str:
        lat = sorted(self.latencies)
        if len(lat) < 2:
            return f"{name}: too few updates"
        q = statistics.quantiles(lat, n=100)
        rate = self.handled / self.elapsed
        return (
            f"{name}: {self.handled} updates in {self.elapsed:.1f} s = {rate:.0f} updates/s; "
            f"latency p50 {q[49] * 1000:.1f} ms, p95 {q[94] * 1000:.1f} ms, p99 {q[98] * 1000:.1f} ms; "
            f"CPU {self.cpu / self.handled * 1000:.2f} ms/update"
        )

    def kinds(self) -> str:
        """p50 / p99 by update kind (ms)."""
        parts = []
        for kind, lat in sorted(self.by_kind.items()):
            if len(lat) >= 2:
                q = statistics.quantiles(sorted(lat), n=100)
                parts.append(f"{kind} {q[49] * 1000:.0f}/{q[98] * 1000:.0f}")
        return ", ".join(parts)


class Feeder:
    """Puts updates on an Application's queue and waits until each has been handled."""

    def __init__(self, app: Application, processor: TimedProcessor, run: Run) -> None:
        self.app, self.processor, self.run = app, processor, run

    async def feed(self, data: dict[str, Any]) -> None:
        update = Update.de_json({"update_id": next(_ids), **data}, self.app.bot)
        waiter = asyncio.get_running_loop().create_future()
        self.processor.done[update.update_id] = waiter
        started = time.perf_counter()
        await self.app.update_queue.put(update)
        await waiter
        took = time.perf_counter() - started
        self.run.latencies.append(took)
        self.run.by_kind[kind_of(update)].append(took)
        self.run.handled += 1


class Citizen:
    """One person walking the journey; ``step()`` sends their next update."""

    def __init__(self, feeder: Feeder, api: BenchApi, user_id: int) -> None:
        self.feeder, self.api, self.id = feeder, api, user_id
        self.script = self._journey()

    def _user(self) -> dict[str, Any]:
        return {"id": self.id, "is_bot": False, "first_name": "Bình", "language_code": "vi"}

    def _message(self, **content: Any) -> dict[str, Any]:
        chat = {"id": self.id, "type": "private"}
        return {"message_id": next(_ids), "date": int(time.time()), "from": self._user(), "chat": chat, **content}

    def say(self, text: str) -> dict[str, Any]:
        entities = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}] if text[0] == "/" else []
        return {"message": self._message(text=text, entities=entities)}

    def press(self, label: str) -> dict[str, Any]:
        buttons = self.api.keyboards.get(self.id, [])
        found = next((b for b in buttons if b["text"] == label), None) or next(
            (b for b in buttons if label in b["text"]), None
        )
        if found is None:
            raise RuntimeError(f"citizen {self.id}: no button {label!r}")
        message = {**self._message(text="(buttons)"), "message_id": self.api.keyboard_message.get(self.id, 1)}
        query = {"id": str(next(_ids)), "from": self._user(), "chat_instance": "ci", "data": found["callback_data"]}
        return {"callback_query": {**query, "message": message}}

    def photo(self, n: int) -> dict[str, Any]:
        file_id = f"F{next(_ids)}"
        self.api.files[file_id] = jpeg(f"evidence {self.id} {n}".encode() * 20)
        size = len(self.api.files[file_id])
        sizes = [{"file_id": file_id, "file_unique_id": f"U{file_id}", "width": 1280, "height": 960, "file_size": size}]
        return {"message": self._message(photo=sizes)}

    def _journey(self):  # type: ignore[no-untyped-def]
        yield lambda: self.say("/start BENCH")
        yield lambda: self.press("Tôi đồng ý")
        yield lambda: self.say("Nguyễn Văn Bình")
        yield lambda: self.press("Người dân trong cộng đồng")
        for n in range(10):
            yield lambda: self.press("8 điểm")
            yield lambda n=n: self.photo(n)
            yield lambda: self.press("Xong")
        yield lambda: self.press("Nộp bản tự đánh giá")
        yield lambda: self.press("Nộp")

    async def step(self) -> bool:
        """Sends the next update; False when the journey is over."""
        make = next(self.script, None)
        if make is None:
            return False
        await self.feeder.feed(make())
        return True


REGISTRATION = 4  # start with a code, consent, name, group: the updates before the first indicator


async def _people(
    feeder: Feeder, api: BenchApi, citizens: int, seconds: float, pause: float | None, registered: bool
) -> None:
    """``citizens`` lanes of people for ``seconds``, timed into the feeder's run; ``pause`` None: closed loop,
    else one action a person per ``pause`` seconds. ``registered``: the first citizens register (and choose
    their group) before the clock starts, so the figures are those of people answering indicators."""
    ids = itertools.count(10_000_000 + random.randrange(1_000_000) * 100)
    first = [Citizen(feeder, api, next(ids)) for _ in range(citizens)]
    if registered:

        async def register(person: Citizen) -> None:
            for _ in range(REGISTRATION):
                await person.step()

        await asyncio.gather(*(register(person) for person in first))
        run = feeder.run
        run.latencies.clear()
        run.by_kind.clear()
        run.statements.clear()
        run.handled = 0
    started, cpu = time.perf_counter(), time.process_time()
    deadline = started + seconds

    async def lane(person: Citizen) -> None:
        if pause:
            await asyncio.sleep(random.uniform(0, pause))
        while time.perf_counter() < deadline:
            acted = time.perf_counter()
            if not await person.step():
                person = Citizen(feeder, api, next(ids))
                continue
            if pause:
                await asyncio.sleep(max(0.0, acted + pause - time.perf_counter()))

    await asyncio.gather(*(lane(person) for person in first))
    feeder.run.elapsed, feeder.run.cpu = time.perf_counter() - started, time.process_time() - cpu


def _count_statements(sessions: Sessions, processor: TimedProcessor, run: Run) -> Callable[[], None]:
    """Counts statements per update (by the asyncio task handling it), filed by the update's kind."""
    engine = sessions.kw["bind"].sync_engine
    per_task: dict[int, int] = defaultdict(int)

    def before(*_args: Any) -> None:
        task = asyncio.current_task()
        if task is not None and id(task) in per_task:
            per_task[id(task)] += 1

    event.listen(engine, "before_cursor_execute", before)
    original = processor.do_process_update

    async def counted(update: object, coroutine: Awaitable[Any]) -> None:
        assert isinstance(update, Update)
        kind = kind_of(update)

        async def measured() -> None:
            task = asyncio.current_task()
            per_task[id(task)] = 0
            try:
                await coroutine
            finally:
                run.statements[kind].append(per_task.pop(id(task), 0))

        await original(update, measured())

    processor.do_process_update = counted  # type: ignore[method-assign]
    return lambda: event.remove(engine, "before_cursor_execute", before)


async def product(
    sessions: Sessions,
    folder: Path,
    *,
    citizens: int,
    seconds: float,
    pause: float | None,
    concurrency: int,
    registered: bool = False,
) -> Run:
    api = BenchApi()
    settings = make_settings(folder / "evidence", bot_token=TOKEN, concurrent_updates=concurrency)
    processor = TimedProcessor(concurrency)
    app = build_application(settings, sessions, request=api, clock=Clock(_june()), processor=processor)
    run = Run()
    stop_counting = _count_statements(sessions, processor, run)
    await app.initialize()
    await app.start()
    settle_memory()  # as `cdht run` does once it has started
    await _people(Feeder(app, processor, run), api, citizens, seconds, pause, registered)
    stop_counting()
    await app.stop()
    await app.shutdown()
    return run


async def echo(*, citizens: int, seconds: float, pause: float | None, concurrency: int) -> Run:
    """A bare python-telegram-bot echo bot on the same transport and processor."""
    api = BenchApi()
    processor = TimedProcessor(concurrency)
    app = Application.builder().token(TOKEN).request(api).get_updates_request(api).concurrent_updates(processor).build()

    async def reply(update: Update, _context: Any) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text(update.effective_message.text or "")

    app.add_handler(MessageHandler(filters.TEXT, reply))
    return await _greetings(app, api, processor, citizens=citizens, seconds=seconds, pause=pause)


async def _greetings(
    app: Application, api: BenchApi, processor: TimedProcessor, *, citizens: int, seconds: float, pause: float | None
) -> Run:
    """``citizens`` people saying "Xin chào" to ``app`` for ``seconds`` (closed loop, or one each ``pause``)."""
    run = Run()
    feeder = Feeder(app, processor, run)
    await app.initialize()
    await app.start()
    settle_memory()
    ids = itertools.count(1)
    deadline = time.perf_counter() + seconds

    async def lane() -> None:
        person = Citizen(feeder, api, next(ids))
        if pause:
            await asyncio.sleep(random.uniform(0, pause))
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            await feeder.feed(person.say("Xin chào"))
            if pause:
                await asyncio.sleep(max(0.0, started + pause - time.perf_counter()))

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(lane() for _ in range(citizens)))
    run.elapsed, run.cpu = time.perf_counter() - started, time.process_time() - cpu
    await app.stop()
    await app.shutdown()
    return run


_FLOOR = sa.Table(
    "bench_floor",
    sa.MetaData(),
    sa.Column("chat_id", sa.BigInteger, primary_key=True),
    sa.Column("n", sa.Integer, nullable=False),
    sa.Column("touched", sa.DateTime(timezone=True)),
)


async def floor(sessions: Sessions, *, citizens: int, seconds: float, pause: float | None, concurrency: int) -> Run:
    """What this stack costs for the I/O one of the product's updates does, with none of its logic: the inbox
    insert (the product's own InboxQueue), one transaction of four Core statements (a person looked up by
    messenger id, an upsert, an update, the inbox's done mark) and three Bot API calls (a press's answer, the
    pressed message edited, the next screen sent). The ratio the product could reach on this stack."""
    async with sessions.kw["bind"].begin() as conn:
        await conn.run_sync(_FLOOR.metadata.create_all)
    dialect = sessions.kw["bind"].dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    upsert = insert(_FLOOR).values(chat_id=sa.bindparam("chat"), n=1)
    upsert = upsert.on_conflict_do_update(index_elements=[_FLOOR.c.chat_id], set_={"n": _FLOOR.c.n + 1})
    touch = sa.update(_FLOOR).where(_FLOOR.c.chat_id == sa.bindparam("chat")).values(touched=sa.bindparam("at"))
    who = sa.select(Person.id, Person.step).where(
        Person.channel == "telegram", Person.external_id == sa.bindparam("external")
    )
    api = BenchApi()
    processor = TimedProcessor(concurrency)
    app = (
        Application.builder()
        .token(TOKEN)
        .request(api)
        .get_updates_request(api)
        .update_queue(InboxQueue(sessions))
        .concurrent_updates(processor)
        .build()
    )

    async def handle(update: Update, _context: Any) -> None:
        message = update.effective_message
        assert message is not None and update.effective_chat is not None
        chat, now = update.effective_chat.id, datetime.now(UTC)
        async with sessions() as session, session.begin():
            await session.exec(who, params={"external": str(chat)})  # type: ignore[call-overload]
            await session.exec(upsert, params={"chat": chat})  # type: ignore[call-overload]
            await session.exec(touch, params={"chat": chat, "at": now})  # type: ignore[call-overload]
            await repo_inbox.mark_done(session=session, channel="telegram", key=str(update.update_id), now=now)
        await app.bot.send_message(chat, "Đã ghi nhận.")
        await app.bot.edit_message_text("Đã chọn: 8 điểm", chat_id=chat, message_id=message.message_id)
        await app.bot.send_message(chat, message.text or "")

    app.add_handler(MessageHandler(filters.TEXT, handle))
    return await _greetings(app, api, processor, citizens=citizens, seconds=seconds, pause=pause)


def _june():  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    return datetime(2026, 6, 1, 3, 0, tzinfo=UTC)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--citizens", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--registered",
        action="store_true",
        help="the first citizens register and choose their group before the clock starts (untimed)",
    )
    parser.add_argument(
        "--floor", action="store_true", help="also the stack's floor: the product's I/O without its logic (see floor())"
    )
    parser.add_argument("--loop", choices=("both", "closed", "open"), default="both", help="which loop(s) to run")
    args = parser.parse_args()
    backend = "postgresql" if args.postgres else "sqlite"
    print(
        f"backend: {backend}, citizens: {args.citizens}, CONCURRENT_UPDATES: {args.concurrency}"
        + (", registered before the clock starts" if args.registered else "")
    )
    load = {"citizens": args.citizens, "seconds": args.seconds, "concurrency": args.concurrency}
    loops = (("closed loop", None), ("open loop (one action a person every 2 s)", 2.0))
    for name, pause in loops:
        if args.loop != "both" and not name.startswith(args.loop):
            continue
        bare = await echo(pause=pause, **load)
        folder = Path(tempfile.mkdtemp(prefix="cdht-bench-"))
        async with bench_database(folder, postgres=args.postgres) as sessions:
            ours = await product(sessions, folder, pause=pause, registered=args.registered, **load)
        low = None
        if args.floor:
            folder = Path(tempfile.mkdtemp(prefix="cdht-bench-"))
            async with bench_database(folder, postgres=args.postgres) as sessions:
                low = await floor(sessions, pause=pause, **load)
        print(f"== {name}")
        print("  " + bare.line("echo bot"))
        if low is not None:
            print("  " + low.line("floor   "))
            print(f"  ratio floor/echo: {low.handled / low.elapsed / (bare.handled / bare.elapsed):.3f}")
        print("  " + ours.line("product "))
        print(f"  product latency p50/p99 by kind (ms): {ours.kinds()}")
        print(f"  ratio product/echo: {ours.handled / ours.elapsed / (bare.handled / bare.elapsed):.3f}")
        kinds = ", ".join(
            f"{kind} {statistics.mean(counts):.1f}" for kind, counts in sorted(ours.statements.items()) if counts
        )
        print(f"  SQL statements per update (handling only; the inbox insert adds 1): {kinds}")


if __name__ == "__main__":
    asyncio.run(main())
