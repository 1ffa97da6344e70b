"""The evidence reader's cost and accuracy on generated certificates (tests/bot/certificates.py) read by the real
Tesseract (vie).

- accuracy: each certificate in several takes (clean, re-compressed, slightly blurred, half as bright, a phone's
  2,400-pixel size) read and interpreted as the worker does: dates found / dates printed, flags that should not
  be there, and whether dark and blurred takes are caught;
- throughput: files read a second by one process's worker with READER_WORKERS=1 and 2 (a batch at a time,
  claims and stores included);
- the update path: latency of citizens' updates (bench/updates.py's journey, open loop: each person acts every
  2 s) with 500 photos waiting, the reader switched on and off every 10 s in the same run (the machine is
  shared: alternating keeps others' load out of the comparison). The issue's bar: within 2x of the reader off.

Not a test. Run from the project root:

    .venv/bin/python bench/reader.py                  # SQLite file in a temporary folder
    .venv/bin/python bench/reader.py --postgres       # PostgreSQL (CDHT_TEST_POSTGRES_URL), own schema
    .venv/bin/python bench/reader.py --only accuracy  # or throughput, updates
"""

from __future__ import annotations

import argparse
import asyncio
import io
import itertools
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PIL import Image

from bench.citizen_journey import bench_database
from bench.updates import TOKEN, BenchApi, Citizen, Feeder, Run, TimedProcessor
from bot import evidence_reader as er
from bot.app import build_application
from conversations import evidence_facts as ef
from conversations.criteria import default_registry
from storage import repo_evidence_reading as rer
from storage.db import Sessions, unit_of_work
from storage.models import Assessment, Evidence, Person
from tests.bot.certificates import SET, as_jpeg, blurred, darkened, draw
from tests.bot.harness import Clock, make_settings

JUNE = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)
YEAR = 2026
# The indicator of Phụ lục I each certificate in SET is sent for (its right one).
INDICATORS = (5, 1, 9, 10, 6, 7)


def takes(image: Image.Image) -> dict[str, Image.Image]:
    """A certificate as citizens' phones might give it; all should read."""
    big = image.resize((image.width * 2, image.height * 2))
    noise = Image.effect_noise(image.size, 40).convert("RGB")
    return {
        "tilted 3 deg": image.rotate(3, expand=True, fillcolor="white"),
        "grain": Image.blend(image, noise, 0.25),
        "clean": image,
        "jpeg q40": Image.open(io.BytesIO(as_jpeg(image, quality=40))),
        "blur r1": blurred(image, 1),
        "half bright": darkened(image, 0.5),
        "2400 px": big,
    }


def accuracy() -> None:
    registry = default_registry()
    present = found = false_flags = right_flags = missed_flags = 0
    caught = bad_takes = 0
    ocr_seconds: list[float] = []
    for cert, indicator in zip(SET, INDICATORS, strict=True):
        job = rer.Pending(0, 0, 0, indicator, "photo", "image/jpeg", "", JUNE, YEAR, "phu-luc-i", 1, cert.name)
        expected = [ef.OUTSIDE_YEAR] if all(not d.startswith(str(YEAR)) for d in cert.dates) else []
        image = draw(cert)
        for name, take in takes(image).items():
            started = time.perf_counter()
            raw = _read(take)
            ocr_seconds.append(time.perf_counter() - started)
            got = er.interpret(raw, job, registry)
            present += len(cert.dates)
            found += len(set(cert.dates) & set(got.dates))
            extra = [f for f in got.flags if f not in expected]
            false_flags += len(extra)
            right_flags += len([f for f in got.flags if f in expected])
            missed_flags += len([f for f in expected if f not in got.flags])
            if extra or set(cert.dates) - set(got.dates):
                print(f"  {cert.title} / {name}: dates {got.dates}, flags {got.flags}")
        for take in (blurred(image, 4), darkened(image, 0.12)):
            bad_takes += 1
            caught += er.measure(take).unreadable
    reads = len(ocr_seconds)
    print(f"accuracy on {reads} generated photos ({len(SET)} certificates x {reads // len(SET)} takes):")
    print(f"  dates found / printed: {found}/{present}")
    print(f"  expected flags raised: {right_flags}, missed: {missed_flags}; false flags: {false_flags}")
    print(f"  dark or blurred takes caught as unreadable: {caught}/{bad_takes}")
    print(f"  one photo read (OCR + measures), mean {statistics.mean(ocr_seconds):.2f} s")


def _read(image: Image.Image) -> er.Raw:
    with tempfile.NamedTemporaryFile(suffix=".jpg") as f:
        f.write(as_jpeg(image))
        f.flush()
        return er.read_file(Path(f.name), "image/jpeg")


async def seed_waiting(sessions: Sessions, evidence_dir: Path, count: int) -> None:
    """``count`` certificate photos (the generated set, in turn) waiting to be read, for one person each ten."""
    photos = [as_jpeg(draw(cert)) for cert in SET]
    async with unit_of_work(sessions) as s:
        for p in range(0, count, 10):
            person = Person(channel="telegram", external_id=f"w{p}", full_name="Nguyễn Văn An", step="ready")
            s.add(person)
            await s.flush()
            a = Assessment(person_id=person.id or 0, year=YEAR, pack_id="phu-luc-i", pack_version=1)
            s.add(a)
            await s.flush()
            for i in range(p, min(p + 10, count)):
                path = f"{YEAR}/{a.id}/{i}.jpg"
                (evidence_dir / path).parent.mkdir(parents=True, exist_ok=True)
                (evidence_dir / path).write_bytes(photos[i % len(photos)])
                s.add(
                    Evidence(
                        assessment_id=a.id or 0,
                        indicator=INDICATORS[i % len(INDICATORS)],
                        kind="photo",
                        file_id=f"w{i}",
                        file_unique_id=f"w{i}",
                        mime_type="image/jpeg",
                        size=1,
                        sha256=f"{i:064x}",
                        path=path,
                        created_at=JUNE,
                    )
                )


async def throughput(postgres: bool, files: int) -> None:
    for workers in (1, 2):
        folder = Path(tempfile.mkdtemp(prefix="cdht-bench-reader-"))
        async with bench_database(folder, postgres=postgres) as sessions:
            await seed_waiting(sessions, folder / "evidence", files)
            settings = make_settings(folder / "evidence", reader_workers=workers)
            reader = er.EvidenceReader(settings, sessions, default_registry(), clock=Clock(JUNE))
            with reader.processes():  # as in cdht run: child processes (their start is timed too)
                started = time.perf_counter()
                while await reader.round():
                    pass
                elapsed = time.perf_counter() - started
        rate = files / elapsed
        print(f"throughput, READER_WORKERS={workers}: {files} photos in {elapsed:.1f} s = {rate:.2f} photos/s")


class StampedFeeder(Feeder):
    """bench/updates.py's feeder, also noting when each update was sent (to file it under the phase it fell in)."""

    def __init__(self, *args: object) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self.stamped: list[tuple[float, float]] = []  # (sent at, latency)

    async def feed(self, data: dict[str, object]) -> None:
        sent = time.perf_counter()
        await super().feed(data)
        self.stamped.append((sent, time.perf_counter() - sent))


async def people(feeder: Feeder, api: BenchApi, citizens: int, seconds: float, pause: float) -> None:
    """``citizens`` people each acting every ``pause`` seconds for ``seconds`` (bench/updates.py's journey; one
    who finishes is followed by a new one)."""
    ids = itertools.count(20_000_000)
    deadline = time.perf_counter() + seconds

    async def lane() -> None:
        person = Citizen(feeder, api, next(ids))
        await asyncio.sleep(random.uniform(0, pause))
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            if not await person.step():
                person = Citizen(feeder, api, next(ids))
                continue
            await asyncio.sleep(max(0.0, started + pause - time.perf_counter()))

    await asyncio.gather(*(lane() for _ in range(citizens)))


async def updates(postgres: bool, waiting: int, citizens: int, seconds: float, phase: float) -> None:
    """One bot under a steady load; the reader is switched on and off every ``phase`` seconds (off first), so
    both states see the same machine (others share it) and the same database; updates are filed by phase."""
    folder = Path(tempfile.mkdtemp(prefix="cdht-bench-reader-"))
    async with bench_database(folder, postgres=postgres) as sessions:
        await seed_waiting(sessions, folder / "evidence", waiting)
        api = BenchApi()
        settings = make_settings(folder / "evidence", bot_token=TOKEN, concurrent_updates=8)
        processor = TimedProcessor(8)
        app = build_application(settings, sessions, request=api, clock=Clock(JUNE), processor=processor)
        reader = er.EvidenceReader(settings, sessions, default_registry(), clock=Clock(JUNE))
        run = Run()
        feeder = StampedFeeder(app, processor, run)
        await app.initialize()
        await app.start()
        phases: list[tuple[float, bool | None]] = []  # (start, reading); None: the warm-up, not counted

        async def switch() -> None:
            with reader.processes():  # the children start once, as in cdht run
                phases.append((time.perf_counter(), None))  # everyone registers at once: the busiest seconds
                await asyncio.sleep(phase)
                deadline = time.perf_counter() + seconds
                reading = False
                while time.perf_counter() < deadline:
                    phases.append((time.perf_counter(), reading))
                    stop = asyncio.Event()
                    task = asyncio.create_task(reader._loop(stop)) if reading else None
                    await asyncio.sleep(phase)
                    stop.set()
                    if task is not None:
                        await task  # the reading under way ends first
                    reading = not reading

        started = time.perf_counter()
        await asyncio.gather(switch(), people(feeder, api, citizens, seconds + phase, 2.0))
        run.elapsed = time.perf_counter() - started
        await app.stop()
        await app.shutdown()
    by_state: dict[bool | None, Run] = {None: Run(), False: Run(), True: Run()}
    bounds = [*phases, (float("inf"), False)]
    for sent, latency in feeder.stamped:
        state = next(r for (s0, r), (s1, _) in itertools.pairwise(bounds) if s0 <= sent < s1)
        by_state[state].latencies.append(latency)
        by_state[state].handled += 1
    for state in by_state.values():
        state.elapsed = seconds / 2
    idle, busy = by_state[False], by_state[True]
    print(
        f"update latency, {citizens} citizens acting every 2 s for {seconds:.0f} s after {phase:.0f} s of warm-up, "
        f"{waiting} photos waiting, the reader switched every {phase:.0f} s:"
    )
    print("  " + idle.line("reader off    "))
    print("  " + busy.line("reader working") + f"; photos read: {reader.read}")
    for q, name in ((49, "p50"), (94, "p95")):
        a = statistics.quantiles(idle.latencies, n=100)[q]
        b = statistics.quantiles(busy.latencies, n=100)[q]
        print(f"  {name} ratio working/off: {b / a:.2f} ({'within' if b <= 2 * a else 'OVER'} 2x)")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--only", choices=("accuracy", "throughput", "updates"))
    parser.add_argument("--files", type=int, default=40, help="photos read for the throughput figure")
    parser.add_argument("--waiting", type=int, default=500)
    parser.add_argument("--citizens", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--phase", type=float, default=10, help="seconds between switching the reader on and off")
    args = parser.parse_args()
    problem = er.tesseract_problem()
    if problem:
        sys.exit(problem)
    print(f"backend: {'postgresql' if args.postgres else 'sqlite'}")
    if args.only in (None, "accuracy"):
        accuracy()
    if args.only in (None, "throughput"):
        await throughput(args.postgres, args.files)
    if args.only in (None, "updates"):
        await updates(args.postgres, args.waiting, args.citizens, args.seconds, args.phase)


if __name__ == "__main__":
    asyncio.run(main())
