"""How long /tally (and, asked for, /export and /chart) take on a province: times the real code paths.

Not a test. Run from the project root:

    .venv/bin/python bench/tally_large.py                 # SQLite, seeded in a temporary folder
    .venv/bin/python bench/tally_large.py --postgres      # PostgreSQL (CDHT_TEST_POSTGRES_URL), own schema
    .venv/bin/python bench/tally_large.py --people 200000 --communes 100 --rows --export

    # A province seeded once by bench/seed.py and kept (1,000,000 people: a few minutes to seed):
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/cdht_bench .venv/bin/python bench/tally_large.py --seeded

The tree is bench/seed.py's: one province TINH, communes XA001..., villages and schools X001V01...; the
tallies timed are the province, one commune and one village, read from the tally counters (``rr.tally``).
``--rows`` also times the same tallies counted from the rows (``rr.tally_from_rows``, what every tally did
before the counters) and checks both give the same figures; ``--export`` also times the export and charts.
Each roll-up is also timed as a bare query two ways, the subtree by path prefix (what ``rr.tally`` does) and
through an ancestor table built for the purpose, the comparison that chose the first.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from seed import Shape, seed  # bench/seed.py

from conversations.criteria import default_registry
from reports import charts, exports
from storage import repo_reports as rr
from storage.db import make_engine, make_sessions
from storage.models import Unit

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
NOW = datetime(2026, 11, 20, 3, tzinfo=UTC)


async def timed(label: str, work: Callable[[], Awaitable[Any]], runs: int = 5) -> Any:
    """Runs ``work`` ``runs`` times (the first warms caches); prints the first, the median and the best."""
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = await work()
        times.append(time.perf_counter() - start)
    ordered = sorted(times)
    print(
        f"  {label:<46} first {times[0] * 1000:8.1f} ms   median {ordered[len(ordered) // 2] * 1000:8.1f} ms"
        f"   best {ordered[0] * 1000:8.1f} ms"
    )
    return result


async def roll_up_queries(engine: Any, codes: list[str], year: int) -> None:
    """The subtree sum as bare SQL: by path prefix (rr.tally's way) against an ancestor table (built here, in
    a temporary table, only to compare)."""
    pg = engine.dialect.name == "postgresql"
    find = "strpos" if pg else "instr"
    async with engine.connect() as conn:
        await conn.execute(sa.text("CREATE TEMPORARY TABLE unit_ancestor (ancestor_id int, unit_id int)"))
        await conn.execute(
            sa.text(
                "INSERT INTO unit_ancestor SELECT a.id, u.id FROM unit a JOIN unit u "
                "ON substr(u.path, 1, length(a.path)) = a.path"
            )
        )
        await conn.execute(sa.text("CREATE UNIQUE INDEX ix_unit_ancestor ON unit_ancestor (ancestor_id, unit_id)"))
        await conn.execute(sa.text("ANALYZE unit_ancestor" if pg else "ANALYZE"))
        await conn.commit()
        for code in codes:
            path, uid = (await conn.execute(sa.text("SELECT path, id FROM unit WHERE code = :c"), {"c": code})).one()
            n = len(path)
            years = f"(c.year = {year} OR (c.figure = 'joined' AND c.year < {year}))"
            by_path = sa.text(
                f"SELECT substr(u.path, 1, {n} + {find}(substr(u.path, {n + 1}), '/')) AS root, c.figure, sum(c.n) "
                f"FROM tally_count c JOIN unit u ON u.id = c.unit_id WHERE u.path LIKE :p AND {years} GROUP BY 1, 2"
            )
            by_table = sa.text(
                "SELECT x.ancestor_id, c.figure, sum(c.n) FROM unit_ancestor x JOIN tally_count c "
                "ON c.unit_id = x.unit_id WHERE x.ancestor_id IN "
                f"(SELECT id FROM unit WHERE id = {uid} OR parent_id = {uid}) AND {years} GROUP BY 1, 2"
            )

            async def run(stmt: Any, params: dict[str, Any]) -> int:
                return len((await conn.execute(stmt, params)).all())

            prefix = {"p": f"{path}%"}
            a = await timed(f"roll-up {code}: path prefix (bare SQL)", lambda s=by_path, p=prefix: run(s, p))
            b = await timed(f"roll-up {code}: ancestor table (bare SQL)", lambda s=by_table: run(s, {}))
            print(f"    ({a} and {b} rows)")


async def bench(url: str, schema: str | None, args: argparse.Namespace) -> None:
    if not args.seeded:
        start = time.perf_counter()
        counts = await seed(url, Shape(args.people, args.communes, args.villages, args.year), schema=schema)
        seconds = time.perf_counter() - start
        print(f"seeded {', '.join(f'{n:,} {t}' for t, n in counts.items())} in {seconds:.1f} s")
    engine = make_engine(url, schema=schema)
    sessions = make_sessions(engine)
    registry = default_registry()
    year = args.year
    async with engine.connect() as conn:
        people = (await conn.execute(sa.text("SELECT count(*) FROM person"))).scalar()
        units = (await conn.execute(sa.text("SELECT count(*) FROM unit"))).scalar()
        counters = (await conn.execute(sa.text("SELECT count(*) FROM tally_count"))).scalar()
    print(f"{engine.dialect.name}: {people:,} people, {units:,} units, {counters:,} tally_count rows, year {year}")

    async def with_unit(code: str, fn: Callable[[Any, Unit], Awaitable[Any]]) -> Any:
        async with sessions() as s:
            unit = (await s.exec(sa.select(Unit).where(Unit.code == code))).scalars().one()  # type: ignore[call-overload]
            return await fn(s, unit)

    def tally_of(code: str, rows: bool = False) -> Callable[[], Awaitable[rr.Tally]]:
        how = rr.tally_from_rows if rows else rr.tally
        return lambda: with_unit(code, lambda s, u: how(session=s, unit=u, year=year, registry=registry, zone=ZONE))

    codes = ["TINH", "XA001", "X001V01"]
    labels = ["province", "one commune", "one village"]
    kept = []
    for code, label in zip(codes, labels, strict=True):
        kept.append(await timed(f"/tally {label} ({code}), counters", tally_of(code)))
    if args.rows:
        for code, label, t in zip(codes, labels, kept, strict=True):
            counted = await timed(f"/tally {label} ({code}), from the rows", tally_of(code, rows=True), runs=2)
            print(f"    same figures as the counters: {counted == t}")
    await roll_up_queries(engine, codes, year)
    t = kept[0]
    if args.export:
        report = await timed(
            "/export province: read (tally + list)",
            lambda: with_unit(
                "TINH",
                lambda s, u: exports.gather(session=s, unit=u, year=year, registry=registry, zone=ZONE, now=NOW),
            ),
            runs=2,
        )
        start = time.perf_counter()
        content = exports.xlsx(report, "vi", ZONE)
        took = (time.perf_counter() - start) * 1000
        print(f"  {'/export province: build XLSX':<46} {took:8.1f} ms ({len(content) / 1e6:.1f} MB)")
        dist = await timed(
            "/chart province: distribution of totals",
            lambda: with_unit("TINH", lambda s, u: rr.totals_distribution(session=s, unit=u, year=year)),
            runs=2,
        )
        progress = await timed(
            "/chart province: monthly progress",
            lambda: with_unit("TINH", lambda s, u: rr.monthly_progress(session=s, unit=u, year=year, zone=ZONE)),
            runs=2,
        )
        start = time.perf_counter()
        charts.all_charts(t, dist, progress, unit="Tỉnh Thử Nghiệm", locale="vi")
        print(f"  {'/chart: draw 3 PNGs':<46} {(time.perf_counter() - start) * 1000:8.1f} ms")
    f = t.total
    print(
        f"  figures: headcount {f.headcount:,}, registered {f.registered:,}, in progress {f.in_progress:,}, "
        f"submitted {f.submitted:,}, returned {f.returned:,}, reviewed {f.reviewed:,}, "
        f"recognised {f.recognised:,}, not recognised {f.not_recognised:,}, digital {f.digital:,}; "
        f"weakest {[(i.number, round(i.average or 0, 2)) for i in t.weakest()]}"
    )
    await engine.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", action="store_true", help="use CDHT_TEST_POSTGRES_URL instead of SQLite")
    parser.add_argument("--seeded", action="store_true", help="time DATABASE_URL as bench/seed.py left it")
    parser.add_argument("--communes", type=int, default=50)
    parser.add_argument("--villages", type=int, default=10, help="villages or schools per commune")
    parser.add_argument("--people", type=int, default=50_000)
    parser.add_argument("--year", type=int, default=2026)
    parser.add_argument("--rows", action="store_true", help="also count the tallies from the rows, and compare")
    parser.add_argument("--export", action="store_true", help="also time the export and the charts")
    args = parser.parse_args()
    if args.seeded:
        url = os.environ.get("DATABASE_URL")
        if not url:
            raise SystemExit("tally_large: --seeded times DATABASE_URL: set it (seeded by bench/seed.py)")
        await bench(url, None, args)
        return
    if args.postgres:
        url = os.environ.get("CDHT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
        schema = f"cdht_bench_{uuid.uuid4().hex[:8]}"
        admin = make_engine(url)
        async with admin.begin() as conn:
            await conn.execute(sa.text(f'create schema "{schema}"'))
        try:
            await bench(url, schema, args)
        finally:
            async with admin.begin() as conn:
                await conn.execute(sa.text(f'drop schema if exists "{schema}" cascade'))
            await admin.dispose()
        return
    with tempfile.TemporaryDirectory() as folder:
        await bench(f"sqlite:///{folder}/bench.db", None, args)


if __name__ == "__main__":
    asyncio.run(main())
