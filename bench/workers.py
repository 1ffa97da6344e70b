"""Several worker processes on one PostgreSQL (issue 9 item 6): the same webhook load to 1, 2 and 4 workers,
and the send rate held by 4 workers together. Not a test.

Each worker is a real ``cdht run`` subprocess in webhook mode on a port of its own, with REDIS_URL and WORKERS
set (READER off: OCR would take a core), talking to a lean Bot API emulator in a process of its own
(bench/bot_api_lean.py) that records when each message arrives. This process only drives the load, with
keep-alive httpx clients, so the figures are the workers' (the earlier harness served the Bot API from threads
of the driver's own process). A database of its own is created on the server and dropped at the end.

- webhook load: C citizens in a closed loop, each with one update outstanding, walking the real journey
  (/start THON1, consent, name, group, /help, ten indicators each a level, a photo and "done", submit; then a
  new citizen), their updates spread round-robin over the workers. Latency is from the POST to the worker
  until the emulator receives that update's sendMessage (every step ends with exactly one). Prints
  updates/s, p50/p99 overall and by kind, and the CPU each process used (% of one core) with the machine's.
  Replies go unthrottled by default (RATE_LIMIT=false): with the limiter every message and edit to a chat
  takes a slot of the one shared SEND_RATE (28/s per bot, Telegram's limit), which caps any number of workers
  at ~28 messages/s; ``--rate-limit`` measures that ceiling.
- wave: 2,000 broadcast rows due at once (1,800 people with one, 100 with two), dispatched by 4 workers with
  the limiter on; prints the overall rate, the most messages in any 1-second window, the shortest gap between
  two messages to one chat, and duplicates.

    .venv/bin/python bench/workers.py                                   # local PostgreSQL and Redis
    .venv/bin/python bench/workers.py --citizens 100 --seconds 30 --workers 1,2,4 --wave 2000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
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

from bench.bot_api_lean import photo_bytes  # noqa: E402
from scheduler import planning  # noqa: E402
from storage import repo_people as rp  # noqa: E402
from storage.db import make_engine, make_sessions, unit_of_work  # noqa: E402
from storage.models import Broadcast, Outbox, Person  # noqa: E402

TOKEN = "123456:BENCH-TOKEN"
SECRET = "bench-secret"
FIRST_PORT = 18600
TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_up(url: str, procs: list[subprocess.Popen[bytes]], deadline: float, what: str) -> None:
    """Returns once ``url`` answers 200; RuntimeError once ``deadline`` passes or one of ``procs`` has exited."""
    while True:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
            raise RuntimeError(f"{what} did not start")
        time.sleep(0.1)


@contextmanager
def emulator() -> Iterator[tuple[str, int]]:
    """The lean Bot API emulator in a process of its own: (its address, its pid)."""
    port = free_port()
    script = str(ROOT / "bench" / "bot_api_lean.py")
    proc = subprocess.Popen([sys.executable, script, "--port", str(port)], cwd=ROOT, stdin=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_up(f"{base}/bench/sent?since=1e12", [proc], time.monotonic() + 30, "the emulator")
        yield base, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


# --------------------------------------------------------------------------- CPU by process


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process (all its threads) so far; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def _pids_named(name: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def _machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of every core since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


class CpuMeter:
    """CPU used while a load runs, by process: the driver (this one), the emulator, each worker, PostgreSQL's
    backends and Redis together, and the whole machine's (other people's work included): % of one core."""

    def __init__(self, named: dict[str, list[int]]) -> None:
        self.named = named

    def _now(self) -> dict[str, float]:
        out = {name: sum(_cpu_seconds(p) for p in pids) for name, pids in self.named.items()}
        out["postgres"] = sum(_cpu_seconds(p) for p in _pids_named("postgres"))
        out["redis"] = sum(_cpu_seconds(p) for p in _pids_named("redis-server"))
        return out

    def __enter__(self) -> CpuMeter:
        self.began, self.before, self.busy = time.monotonic(), self._now(), _machine_busy()
        return self

    def __exit__(self, *exc: object) -> None:
        took = time.monotonic() - self.began
        after, (busy, total) = self._now(), _machine_busy()
        self.percent = {name: round((after[name] - self.before[name]) / took * 100) for name in after}
        cores = os.cpu_count() or 1
        self.percent["machine (all cores)"] = round((busy - self.busy[0]) / (total - self.busy[1]) * 100 * cores)


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
    db_url: str, api: str, redis_url: str, port: int, workers: int, folder: Path, **extra: str
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "ZALO_", "WEBHOOK_"))}
    env.update(
        DATABASE_URL=db_url,
        BOT_TOKEN=TOKEN,
        TELEGRAM_API_BASE_URL=f"{api}/bot",
        TELEGRAM_FILE_BASE_URL=f"{api}/file/bot",
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
        READER="false",
        PYTHONPATH=str(ROOT),
    )
    env.update(extra)
    return env


@contextmanager
def workers_running(count: int, envs: list[dict[str, str]]) -> Iterator[list[subprocess.Popen[bytes]]]:
    cdht = str(Path(sys.executable).with_name("cdht"))
    procs = [subprocess.Popen([cdht, "run"], env=env, cwd=ROOT, stdin=subprocess.DEVNULL) for env in envs[:count]]
    ports = [int(env["WEBHOOK_PORT"]) for env in envs[:count]]
    try:
        deadline = time.monotonic() + 60
        for port in ports:
            _wait_up(f"http://127.0.0.1:{port}/healthz", procs, deadline, "a worker")
        yield procs
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()


# --------------------------------------------------------------------------- the webhook load


@dataclass
class Reply:
    t: float  # when the emulator received the sendMessage (CLOCK_MONOTONIC, one clock for every process)
    keyboard: list[list[str]]  # the chat's last inline keyboard: [label, callback_data] each
    message_id: int  # the message carrying it


class Replies:
    """The emulator's stream of sendMessage arrivals, read by one task: it wakes the citizen waiting on that
    chat and keeps each chat's last keyboard for its next press."""

    def __init__(self) -> None:
        self.waiting: dict[str, asyncio.Future[Reply]] = {}
        self.last: dict[str, Reply] = {}

    def expect(self, chat: str) -> asyncio.Future[Reply]:
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self.waiting[chat] = future
        return future

    async def follow(self, client: httpx.AsyncClient, api: str, ready: asyncio.Event) -> None:
        async with client.stream("GET", f"{api}/bench/events", timeout=None) as stream:
            ready.set()
            async for line in stream.aiter_lines():
                event = json.loads(line)
                reply = Reply(event["t"], event["kb"], event["mid"])
                self.last[event["chat"]] = reply
                future = self.waiting.pop(event["chat"], None)
                if future is not None and not future.done():
                    future.set_result(reply)


_ids = itertools.count(1)


def _user(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": "Dân", "language_code": "vi"}


def _message(user_id: int, **content: Any) -> dict[str, Any]:
    chat = {"id": user_id, "type": "private"}
    return {"message_id": next(_ids), "date": int(time.time()), "chat": chat, "from": _user(user_id), **content}


def say(user_id: int, text: str, _last: Reply | None) -> dict[str, Any]:
    entities = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}] if text[0] == "/" else []
    return {"message": _message(user_id, text=text, entities=entities)}


def photo(user_id: int, _last: Reply | None) -> dict[str, Any]:
    file_id = f"F{user_id}x{next(_ids)}"
    size = len(photo_bytes(file_id))
    sizes = [{"file_id": file_id, "file_unique_id": f"U{file_id}", "width": 1280, "height": 960, "file_size": size}]
    return {"message": _message(user_id, photo=sizes)}


def press(user_id: int, label: str, last: Reply | None) -> dict[str, Any]:
    """The callback query of the button ``label`` on the chat's last keyboard, as Telegram would send it."""
    buttons = last.keyboard if last else []
    found = next((b for b in buttons if b[0] == label), None) or next((b for b in buttons if label in b[0]), None)
    if found is None or last is None:
        raise RuntimeError(f"citizen {user_id}: no button {label!r} in {[b[0] for b in buttons]}")
    message = {**_message(user_id, text="(buttons)"), "message_id": last.message_id}
    query = {"id": str(next(_ids)), "from": _user(user_id), "chat_instance": "ci", "data": found[1]}
    return {"callback_query": {**query, "message": message}}


Step = tuple[str, Callable[[int, Reply | None], dict[str, Any]]]  # (kind, the update from the last reply)


def journey() -> list[Step]:
    """One citizen's updates, as bench/updates.py walks them, with a /help after registering."""
    steps: list[Step] = [
        ("command", lambda u, last: say(u, "/start THON1", last)),
        ("press", lambda u, last: press(u, "Tôi đồng ý", last)),
        ("text", lambda u, last: say(u, "Nguyễn Văn Bình", last)),
        ("press", lambda u, last: press(u, "Người dân trong cộng đồng", last)),
        ("command", lambda u, last: say(u, "/help", last)),
    ]
    for _ in range(10):
        steps.append(("press", lambda u, last: press(u, "8 điểm", last)))
        steps.append(("photo", photo))
        steps.append(("press", lambda u, last: press(u, "Xong", last)))
    steps.append(("press", lambda u, last: press(u, "Nộp bản tự đánh giá", last)))
    steps.append(("press", lambda u, last: press(u, "Nộp", last)))
    return steps


@dataclass
class Load:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))  # by kind
    journeys: int = 0  # citizens who reached the end


def _ms(ordered: list[float], q: float) -> float:
    return round(ordered[max(0, int(len(ordered) * q) - 1)] * 1000, 1)


async def webhook_load(
    api: str, ports: list[int], citizens: int, seconds: float, first_user: int, meter: CpuMeter
) -> dict[str, Any]:
    users = itertools.count(first_user)
    turn = itertools.count()
    load = Load()
    replies = Replies()
    steps = journey()
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    # A client per citizen, each keeping one connection to each worker alive: httpcore scans every connection
    # of a pool on each request, so one client holding a hundred cost the driver more CPU than the workers.
    # Idle connections are dropped after 2 s, before uvicorn's 5 s keep-alive closes them under a request.
    limits = httpx.Limits(keepalive_expiry=2)
    clients = [httpx.AsyncClient(timeout=30, limits=limits) for _ in range(citizens)]
    follower_client = httpx.AsyncClient()
    async with contextlib.AsyncExitStack() as stack:
        for client in [*clients, follower_client]:
            await stack.enter_async_context(client)
        ready = asyncio.Event()
        follower = asyncio.create_task(replies.follow(follower_client, api, ready))
        await ready.wait()
        stop_at = time.monotonic() + seconds

        async def citizen(client: httpx.AsyncClient) -> None:
            while time.monotonic() < stop_at:
                user = next(users)
                chat = str(user)
                for kind, make in steps:
                    if time.monotonic() >= stop_at:
                        return
                    data = {"update_id": next(_ids), **make(user, replies.last.get(chat))}
                    port = ports[next(turn) % len(ports)]  # round-robin, as the proxy spreads deliveries
                    replied = replies.expect(chat)
                    began = time.monotonic()
                    answer = await client.post(f"http://127.0.0.1:{port}/telegram", json=data, headers=headers)
                    if answer.status_code != 200:
                        raise RuntimeError(f"webhook answered {answer.status_code}")
                    try:
                        async with asyncio.timeout(30):
                            reply = await replied
                    except TimeoutError:
                        raise RuntimeError(f"citizen {user}: no reply to a {kind} within 30 s") from None
                    load.latencies[kind].append(reply.t - began)
                load.journeys += 1

        try:
            with meter:
                began = time.monotonic()
                await asyncio.gather(*(citizen(client) for client in clients))
                took = time.monotonic() - began
        finally:
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                await follower
    every = sorted(t for ts in load.latencies.values() for t in ts)
    return {
        "updates": len(every),
        "seconds": round(took, 1),
        "updates_per_s": round(len(every) / took, 1),
        "p50_ms": _ms(every, 0.5),
        "p99_ms": _ms(every, 0.99),
        "p50_p99_ms_by_kind": {
            k: [_ms(sorted(v), 0.5), _ms(sorted(v), 0.99)] for k, v in sorted(load.latencies.items())
        },
        "journeys_finished": load.journeys,
        "cpu_percent_of_one_core": meter.percent,
    }


# --------------------------------------------------------------------------- the wave

WAVE_CHATS = 5_000_000  # the wave's people have chat ids from here on, apart from the citizens'


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
                            "external_id": str(WAVE_CHATS + i),
                            "chat_id": str(WAVE_CHATS + i),
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
            made = [str(WAVE_CHATS + i) for i in range(people)]
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


async def wave_sent(api: str, since: float) -> list[tuple[float, str]]:
    """(arrival, chat) of every wave message the emulator received since ``since``."""
    async with httpx.AsyncClient(timeout=30) as client:
        answer = await client.get(f"{api}/bench/sent", params={"since": since, "min_chat": WAVE_CHATS})
    return [(float(t), str(chat)) for t, chat in answer.json()]


def wave_figures(sent: list[tuple[float, str]], expected: int) -> dict[str, Any]:
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


async def wave(api: str, db_url: str, redis: str, rows: int, n: int, folder: Path) -> dict[str, Any]:
    expected = await owe_wave(db_url, rows)
    quiet = {"QUIET_HOURS_START": "00:00", "QUIET_HOURS_END": "00:00", "REMINDER_OFFSETS": "0"}
    sending = {"SCHEDULER_ENABLED": "true", "DISPATCH_INTERVAL": "1", "PLANNING_INTERVAL": "100000", **quiet}
    sending["RATE_LIMIT"] = "true"  # the wave measures the shared limiter
    envs = [worker_env(db_url, api, redis, FIRST_PORT + 10 + i, n, folder, **sending) for i in range(n)]
    since = time.monotonic()
    with workers_running(n, envs):
        deadline = time.monotonic() + expected / 20 + 120
        while time.monotonic() < deadline:
            if len(await wave_sent(api, since)) >= expected:
                break
            await asyncio.sleep(1)
        await asyncio.sleep(2)  # anything sent twice would arrive now
    return wave_figures(await wave_sent(api, since), expected)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_pg = os.environ.get("CDHT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--postgres", default=default_pg, help="a server where a database can be created")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--citizens", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--rate-limit", action="store_true", help="replies through the shared SEND_RATE limiter")
    parser.add_argument("--wave", type=int, default=2000, help="broadcast rows; 0: no wave")
    parser.add_argument("--wave-workers", type=int, default=4)
    args = parser.parse_args()

    name = f"cdht_bench_workers_{uuid.uuid4().hex[:8]}"
    db_url = await create_database(args.postgres, name)
    results: dict[str, Any] = {
        "database": "PostgreSQL (a database of its own)",
        "citizens": args.citizens,
        "rate_limit": args.rate_limit,
        "load_average_before": os.getloadavg(),
    }
    try:
        env = {**os.environ, "DATABASE_URL": db_url}
        upgrade = [str(Path(sys.executable).with_name("cdht")), "db", "upgrade"]
        await asyncio.to_thread(subprocess.run, upgrade, env=env, check=True, cwd=ROOT)
        engine = make_engine(db_url)
        async with unit_of_work(make_sessions(engine)) as s:
            await rp.add_unit(session=s, code="THON1", name="Thôn Bình Vọng")
        await engine.dispose()
        with tempfile.TemporaryDirectory() as tmp, emulator() as (api, api_pid):
            folder = Path(tmp)
            limit = {"RATE_LIMIT": "true" if args.rate_limit else "false"}
            for round_no, count in enumerate(int(n) for n in args.workers.split(",")):
                # Each round: new citizens, who register as in the first round.
                envs = [
                    worker_env(db_url, api, args.redis, FIRST_PORT + i, count, folder, **limit) for i in range(count)
                ]
                with workers_running(count, envs) as procs:
                    named = {"driver": [os.getpid()], "emulator": [api_pid]}
                    named |= {f"worker {i + 1}": [p.pid] for i, p in enumerate(procs)}
                    ports = [int(e["WEBHOOK_PORT"]) for e in envs[:count]]
                    first = 100_000 * (round_no + 1)
                    figures = await webhook_load(api, ports, args.citizens, args.seconds, first, CpuMeter(named))
                results[f"webhooks_{count}_workers"] = figures
                print(json.dumps({f"{count} workers": figures}), flush=True)
            if args.wave:
                results[f"wave_{args.wave_workers}_workers"] = figures = await wave(
                    api, db_url, args.redis, args.wave, args.wave_workers, folder
                )
                print(json.dumps({"wave": figures}), flush=True)
    finally:
        await drop_database(args.postgres, name)
    results["load_average_after"] = os.getloadavg()
    print("{\n" + ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in results.items()) + "\n}")


if __name__ == "__main__":
    asyncio.run(main())
