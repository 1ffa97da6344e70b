"""How long one citizen update takes on Zalo end to end: many citizens type the whole self-assessment to the
real ZaloBot over HTTP against the fake Zalo Bot API on 127.0.0.1 (real database, real JPEG photos fetched
from the fake and checked), and the script prints updates per second and per-update latency percentiles,
then the Telegram figure of bench/citizen_journey.py measured in the same run on the same kind of database.

Not a test. Run from the project root:

    .venv/bin/python bench/zalo_journey.py                  # SQLite, in a temporary folder
    .venv/bin/python bench/zalo_journey.py --postgres       # PostgreSQL (CDHT_TEST_POSTGRES_URL), own schema
    .venv/bin/python bench/zalo_journey.py --citizens 50 --no-telegram

Latency of one Zalo update: from the call of ZaloBot.receive() (which records it in the inbox) to the moment
the fake recorded the last message of its reply. Citizens go one after another; each update is awaited
(receive, then drain) before the next is typed, as bench/citizen_journey.py does on Telegram.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PIL import Image

from bench import citizen_journey
from bench.citizen_journey import Figures, bench_database
from bot.zalo.runtime import ZaloBot
from tests.fakes.zalo_api import FakeZaloApi, SentItem, image_update, text_update
from tests.zalo.test_citizen_journey import make_bot

INDICATORS = 10
CHOICE = re.compile(r"<b>(\d+)\.</b> (.+)")


class TimedZaloApi(FakeZaloApi):
    """The fake Zalo Bot API, noting when it recorded each message the bot sent."""

    def __init__(self) -> None:
        super().__init__()
        self.recorded_at: list[float] = []

    def _record(self, item: SentItem) -> dict[str, Any]:
        self.recorded_at.append(time.perf_counter())
        return super()._record(item)


class Citizen:
    """One Zalo user typing to the bot; every update is timed until its reply has reached the fake."""

    def __init__(self, bot: ZaloBot, api: TimedZaloApi, user_id: str, latencies: dict[str, list[float]]) -> None:
        self.bot, self.api, self.id, self.latencies = bot, api, user_id, latencies  # by event kind

    async def send(self, raw: dict[str, Any]) -> str:
        seen = len(self.api.sent)
        start = time.perf_counter()
        await self.bot.receive(raw)
        await self.bot.drain()
        replies = self.api.sent[seen:]
        if not replies:
            raise RuntimeError(f"no reply to {raw['event_name']} of {self.id}")
        self.latencies.setdefault(raw["event_name"], []).append(self.api.recorded_at[-1] - start)
        return "\n".join(r.text or "" for r in replies)

    async def say(self, message: str) -> str:
        return await self.send(text_update(message, user_id=self.id, display_name="Nguyễn Văn Bình"))

    async def photo(self, content: bytes) -> str:
        return await self.send(image_update(self.api.add_photo(content), user_id=self.id))


def number_of(screen: str, label: str) -> str:
    """The number a citizen types for the choice whose label contains ``label`` (the last list shown)."""
    found = [n for n, shown in CHOICE.findall(screen) if label in shown]
    if not found:
        raise RuntimeError(f"no choice {label!r} in {screen!r}")
    return found[-1]


def photo(width: int, height: int, seed: int) -> bytes:
    """A real JPEG the size of a phone photo (~160 kB at 1280x960): a tinted gradient with noise."""
    rnd = random.Random(seed)
    base = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    noise = Image.effect_noise((width, height), 20).convert("RGB")
    tint = Image.new("RGB", (width, height), (rnd.randrange(256), rnd.randrange(256), rnd.randrange(256)))
    picture = Image.blend(Image.blend(base, tint, 0.4), noise, 0.2)
    buf = io.BytesIO()
    picture.save(buf, "JPEG", quality=85)
    return buf.getvalue()


async def journey(citizen: Citizen, photos: list[bytes]) -> None:
    await citizen.say("Xin chào")
    await citizen.say("1")  # consent
    await citizen.say("Nguyễn Văn Bình")
    screen = await citizen.say("BENCH")  # the unit code
    screen = await citizen.say(number_of(screen, "Người dân trong cộng đồng"))
    for n in range(INDICATORS):
        await citizen.say(number_of(screen, "8 điểm"))
        receipt = await citizen.photo(photos[n])
        if "Đã lưu minh chứng" not in receipt:
            raise RuntimeError(f"photo not stored: {receipt!r}")
        screen = await citizen.say("xong")
    await citizen.say("nộp")
    result = await citizen.say("1")  # confirm
    if "80/100" not in result:
        raise RuntimeError(f"unexpected result: {result!r}")


def split(latencies: dict[str, list[float]]) -> str:
    """Median and p95 of each kind of update (text messages, photos)."""
    parts = []
    for event, values in sorted(latencies.items()):
        q = statistics.quantiles(values, n=100) if len(values) > 1 else values * 99
        parts.append(f"{event.split('.')[1]} ({len(values)}) median {q[49] * 1000:.1f} ms, p95 {q[94] * 1000:.1f} ms")
    return "; ".join(parts)


async def run(
    *, citizens: int = 20, postgres: bool = False, width: int = 1280, height: int = 960
) -> tuple[Figures, dict[str, list[float]]]:
    """Walks ``citizens`` Zalo users one after another through the journey on a new database; returns the
    figures and the latencies by kind of update."""
    latencies: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="cdht-bench-zalo-") as name:
        folder = Path(name)
        async with bench_database(folder, postgres=postgres) as sessions:
            # One photo per indicator, sent by every citizen: a duplicate is told by message id, not content.
            photos = [photo(width, height, n) for n in range(INDICATORS)]
            size = sum(len(p) for p in photos) / len(photos)
            print(f"zalo photos: {width}x{height} JPEG, {size / 1000:.0f} kB on average")
            async with TimedZaloApi() as api:
                bot = make_bot(api, sessions, folder / "evidence")
                try:
                    started = time.perf_counter()
                    for i in range(citizens):
                        await journey(Citizen(bot, api, f"{20_000 + i:020x}", latencies), photos)
                    elapsed = time.perf_counter() - started
                finally:
                    await bot.close()
    every = [v for values in latencies.values() for v in values]
    return Figures("postgresql" if postgres else "sqlite", citizens, every, elapsed), latencies


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--citizens", type=int, default=20)
    parser.add_argument("--postgres", action="store_true", help="use CDHT_TEST_POSTGRES_URL instead of SQLite")
    parser.add_argument("--photo", default="1280x960", help="size of each evidence photo, WIDTHxHEIGHT")
    parser.add_argument("--no-telegram", action="store_true", help="skip the Telegram figure")
    args = parser.parse_args()
    try:
        width, height = (int(v) for v in args.photo.lower().split("x"))
    except ValueError:
        parser.error("--photo takes WIDTHxHEIGHT, for example 1280x960")
    zalo, by_kind = await run(citizens=args.citizens, postgres=args.postgres, width=width, height=height)
    print("Zalo (typed journey over HTTP to the fake Zalo Bot API; latency: receive() to the reply at the fake)")
    print("\n".join(f"  {line}" for line in zalo.lines()))
    print(f"  by kind: {split(by_kind)}")
    if not args.no_telegram:
        telegram = await citizen_journey.run(citizens=args.citizens, postgres=args.postgres)
        print("Telegram (bench/citizen_journey.py, same run; latency: process_update() of one update)")
        print("\n".join(f"  {line}" for line in telegram.lines()))


if __name__ == "__main__":
    asyncio.run(main())
