"""Several worker processes on one PostgreSQL (issue 9 item 6): the same webhook load to 1 and to 4 workers,
and the send rate held by 4 workers together. Not a test.

Each worker is a real ``cdht run`` subprocess in webhook mode on a port of its own, with REDIS_URL and WORKERS
set, talking to a Bot API emulator on 127.0.0.1 (tests/fakes/bot_api_server.py) that records when each
message arrives. A database of its own is created on the server and dropped at the end.

- webhook load: C citizens in a closed loop, each with one update outstanding ("/start THON1", then "/help"
  again and again), their updates spread round-robin over the workers; latency is from the POST to the
  worker until the emulator receives the reply. Prints updates/s and p50/p99.
- wave: 2,000 broadcast rows due at once (1,800 people with one, 100 with two), dispatched by 4 workers;
  prints the overall rate, the most messages in any 1-second window, the shortest gap between two messages
  to one chat, and duplicates.

    .venv/bin/python bench/workers.py                                   # local PostgreSQL and Redis
    .venv/bin/python bench/workers.py --citizens 100 --seconds 15 --wave 2000
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy import insert
from sqlalchemy.engine import make_url
from sqlmodel import col, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scheduler import planning  # noqa: E402
from storage import repo_people as rp  # noqa: E402
from storage.db import make_engine, make_sessions, unit_of_work  # noqa: E402
from storage.models import Broadcast, Outbox, Person  # noqa: E402
from tests.fakes.bot_api_server import Emulator  # noqa: E402

TOKEN = "123456:BENCH-TOKEN"
SECRET = "bench-secret"
FIRST_PORT = 18600


class Recording(Emulator):
    """The emulator, noting when each message reaches each chat and waking whoever waits for that chat."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[float, str]] = []  # (monotonic time, chat id) of each sendMessage
        self.waiters: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Future[float]]] = {}
        self.lock = threading.Lock()

    def record(self, method: str, params: dict[str, Any]) -> None:
        if method != "sendMessage":
            return  # getMe, setWebhook...: not kept, so a long run does not grow the list
        now, chat = time.monotonic(), str(params.get("chat_id"))
        with self.lock:
            self.sent.append((now, chat))
            waiter = self.waiters.pop(chat, None)
        if waiter is not None:
            loop, future = waiter
            loop.call_soon_threadsafe(lambda: future.done() or future.set_result(now))

    def expect(self, chat: str) -> asyncio.Future[float]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[float] = loop.create_future()
        with self.lock:
            self.waiters[chat] = (loop, future)
        return future


@contextmanager
def emulator() -> Iterator[Recording]:
    server = Recording()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


# --------------------------------------------------------------------------- database and workers


async def create_database(admin_url: str, name: str) -> str:
    url = make_url(admin_url)
    conn = await asyncpg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False))
    try:
        await conn.execute(f'create database "{name}"')
    finally:
        await conn.close()
    return url.set(database=name).render_as_string(hide_password=False)


async def drop_database(admin_url: str, name: str) -> None:
    url = make_url(admin_url)
    conn = await asyncpg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False))
    try:
        await conn.execute(f'drop database if exists "{name}" with (force)')
    finally:
        await conn.close()


def worker_env(
    db_url: str, api: Recording, redis_url: str, port: int, workers: int, folder: Path, **extra: str
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "ZALO_", "WEBHOOK_"))}
    env.update(
        DATABASE_URL=db_url,
        BOT_TOKEN=TOKEN,
        TELEGRAM_API_BASE_URL=f"{api.base}/bot",
        TELEGRAM_FILE_BASE_URL=f"{api.base}/file/bot",
        WEBHOOK_URL=f"http://127.0.0.1:{port}/telegram",
        WEBHOOK_SECRET=SECRET,
        WEBHOOK_LISTEN="127.0.0.1",
        WEBHOOK_PORT=str(port),
        REDIS_URL=redis_url,
        WORKERS=str(workers),
        EVIDENCE_DIR=str(folder / "evidence"),
        FILES_DIR=str(folder / "files"),
        LOG_LEVEL="WARNING",
        SCHEDULER_ENABLED="false",
        PYTHONPATH=str(ROOT),
    )
    env.update(extra)
    return env


@contextmanager
def workers_running(count: int, envs: list[dict[str, str]]) -> Iterator[list[int]]:
    cdht = str(Path(sys.executable).with_name("cdht"))
    procs = [subprocess.Popen([cdht, "run"], env=env, cwd=ROOT, stdin=subprocess.DEVNULL) for env in envs[:count]]
    ports = [int(env["WEBHOOK_PORT"]) for env in envs[:count]]
    try:
        deadline = time.monotonic() + 60
        for port in ports:
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                    raise RuntimeError("a worker did not start")
                time.sleep(0.2)
        yield ports
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()


# --------------------------------------------------------------------------- the webhook load


def update(update_id: int, user_id: int, text: str) -> dict[str, Any]:
    user = {"id": user_id, "is_bot": False, "first_name": "Dân", "language_code": "vi"}
    message = {
        "message_id": update_id,
        "date": int(time.time()),
        "chat": {"id": user_id, "type": "private"},
        "from": user,
        "text": text,
    }
    if text.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    return {"update_id": update_id, "message": message}


async def webhook_load(
    api: Recording, ports: list[int], citizens: int, seconds: float, first_user: int
) -> dict[str, Any]:
    ids = iter(range(first_user * 1000, first_user * 1000 + 10_000_000))
    latencies: list[float] = []
    turn = iter(range(10**9))
    stop_at = time.monotonic() + seconds
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    limits = httpx.Limits(max_connections=citizens, max_keepalive_connections=citizens)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:

        async def citizen(user_id: int) -> None:
            text = "/start THON1"
            while time.monotonic() < stop_at:
                port = ports[next(turn) % len(ports)]  # round-robin, as the proxy spreads deliveries
                replied = api.expect(str(user_id))
                began = time.monotonic()
                answer = await client.post(
                    f"http://127.0.0.1:{port}/telegram", json=update(next(ids), user_id, text), headers=headers
                )
                if answer.status_code != 200:
                    replied.cancel()
                    raise RuntimeError(f"webhook answered {answer.status_code}")
                try:
                    latencies.append(await asyncio.wait_for(replied, 30) - began)
                except TimeoutError:
                    raise RuntimeError("no reply within 30 s") from None
                text = "/help"

        began = time.monotonic()
        await asyncio.gather(*(citizen(first_user + i) for i in range(citizens)))
        took = time.monotonic() - began
    ordered = sorted(latencies)
    return {
        "updates": len(latencies),
        "seconds": round(took, 1),
        "updates_per_s": round(len(latencies) / took, 1),
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p99_ms": round(ordered[int(len(ordered) * 0.99) - 1] * 1000, 1),
    }


# --------------------------------------------------------------------------- the wave


async def owe_wave(db_url: str, rows: int) -> int:
    """Broadcast rows due now: most people one, a hundred people two (the per-chat gap matters for them)."""
    engine = make_engine(db_url)
    sessions = make_sessions(engine)
    doubles = min(100, rows // 20)
    people = rows - doubles
    try:
        async with unit_of_work(sessions) as s:
            unit = await rp.find_unit(session=s, code="THON1")
            assert unit is not None
            await s.exec(
                insert(Person).values(
                    [
                        {
                            "channel": "telegram",
                            "external_id": str(5_000_000 + i),
                            "chat_id": str(5_000_000 + i),
                            "locale": "vi",
                            "step": "ready",
                            "rev": 1,
                            "reminders": True,
                            "unit_id": unit.id,
                            "full_name": f"Người {i}",
                        }
                        for i in range(people)
                    ]
                )
            )
            made = [str(5_000_000 + i) for i in range(people)]
            ids = sorted((await s.exec(select(Person.id).where(col(Person.external_id).in_(made)))).all())
            first = Broadcast(unit_id=unit.id, text="Họp tổ dân phố tối thứ Bảy.", status="queued")
            second = Broadcast(unit_id=unit.id, text="Nhắc lại: họp tổ dân phố.", status="queued")
            s.add_all([first, second])
            await s.flush()
            due = datetime.now(UTC) - timedelta(seconds=1)
            owed = [(pid, first.id) for pid in ids] + [(pid, second.id) for pid in ids[:doubles]]
            await s.exec(
                insert(Outbox).values(
                    [
                        {
                            "person_id": pid,
                            "channel": "telegram",
                            "kind": planning.BROADCAST,
                            "cycle": planning.broadcast_cycle(bid),
                            "due_at": due,
                            "payload": {"broadcast_id": bid},
                            "status": "pending",
                            "attempts": 0,
                        }
                        for pid, bid in owed
                    ]
                )
            )
        return len(owed)
    finally:
        await engine.dispose()


def wave_figures(api: Recording, expected: int, since: float) -> dict[str, Any]:
    sent = [(t, chat) for t, chat in api.sent if t >= since and int(chat) >= 5_000_000]
    times = sorted(t for t, _ in sent)
    most, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= 1.0:
            start += 1
        most = max(most, end - start + 1)
    per_chat: dict[str, list[float]] = defaultdict(list)
    for t, chat in sent:
        per_chat[chat].append(t)
    gaps = [b - a for ts in per_chat.values() for a, b in itertools.pairwise(sorted(ts))]
    took = times[-1] - times[0] if len(times) > 1 else 0.0
    counts = Counter(chat for _, chat in sent)
    return {
        "messages": len(sent),
        "expected": expected,
        "seconds": round(took, 1),
        "rate_per_s": round((len(sent) - 1) / took, 2) if took else None,
        "most_in_1s_window": most,
        "chats_with_two": sum(1 for c in counts.values() if c == 2),
        "min_gap_same_chat_s": round(min(gaps), 3) if gaps else None,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_pg = os.environ.get("CDHT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--postgres", default=default_pg, help="a server where a database can be created")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--citizens", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--workers", default="1,4")
    parser.add_argument("--wave", type=int, default=2000)
    parser.add_argument("--wave-workers", type=int, default=4)
    args = parser.parse_args()

    name = f"cdht_bench_workers_{uuid.uuid4().hex[:8]}"
    db_url = await create_database(args.postgres, name)
    results: dict[str, Any] = {"database": "PostgreSQL (a database of its own)", "citizens": args.citizens}
    try:
        env = {**os.environ, "DATABASE_URL": db_url}
        upgrade = [str(Path(sys.executable).with_name("cdht")), "db", "upgrade"]
        await asyncio.to_thread(subprocess.run, upgrade, env=env, check=True, cwd=ROOT)
        engine = make_engine(db_url)
        async with unit_of_work(make_sessions(engine)) as s:
            await rp.add_unit(session=s, code="THON1", name="Thôn Bình Vọng")
        await engine.dispose()
        with tempfile.TemporaryDirectory() as folder, emulator() as api:
            counts = [int(n) for n in args.workers.split(",")]
            for round_no, count in enumerate(counts):
                # Each round: new citizens (their /start is a registration start, as in the first round).
                envs = [worker_env(db_url, api, args.redis, FIRST_PORT + i, count, Path(folder)) for i in range(count)]
                with workers_running(count, envs) as ports:
                    figures = await webhook_load(api, ports, args.citizens, args.seconds, 100_000 * (round_no + 1))
                results[f"webhooks_{count}_workers"] = figures
                print(json.dumps({f"{count} workers": figures}), flush=True)
            expected = await owe_wave(db_url, args.wave)
            n = args.wave_workers
            quiet = {"QUIET_HOURS_START": "00:00", "QUIET_HOURS_END": "00:00", "REMINDER_OFFSETS": "0"}
            sending = {"SCHEDULER_ENABLED": "true", "DISPATCH_INTERVAL": "1", "PLANNING_INTERVAL": "100000", **quiet}
            envs = [
                worker_env(db_url, api, args.redis, FIRST_PORT + 10 + i, n, Path(folder), **sending) for i in range(n)
            ]
            since = time.monotonic()
            with workers_running(n, envs):
                deadline = time.monotonic() + expected / 20 + 120
                while time.monotonic() < deadline:
                    done = sum(1 for t, chat in list(api.sent) if t >= since and int(chat) >= 5_000_000)
                    if done >= expected:
                        break
                    await asyncio.sleep(1)
                await asyncio.sleep(2)  # anything sent twice would arrive now
            results[f"wave_{n}_workers"] = wave_figures(api, expected, since)
            print(json.dumps({"wave": results[f"wave_{n}_workers"]}), flush=True)
    finally:
        await drop_database(args.postgres, name)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
