"""Benchmark (not a test): one wave of reminders through the real sender and python-telegram-bot's
AIORateLimiter, against a fake Bot API that enforces Telegram's limits the strict way.

The fake answers 429 (with retry_after) to a message that would make more than 30 in any 1-second window
overall, or more than 1 in any 1-second window to one chat. The wave is planned and dispatched by the
production code (scheduler.jobs.plan, bot.reminders.make_dispatcher, bot.app.build_application with the
rate limiter on) on a temporary SQLite database, or PostgreSQL with --postgres. It prints the sustained
rate, the 429s, and the duplicates and losses counted by the fake (messages per chat) and by the outbox.

    .venv/bin/python bench/reminders_wave.py --count 500        # a quick run, ~20 s
    .venv/bin/python bench/reminders_wave.py                    # 10,000 people, ~6 minutes
    .venv/bin/python bench/reminders_wave.py --postgres postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import tempfile
import time
import uuid
from collections import Counter, deque
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, insert, text
from sqlmodel import select
from telegram.request import RequestData

from bot.app import build_application
from bot.reminders import make_dispatcher, policy_for
from bot.settings import Settings
from scheduler import jobs
from storage import repo_people as rp
from storage.db import make_engine, make_sessions, unit_of_work, upgrade
from storage.models import Answer, Assessment, Outbox, Person
from tests.fakes.telegram_api import Failure, FakeBotApi

OVERALL_PER_SECOND = 30
PER_CHAT_PER_SECOND = 1


class TelegramLimits(FakeBotApi):
    """FakeBotApi with Telegram's flood control, counted over sliding 1-second windows."""

    def __init__(self) -> None:
        super().__init__()
        self.accepted: deque[float] = deque()  # times of accepted messages in the last second
        self.last_to_chat: dict[int, float] = {}
        self.delivered: Counter[int] = Counter()
        self.delivery_times: list[float] = []
        self.too_many = 0
        self.fail_when = self._limit

    def _limit(self, method: str, params: dict[str, Any]) -> Failure | None:
        if method != "sendMessage":
            return None
        now = time.monotonic()
        while self.accepted and now - self.accepted[0] >= 1.0:
            self.accepted.popleft()
        chat = int(params["chat_id"])
        last = self.last_to_chat.get(chat)
        if len(self.accepted) >= OVERALL_PER_SECOND or (last is not None and now - last < 1 / PER_CHAT_PER_SECOND):
            self.too_many += 1
            return Failure(429, "Too Many Requests: retry after 1", retry_after=1)
        self.accepted.append(now)
        self.last_to_chat[chat] = now
        self.delivered[chat] += 1
        self.delivery_times.append(now)
        return None

    async def do_request(
        self, url: str, method: str, request_data: RequestData | None = None, **kw: Any
    ) -> tuple[int, bytes]:
        code, body = await super().do_request(url, method, request_data, **kw)
        if code == 200:
            self.calls.clear()  # 10,000 recorded calls are of no use here
        return code, body


def shifted_clock(target: datetime) -> Any:
    """Real time, moved so the run starts at ``target`` (inside a reminder slot, outside quiet hours)."""
    offset = target - datetime.now(UTC)
    return lambda: datetime.now(UTC) + offset


async def seed(sessions: Any, count: int) -> None:
    """``count`` registered people in one commune; a third have a draft with three answers."""
    async with unit_of_work(sessions) as s:
        unit = await rp.add_unit(session=s, code="XA1", name="Xã Văn Bình", kind="commune")
        people = [
            {
                "channel": "telegram",
                "external_id": str(10_000_000 + i),
                "chat_id": str(10_000_000 + i),
                "locale": "vi" if i % 5 else "en",
                "step": "ready",
                "rev": 1,
                "reminders": True,
                "unit_id": unit.id,
                "full_name": "Nguyễn Văn An",
            }
            for i in range(count)
        ]
        for start in range(0, count, 1000):
            await s.exec(insert(Person).values(people[start : start + 1000]))
        ids = list((await s.exec(select(Person.id).order_by(Person.id))).all())
        drafts = [
            {
                "person_id": pid,
                "unit_id": unit.id,
                "year": 2026,
                "group_code": "community",
                "pack_id": "phu-luc-i",
                "pack_version": 1,
                "step": "level",
                "indicator": 4,
                "rev": 3,
                "status": "draft",
                "returned_indicators": [],
                "created_at": datetime.now(UTC),
                "updated_at": datetime.now(UTC),
            }
            for pid in ids[::3]
        ]
        for start in range(0, len(drafts), 1000):
            await s.exec(insert(Assessment).values(drafts[start : start + 1000]))
        assessment_ids = list((await s.exec(select(Assessment.id))).all())
        answers = [
            {"assessment_id": aid, "indicator": n, "chosen": 8, "updated_at": datetime.now(UTC)}
            for aid in assessment_ids
            for n in (1, 2, 3)
        ]
        for start in range(0, len(answers), 1000):
            await s.exec(insert(Answer).values(answers[start : start + 1000]))


async def run(count: int, postgres: str | None, batch: int | None) -> int:
    schema = None
    if postgres:
        schema = f"cdht_bench_{uuid.uuid4().hex[:8]}"
        admin = make_engine(postgres)
        async with admin.begin() as conn:
            await conn.execute(text(f'create schema "{schema}"'))
        await admin.dispose()
        url = postgres
    else:
        url = f"sqlite:///{tempfile.mkdtemp(prefix='cdht-bench-')}/bench.db"
    engine = make_engine(url, schema=schema)
    try:
        await upgrade(engine)
        sessions = make_sessions(engine)
        await seed(sessions, count)
        settings = Settings(
            _env_file=None,
            bot_token="123456:BENCH",
            telegram_api_base_url="http://botapi.invalid/bot",
            telegram_file_base_url="http://botapi.invalid/file/bot",
            database_url=url,
            rate_limit=True,
            scheduler_enabled=False,
            **({"dispatch_batch": batch} if batch else {}),
        )
        api = TelegramLimits()
        clock = shifted_clock(datetime(2026, 12, 24, 9, 0, tzinfo=settings.zone))
        app = build_application(settings, sessions, request=api, clock=clock)
        await app.initialize()
        policy = policy_for(settings)
        planned = await jobs.plan(sessions=sessions, policy=policy, now=clock())
        print(f"planned {planned.reminders} reminders for {count} people ({'PostgreSQL' if postgres else 'SQLite'})")
        dispatcher = make_dispatcher(app.bot, app.bot_data, policy)
        started = time.monotonic()
        rounds = 0
        while True:  # what the dispatch job does, back to back
            stats = await dispatcher.run()
            rounds += 1
            async with sessions() as s:
                left = (await s.exec(select(func.count()).where(Outbox.status.in_(["pending", "claimed"])))).one()
            if not left:
                break
            if stats.claimed == 0:
                await asyncio.sleep(0.2)
            if time.monotonic() - started > count / 10 + 120:
                print("giving up: the wave is not finishing")
                break
        elapsed = time.monotonic() - started
        await app.shutdown()
        async with sessions() as s:
            statuses = dict((await s.exec(select(Outbox.status, func.count()).group_by(Outbox.status))).all())
            chats = {int(chat) for chat in (await s.exec(select(Person.chat_id))).all() if chat}
        times = api.delivery_times
        span = times[-1] - times[0] if len(times) > 1 else 0.0
        sustained = (len(times) - 1) / span if span else 0.0
        worst = _worst_window(times, 10.0)
        duplicates = sum(n - 1 for n in api.delivered.values() if n > 1)
        losses = len(chats - set(api.delivered))
        report = {
            "people": count,
            "delivered": sum(api.delivered.values()),
            "elapsed_s": round(elapsed, 1),
            "sustained_msg_per_s": round(sustained, 2),
            "slowest_10s_window_msg_per_s": round(worst, 2),
            "busiest_1s_window": _busiest(times, 1.0),
            "http_429": api.too_many,
            "duplicates": duplicates,
            "losses": losses,
            "outbox": statuses,
            "dispatch_rounds": rounds,
            "batch": settings.dispatch_batch,
            "send_rate_setting": settings.send_rate,
        }
        print(json.dumps(report, indent=2))
        ok = sustained >= 27 and duplicates == 0 and losses == 0 and statuses == {"sent": count}
        print("GOAL MET" if ok else "GOAL NOT MET", "(>= 27 msg/s sustained, 0 duplicates, 0 losses)")
        return 0 if ok else 1
    finally:
        await engine.dispose()
        if schema:
            admin = make_engine(postgres or "")
            async with admin.begin() as conn:
                await conn.execute(text(f'drop schema if exists "{schema}" cascade'))
            await admin.dispose()


def _busiest(times: list[float], width: float) -> int:
    """The most messages the fake accepted in any window of ``width`` seconds."""
    most, j = 0, 0
    for i, t in enumerate(times):
        while t - times[j] >= width:
            j += 1
        most = max(most, i - j + 1)
    return most


def _worst_window(times: list[float], width: float) -> float:
    """The lowest rate over any full window of ``width`` seconds (start-up and tail excluded)."""
    if not times or times[-1] - times[0] < 2 * width:
        return 0.0
    worst = float("inf")
    j = 0
    t = times[0] + width / 2
    while t + width <= times[-1] - width / 2:
        while times[j] < t:
            j += 1
        k = j
        while k < len(times) and times[k] < t + width:
            k += 1
        worst = min(worst, (k - j) / width)
        t += 1.0
    return worst


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10_000, help="people, one reminder each (default 10,000)")
    parser.add_argument(
        "--postgres",
        nargs="?",
        const="postgresql://postgres@127.0.0.1:5432/test",
        default=None,
        help="use PostgreSQL (in a temporary schema) instead of a temporary SQLite file",
    )
    parser.add_argument("--batch", type=int, default=None, help="DISPATCH_BATCH (default: the setting's)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return asyncio.run(run(args.count, args.postgres, args.batch))


if __name__ == "__main__":
    raise SystemExit(main())
