"""/export of a large province: wall time and peak memory of the streamed workbook, and how quickly small
database operations are answered while it is being built.

Not a test. Run from the project root:

    .venv/bin/python bench/export_large.py                      # 200,000 people, SQLite then PostgreSQL
    .venv/bin/python bench/export_large.py --people 50000 --backend sqlite
    .venv/bin/python bench/export_large.py --csv                # the two CSV files instead of the XLSX
    .venv/bin/python bench/export_large.py --keep --folder /tmp/x   # then --reuse --folder /tmp/x --repeat 3

Each backend gets a scratch database: a SQLite file in a temporary folder, or the PostgreSQL database
``cdht_bench_export`` on 127.0.0.1:5432 (trust auth; ``--postgres-admin`` names another server), created,
migrated and dropped by the script (``--keep`` keeps both and prints where; ``--reuse`` measures a kept one
again without seeding). Seeding streams generated rows: COPY on PostgreSQL, ``executemany`` on SQLite.

The export is measured in a child process of its own (``--measure``), so its peak resident memory (the
kernel's high-water mark, ``resource.getrusage(RUSAGE_SELF).ru_maxrss``: imports and all) is not the
seeder's. The child first times the small operation alone, then starts the export
(``reports.exports.build_export``, as ``/export`` calls it) and runs the same operation in a loop until the
export is done: a citizen-sized read (one person and their assessment of the year, one transaction) every
10 ms, plus the event loop's lag (how late a 5 ms sleep wakes up).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import sqlite3
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.seed import LEVELS, STATUSES  # the same province as bench/seed.py seeds

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
YEAR = 2026
NOW = datetime(2026, 11, 20, 3, tzinfo=UTC)
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_DATABASE = "cdht_bench_export"
FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô"]
MIDDLE = ["Văn", "Thị", "Hữu", "Đức", "Minh", "Thanh", "Ngọc", "Quang", "Thu", "Xuân"]
GIVEN = ["An", "Bình", "Chi", "Dũng", "Giang", "Hà", "Hải", "Hạnh", "Hùng", "Lan", "Linh", "Mai", "Nam", "Phúc"]
CHUNK = 20_000  # rows per COPY / executemany


# --------------------------------------------------------------------------- the province, as rows


@dataclass(frozen=True)
class Shape:
    people: int
    communes: int
    villages: int  # villages or schools per commune (every tenth a school)


Row = tuple[Any, ...]
# Column names per table, in the order the generator yields them; every other column takes its default.
COLUMNS: dict[str, tuple[str, ...]] = {
    "unit": ("id", "code", "name", "kind", "parent_id", "path", "headcount", "targets", "pack_overrides", "created_at"),
    "person": (
        "id", "channel", "external_id", "chat_id", "full_name", "unit_id", "locale", "consent_at", "step", "rev",
        "reminders", "created_at",
    ),
    "assessment": (
        "id", "person_id", "unit_id", "year", "group_code", "pack_id", "pack_version", "step", "indicator",
        "editing", "rev", "status", "returned_indicators", "submitted_at", "reviewed_at", "reviewed_by",
        "decision_no", "decision_date", "created_at", "updated_at",
    ),
    "answer": ("id", "assessment_id", "indicator", "chosen", "reviewer_points", "updated_at"),
    "evidence": (
        "id", "assessment_id", "indicator", "kind", "file_id", "file_unique_id", "mime_type", "size", "sha256",
        "path", "created_at",
    ),
}  # fmt: skip
JSON_COLUMNS = {"targets", "pack_overrides", "returned_indicators"}


def _at(day_of_year: int) -> datetime:
    return datetime(YEAR, 1, 1, 3, tzinfo=UTC) + timedelta(days=day_of_year)


def province(shape: Shape, seed: int = 7) -> Iterator[tuple[str, Row]]:
    """(table, row) for a province of ``shape``: units first, then each person followed by their assessment,
    answers and evidence. Each commune's first person is its reviewer (no assessment of their own)."""
    rnd = random.Random(seed)
    leaves = shape.communes * shape.villages
    per_leaf = max(1, shape.people // leaves)
    yield "unit", (1, "TINH", "Tỉnh Thử Nghiệm", "province", None, "/1/", 0, "{}", "{}", NOW)
    next_unit = 2
    pid = aid = ans_id = ev_id = 0
    weights = [w for _, w in STATUSES]
    for c in range(shape.communes):
        cid = next_unit
        next_unit += 1
        yield "unit", (cid, f"XA{c + 1:03d}", f"Xã số {c + 1}", "commune", 1, f"/1/{cid}/", 30, "{}", "{}", NOW)
        reviewer = None
        for v in range(shape.villages):
            vid = next_unit
            next_unit += 1
            school = v % 10 == 9
            kind = "learning" if school else "community"
            name = f"{'Trường' if school else 'Thôn'} {v + 1} xã {c + 1}"
            code = f"X{c + 1:03d}{'T' if school else 'V'}{v + 1:02d}"
            path = f"/1/{cid}/{vid}/"
            yield "unit", (vid, code, name, kind, cid, path, int(per_leaf * 1.6), "{}", "{}", NOW)
            pack = "phu-luc-iv" if school else "phu-luc-i"
            for _ in range(per_leaf):
                pid += 1
                full_name = f"{rnd.choice(FAMILY)} {rnd.choice(MIDDLE)} {rnd.choice(GIVEN)} {pid}"
                ext = str(10_000_000 + pid)
                consent = _at(rnd.randrange(0, 60))
                yield "person", (pid, "telegram", ext, ext, full_name, vid, "vi", consent, "ready", 0, True, NOW)
                if reviewer is None:
                    reviewer = pid
                    continue
                status = rnd.choices([s for s, _ in STATUSES], weights)[0]
                if status is None:
                    continue
                aid += 1
                handed_in = status not in ("draft", "draft-empty")
                reviewed = status in ("reviewed", "recognised", "not_recognised")
                recognised = status == "recognised"
                yield "assessment", (
                    aid, pid, vid, YEAR, "community", pack, 1, "level", 0, False, 0,
                    "draft" if status == "draft-empty" else status, "[]",
                    _at(rnd.randrange(30, 320)) if handed_in else None,
                    _at(rnd.randrange(200, 330)) if reviewed else None,
                    reviewer if reviewed else None,
                    f"{rnd.randrange(1, 99)}/QĐ-UBND" if recognised else None,
                    _at(rnd.randrange(200, 330)) if recognised else None,
                    NOW, NOW,
                )  # fmt: skip
                count = 0 if status == "draft-empty" else 3 if status == "draft" else 10
                for n in range(1, count + 1):
                    ans_id += 1
                    chosen = 10 if recognised and rnd.random() < 0.7 else rnd.choice(LEVELS)
                    points = rnd.choice([5, 8]) if status in ("reviewed", "not_recognised") and n == 5 else None
                    yield "answer", (ans_id, aid, n, chosen, points, NOW)
                    if rnd.random() < 0.9:
                        ev_id += 1
                        yield "evidence", (
                            ev_id, aid, n, "photo", f"f{ev_id}", f"u{ev_id}", "image/jpeg", 1000, "0" * 64,
                            f"e/{ev_id}", NOW,
                        )  # fmt: skip


def chunks(rows: Iterator[tuple[str, Row]]) -> Iterator[tuple[str, list[Row]]]:
    """Rows grouped per table in chunks of up to CHUNK, in an order that keeps every foreign key satisfied
    (a table's chunk is flushed before any later table's once it is full, and all are flushed at the end in
    table order)."""
    order = list(COLUMNS)
    pending: dict[str, list[Row]] = {t: [] for t in order}
    for table, row in rows:
        pending[table].append(row)
        if len(pending[table]) >= CHUNK:
            for t in order[: order.index(table) + 1]:  # parents first
                if pending[t]:
                    yield t, pending[t]
                    pending[t] = []
    for t in order:
        if pending[t]:
            yield t, pending[t]


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):  # SQLAlchemy's SQLite DATETIME storage format, naive UTC
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, bool):
        return int(value)
    return value


def seed_sqlite(path: Path, shape: Shape) -> dict[str, int]:
    counts = dict.fromkeys(COLUMNS, 0)
    db = sqlite3.connect(path)
    db.execute("PRAGMA synchronous = OFF")  # a scratch file: no need to wait for the disk
    try:
        with db:
            for table, rows in chunks(province(shape)):
                cols = COLUMNS[table]
                sql = f'INSERT INTO "{table}" ({", ".join(cols)}) VALUES ({", ".join("?" * len(cols))})'
                db.executemany(sql, [tuple(_sqlite_value(v) for v in r) for r in rows])
                counts[table] += len(rows)
        db.execute("ANALYZE")
    finally:
        db.close()
    return counts


async def seed_postgres(url: str, shape: Shape) -> dict[str, int]:
    import asyncpg

    counts = dict.fromkeys(COLUMNS, 0)
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        # The rows are consistent by construction: skip the per-row foreign-key triggers (needs a superuser).
        await conn.execute("SET session_replication_role = replica")
        async with conn.transaction():
            for table, rows in chunks(province(shape)):
                await conn.copy_records_to_table(table, records=rows, columns=list(COLUMNS[table]))
                counts[table] += len(rows)
        for table in COLUMNS:  # the ids were given: move each sequence past them
            sequence = f"pg_get_serial_sequence('{table}', 'id')"
            await conn.execute(f"SELECT setval({sequence}, coalesce(max(id), 1)) FROM {table}")
        await conn.execute("VACUUM ANALYZE")  # as autovacuum leaves a table that has settled (index-only scans)
    finally:
        await conn.close()
    return counts


async def rebuild_counters(url: str) -> None:
    from conversations.criteria import default_registry
    from storage import tally_counters
    from storage.db import make_engine, make_sessions

    engine = make_engine(url)
    async with make_sessions(engine)() as session, session.begin():
        await tally_counters.rebuild(session, default_registry())
    await engine.dispose()


# --------------------------------------------------------------------------- scratch databases


@asynccontextmanager
async def scratch(backend: str, folder: Path, *, keep: bool, reuse: bool, admin: str) -> AsyncIterator[str]:
    """The URL of a migrated scratch database, dropped at the end unless ``keep``."""
    from sqlalchemy import text

    from storage.db import make_engine, upgrade

    if backend == "sqlite":
        path = folder / "export.db"
        if not reuse and path.exists():
            path.unlink()
        url = f"sqlite:///{path}"
    else:
        server = make_engine(admin).execution_options(isolation_level="AUTOCOMMIT")
        if not reuse:
            async with server.connect() as conn:
                await conn.execute(text(f"DROP DATABASE IF EXISTS {PG_DATABASE}"))
                await conn.execute(text(f"CREATE DATABASE {PG_DATABASE}"))
        url = admin.rsplit("/", 1)[0] + f"/{PG_DATABASE}"
    engine = make_engine(url)
    await upgrade(engine)
    await engine.dispose()
    try:
        yield url
    finally:
        if keep:
            print(f"  kept: {url}")
        elif backend == "sqlite":
            (folder / "export.db").unlink(missing_ok=True)
        else:
            async with server.connect() as conn:
                await conn.execute(text(f"DROP DATABASE IF EXISTS {PG_DATABASE}"))
        if backend != "sqlite":
            await server.dispose()


# --------------------------------------------------------------------------- the measurement (child process)


def _rss_mb() -> float:
    """This process's resident memory now (VmRSS), in MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _ms(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def measure(url: str, *, as_csv: bool) -> dict[str, Any]:
    """Times one export of TINH while a small operation runs in a loop; returns the figures."""
    from sqlalchemy import select

    from conversations.criteria import default_registry
    from reports import exports
    from storage import repo_reports as rr
    from storage.db import make_engine, make_sessions, unit_of_work
    from storage.models import Assessment, Person, Unit

    engine = make_engine(url)
    sessions = make_sessions(engine)
    registry = default_registry()
    async with unit_of_work(sessions) as s:
        unit = (await s.exec(select(Unit).where(Unit.code == "TINH"))).scalars().one()  # type: ignore[call-overload]
        people = (await s.exec(select(Person.id))).scalars().all()  # type: ignore[call-overload]
        started = time.perf_counter()
        await rr.tally(session=s, unit=unit, year=YEAR, registry=registry, zone=ZONE)
        tally_s = time.perf_counter() - started
    rnd = random.Random(1)

    async def small_operation() -> float:
        """A citizen-sized read: the person and their assessment of the year, in one transaction."""
        start = time.perf_counter()
        async with unit_of_work(sessions) as s:
            person = await s.get(Person, rnd.choice(people))
            assert person is not None
            stmt = select(Assessment).where(Assessment.person_id == person.id, Assessment.year == YEAR)
            (await s.exec(stmt)).first()
        return time.perf_counter() - start

    async def probe(until: Callable[[], bool], latencies: list[float], lags: list[float]) -> None:
        while not until():
            latencies.append(await small_operation())
            start = time.perf_counter()
            await asyncio.sleep(0.005)
            lags.append(max(0.0, time.perf_counter() - start - 0.005))
            await asyncio.sleep(0.005)

    idle_lat: list[float] = []
    idle_lag: list[float] = []
    quiet_until = time.perf_counter() + 2
    await probe(lambda: time.perf_counter() > quiet_until, idle_lat, idle_lag)

    rss_before = _rss_mb()
    busy_lat: list[float] = []
    busy_lag: list[float] = []
    started = time.perf_counter()
    cpu_started = time.process_time()
    task = asyncio.create_task(
        exports.build_export(
            sessions, unit_id=unit.id, year=YEAR, registry=registry, zone=ZONE, locale="vi", now=NOW, as_csv=as_csv
        )
    )
    await probe(task.done, busy_lat, busy_lag)
    made = await task
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    await engine.dispose()
    return {
        "people": made.people,
        "bytes": sum(len(f.content) for f in made.files),
        "wall_s": wall,
        "cpu_s": cpu,
        "tally_s": tally_s,
        "rss_before_mb": rss_before,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "idle": {"n": len(idle_lat), "p50_ms": _ms(idle_lat, 0.5), "p99_ms": _ms(idle_lat, 0.99)},
        "during": {
            "n": len(busy_lat),
            "p50_ms": _ms(busy_lat, 0.5),
            "p99_ms": _ms(busy_lat, 0.99),
            "max_ms": max(busy_lat) * 1000,
            "lag_p50_ms": _ms(busy_lag, 0.5),
            "lag_p99_ms": _ms(busy_lag, 0.99),
        },
    }


def report_lines(backend: str, seeded: dict[str, int], seed_s: float, m: dict[str, Any], as_csv: bool) -> list[str]:
    d, idle = m["during"], m["idle"]
    kind = "2 CSV files" if as_csv else "XLSX"
    return [
        f"{backend}: seeded {', '.join(f'{n:,} {t}' for t, n in seeded.items())} in {seed_s:.1f} s",
        f"  export ({kind}): {m['people']:,} rows, {m['bytes'] / 1e6:.1f} MB, wall {m['wall_s']:.2f} s "
        f"(process CPU {m['cpu_s']:.2f} s; the tally alone before it {m['tally_s'] * 1000:.0f} ms)",
        f"  peak RSS {m['peak_rss_mb']:.0f} MB (ru_maxrss of the measuring process; {m['rss_before_mb']:.0f} MB "
        "before the export: interpreter, imports, engine)",
        f"  small operation alone:       n={idle['n']}, p50 {idle['p50_ms']:.1f} ms, p99 {idle['p99_ms']:.1f} ms",
        f"  small operation during it:   n={d['n']}, p50 {d['p50_ms']:.1f} ms, p99 {d['p99_ms']:.1f} ms, "
        f"max {d['max_ms']:.1f} ms; event-loop lag p50 {d['lag_p50_ms']:.1f} ms, p99 {d['lag_p99_ms']:.1f} ms",
    ]


# --------------------------------------------------------------------------- the run


async def run_backend(backend: str, args: argparse.Namespace, folder: Path) -> list[str]:
    shape = Shape(args.people, args.communes, args.villages)
    async with scratch(backend, folder, keep=args.keep, reuse=args.reuse, admin=args.postgres_admin) as url:
        started = time.perf_counter()
        seeded: dict[str, int] = {}
        if not args.reuse:
            if backend == "sqlite":
                seeded = seed_sqlite(folder / "export.db", shape)
            else:
                seeded = await seed_postgres(url, shape)
            await rebuild_counters(url)  # the rows went in around the code that keeps the tally counters
        seed_s = time.perf_counter() - started
        lines: list[str] = []
        walls: list[float] = []
        for run in range(args.repeat):
            child = await asyncio.create_subprocess_exec(
                sys.executable,
                __file__,
                "--measure",
                url,
                *(["--csv"] if args.csv else []),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            out, err = await child.communicate()
            if child.returncode != 0:
                raise SystemExit(f"the measuring process failed:\n{err.decode()}")
            figures = json.loads(out.decode().strip().splitlines()[-1])
            walls.append(figures["wall_s"])
            run_lines = report_lines(backend, seeded, seed_s, figures, args.csv)
            lines += run_lines if run == 0 else [f"  run {run + 1}, load {os.getloadavg()[0]:.1f}:", *run_lines[1:]]
        if args.repeat > 1:
            walls.sort()
            low, mid = walls[0], walls[len(walls) // 2]
            lines.append(f"  {backend}: wall over {len(walls)} runs: min {low:.2f} s, median {mid:.2f} s")
        return lines


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=200_000)
    parser.add_argument("--communes", type=int, default=100)
    parser.add_argument("--villages", type=int, default=10, help="villages or schools per commune")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--csv", action="store_true", help="measure the two CSV files instead of the XLSX")
    parser.add_argument("--repeat", type=int, default=1, help="measure the export this many times (fresh process each)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch databases")
    parser.add_argument("--reuse", action="store_true", help="measure kept databases again, without seeding")
    parser.add_argument("--folder", type=Path, help="where the SQLite file goes (default: a temporary folder)")
    parser.add_argument("--postgres-admin", default=PG_ADMIN, help="a database URL on the server to create it from")
    parser.add_argument("--measure", metavar="URL", help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(await measure(args.measure, as_csv=args.csv)))
        return
    print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, load average "
        f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}; {args.people:,} people"
    )
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    with tempfile.TemporaryDirectory(prefix="cdht-export-") as tmp:
        folder = args.folder or Path(tmp)
        for backend in backends:
            for line in await run_backend(backend, args, folder):
                print(line, flush=True)


if __name__ == "__main__":
    asyncio.run(main())
