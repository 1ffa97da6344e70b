"""How long one citizen update takes end to end: many citizens walk the whole self-assessment through the
real Application (fake Bot API transport, real database, real evidence files), and the script prints
updates per second and per-update latency percentiles.

Not a test. Run from the project root:

    .venv/bin/python bench/citizen_journey.py                # SQLite, in a temporary folder
    .venv/bin/python bench/citizen_journey.py --postgres     # PostgreSQL (CDHT_TEST_POSTGRES_URL), own schema
    .venv/bin/python bench/citizen_journey.py --citizens 50
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text

from storage import repo_people as rp
from storage.db import Sessions, checkpointing, make_engine, make_sessions, unit_of_work, upgrade
from tests.bot.harness import Harness, User

PG_URL = os.environ.get("CDHT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


class TimedUser(User):
    """A user whose every update is timed."""

    latencies: ClassVar[list[float]] = []

    async def _timed(self, coro) -> None:  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        await coro
        TimedUser.latencies.append(time.perf_counter() - start)

    async def say(self, message: str) -> None:
        await self._timed(super().say(message))

    async def press(self, data: str) -> None:
        await self._timed(super().press(data))

    async def photo(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        result = await super().photo(*args, **kwargs)
        TimedUser.latencies.append(time.perf_counter() - start)
        return result


async def journey(user: TimedUser) -> None:
    await user.say("/start BENCH")
    await user.press_label("Tôi đồng ý")
    await user.say("Nguyễn Văn Bình")
    await user.press_label("Người dân trong cộng đồng")
    for n in range(10):
        await user.press_label("8 điểm")
        await user.photo(f"evidence {user.id} {n}".encode() * 200)
        await user.press_label("Xong")
    await user.press_label("Nộp bản tự đánh giá")
    await user.press_label("Nộp")
    assert "80/100" in user.last_text(), user.last_text()


@dataclass
class Figures:
    """What one run measured: the latency of each update (seconds) and the wall time of the whole run."""

    backend: str
    citizens: int
    latencies: list[float]
    elapsed: float

    def lines(self) -> list[str]:
        lat = sorted(self.latencies)
        q = statistics.quantiles(lat, n=100)
        return [
            f"backend: {self.backend}",
            f"citizens: {self.citizens}, updates: {len(lat)}, wall time: {self.elapsed:.2f} s",
            f"updates per second (one process, sequential): {len(lat) / self.elapsed:.1f}",
            f"latency per update: median {q[49] * 1000:.1f} ms, p95 {q[94] * 1000:.1f} ms, max {lat[-1] * 1000:.1f} ms",
        ]


@asynccontextmanager
async def bench_database(folder: Path, *, postgres: bool) -> AsyncIterator[Sessions]:
    """A migrated database holding the unit BENCH: a SQLite file in ``folder``, or with ``postgres`` a schema of
    its own on PG_URL, dropped at the end. Shared by the journey benchmarks."""
    schema = f"cdht_bench_{uuid.uuid4().hex[:8]}" if postgres else None
    admin = make_engine(PG_URL) if schema else None
    if admin is not None:
        async with admin.begin() as conn:
            await conn.execute(text(f'create schema "{schema}"'))
    engine = make_engine(PG_URL, schema=schema) if schema else make_engine(f"sqlite:///{folder / 'bench.db'}")
    try:
        await upgrade(engine)
        sessions = make_sessions(engine)
        async with unit_of_work(sessions) as s:
            await rp.add_unit(session=s, code="BENCH", name="Thôn Bench")
        async with checkpointing(engine):  # as `cdht run` does
            yield sessions
    finally:
        await engine.dispose()
        if admin is not None:
            async with admin.begin() as conn:
                await conn.execute(text(f'drop schema if exists "{schema}" cascade'))
            await admin.dispose()


async def run(*, citizens: int = 20, postgres: bool = False) -> Figures:
    """Walks ``citizens`` people one after another through the journey on a new database; bench/zalo_journey.py
    calls it for the Telegram figure of its run."""
    TimedUser.latencies = []
    folder = Path(tempfile.mkdtemp(prefix="cdht-bench-"))
    async with bench_database(folder, postgres=postgres) as sessions:
        harness = await Harness.start(sessions, folder / "evidence")
        started = time.perf_counter()
        for i in range(citizens):
            await journey(TimedUser(harness, 10_000 + i))
        elapsed = time.perf_counter() - started
        await harness.stop()
    return Figures("postgresql" if postgres else "sqlite", citizens, TimedUser.latencies, elapsed)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--citizens", type=int, default=20)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    figures = await run(citizens=args.citizens, postgres=args.postgres)
    print("\n".join(figures.lines()))


if __name__ == "__main__":
    asyncio.run(main())
