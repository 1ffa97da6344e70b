"""How long /tally and /export take on a province: seeds a large tree and times the real code paths.

Not a test. Run from the project root:

    .venv/bin/python bench/tally_large.py                 # SQLite, in a temporary folder
    .venv/bin/python bench/tally_large.py --postgres      # PostgreSQL (CDHT_TEST_POSTGRES_URL), own schema
    .venv/bin/python bench/tally_large.py --people 200000 --communes 100

Default tree: 1 province, 50 communes, 10 villages or schools per commune (every tenth a school), and 50,000
people spread over the villages and schools, ~90% with an assessment of the year in a mix of statuses, each
handed-in assessment with 10 answers and evidence. Rows are written with bulk INSERTs (explicit ids), so
the database is a throwaway one.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot import charts, exports
from conversations.criteria import default_registry
from storage import repo_reports as rr
from storage.db import make_engine, make_sessions, upgrade
from storage.models import Answer, Assessment, Evidence, Person, Unit

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
YEAR = 2026
NOW = datetime(2026, 11, 20, 3, tzinfo=UTC)
STATUSES = [  # (status, share of people)
    (None, 0.10),
    ("draft-empty", 0.08),
    ("draft", 0.12),
    ("submitted", 0.15),
    ("returned", 0.05),
    ("reviewed", 0.10),
    ("recognised", 0.33),
    ("not_recognised", 0.07),
]
LEVELS = [10, 10, 10, 8, 8, 5, 0]
BATCH = 5_000


def _at(day_of_year: int) -> datetime:
    return datetime(YEAR, 1, 1, tzinfo=UTC) + timedelta(days=day_of_year, hours=3)


def build(communes: int, villages: int, people: int, seed: int = 7) -> dict[str, list[dict[str, Any]]]:
    """Every row to insert, by table, with explicit ids."""
    rnd = random.Random(seed)
    now = NOW
    units = [
        dict(
            id=1,
            code="TINH",
            name="Tỉnh Thử Nghiệm",
            kind="province",
            parent_id=None,
            path="/1/",
            headcount=0,
            targets={},
            pack_overrides={},
            created_at=now,
        )
    ]
    leaves = []
    next_id = 2
    for c in range(communes):
        cid = next_id
        next_id += 1
        units.append(
            dict(
                id=cid,
                code=f"XA{c + 1:03d}",
                name=f"Xã số {c + 1}",
                kind="commune",
                parent_id=1,
                path=f"/1/{cid}/",
                headcount=30,
                targets={},
                pack_overrides={},
                created_at=now,
            )
        )
        for v in range(villages):
            vid = next_id
            next_id += 1
            school = v % 10 == 9
            units.append(
                dict(
                    id=vid,
                    code=f"X{c + 1:03d}{'T' if school else 'V'}{v + 1:02d}",
                    name=f"{'Trường' if school else 'Thôn'} {v + 1} xã {c + 1}",
                    kind="learning" if school else "community",
                    parent_id=cid,
                    path=f"/1/{cid}/{vid}/",
                    headcount=0,
                    targets={},
                    pack_overrides={},
                    created_at=now,
                )
            )
            leaves.append(units[-1])
    per_leaf = max(1, people // len(leaves))
    persons, assessments, answers, evidence = [], [], [], []
    pid = aid = ans_id = ev_id = 0
    weights = [w for _, w in STATUSES]
    for leaf in leaves:
        leaf["headcount"] = int(per_leaf * 1.6)  # the list of members is longer than those who registered
        pack = "phu-luc-iv" if leaf["kind"] == "learning" else "phu-luc-i"
        for _ in range(per_leaf):
            pid += 1
            persons.append(
                dict(
                    id=pid,
                    channel="telegram",
                    external_id=str(10_000_000 + pid),
                    chat_id=str(10_000_000 + pid),
                    full_name=f"Người dùng {pid}",
                    unit_id=leaf["id"],
                    locale="vi",
                    consent_at=_at(rnd.randrange(0, 60)),
                    step="ready",
                    rev=0,
                    reminders=True,
                    created_at=now,
                )
            )
            status = rnd.choices([s for s, _ in STATUSES], weights)[0]
            if status is None:
                continue
            aid += 1
            handed_in = status not in ("draft", "draft-empty")
            row = dict(
                id=aid,
                person_id=pid,
                unit_id=leaf["id"],
                year=YEAR,
                group_code="community",
                pack_id=pack,
                pack_version=1,
                step="level",
                indicator=0,
                editing=False,
                rev=0,
                status="draft" if status == "draft-empty" else status,
                returned_indicators=[],
                created_at=now,
                updated_at=now,
                submitted_at=_at(rnd.randrange(30, 320)) if handed_in else None,
                decision_no="15/QĐ-UBND" if status == "recognised" else None,
                decision_date=_at(rnd.randrange(200, 330)) if status == "recognised" else None,
            )
            assessments.append(row)
            count = 0 if status == "draft-empty" else 3 if status == "draft" else 10
            for n in range(1, count + 1):
                ans_id += 1
                chosen = 10 if status == "recognised" and rnd.random() < 0.7 else rnd.choice(LEVELS)
                reviewed = rnd.choice([5, 8]) if status in ("reviewed", "not_recognised") and n == 5 else None
                answers.append(
                    dict(
                        id=ans_id,
                        assessment_id=aid,
                        indicator=n,
                        chosen=chosen,
                        reviewer_points=reviewed,
                        updated_at=now,
                    )
                )
                if rnd.random() < 0.9:
                    ev_id += 1
                    evidence.append(
                        dict(
                            id=ev_id,
                            assessment_id=aid,
                            indicator=n,
                            kind="photo",
                            file_id=f"f{ev_id}",
                            file_unique_id=f"u{ev_id}",
                            mime_type="image/jpeg",
                            size=1000,
                            sha256="0" * 64,
                            path=f"e/{ev_id}",
                            created_at=now,
                        )
                    )
    return {"unit": units, "person": persons, "assessment": assessments, "answer": answers, "evidence": evidence}


async def seed(engine: Any, rows: dict[str, list[dict[str, Any]]]) -> None:
    tables = {"unit": Unit, "person": Person, "assessment": Assessment, "answer": Answer, "evidence": Evidence}
    async with engine.begin() as conn:
        for name, model in tables.items():
            table = model.__table__  # type: ignore[attr-defined]
            data = rows[name]
            for i in range(0, len(data), BATCH):
                await conn.execute(sa.insert(table), data[i : i + BATCH])
        if engine.dialect.name == "postgresql":
            await conn.execute(sa.text("analyze"))


async def timed(label: str, work: Callable[[], Awaitable[Any]], runs: int = 3) -> Any:
    """Runs ``work`` ``runs`` times (the first warms caches); prints the best and the first."""
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = await work()
        times.append(time.perf_counter() - start)
    print(f"  {label:<44} first {times[0] * 1000:8.1f} ms   best {min(times) * 1000:8.1f} ms")
    return result


async def bench(url: str, schema: str | None, args: argparse.Namespace) -> None:
    engine = make_engine(url, schema=schema)
    await upgrade(engine)
    start = time.perf_counter()
    rows = build(args.communes, args.villages, args.people)
    await seed(engine, rows)
    print(
        f"{engine.dialect.name}: seeded {', '.join(f'{len(v):,} {k}' for k, v in rows.items())} "
        f"in {time.perf_counter() - start:.1f} s"
    )
    sessions = make_sessions(engine)
    registry = default_registry()

    async def with_unit(code: str, fn: Callable[[Any, Unit], Awaitable[Any]]) -> Any:
        async with sessions() as s:
            unit = (await s.exec(sa.select(Unit).where(Unit.code == code))).scalars().one()  # type: ignore[call-overload]
            return await fn(s, unit)

    def tally_of(code: str) -> Callable[[], Awaitable[rr.Tally]]:
        return lambda: with_unit(
            code, lambda s, u: rr.tally(session=s, unit=u, year=YEAR, registry=registry, zone=ZONE)
        )

    t = await timed("/tally province (50 communes)", tally_of("TINH"))
    await timed("/tally one commune (10 villages)", tally_of("XA001"))
    await timed("/tally one village", tally_of("X001V01"))
    report = await timed(
        "/export province: read (tally + list)",
        lambda: with_unit(
            "TINH", lambda s, u: exports.gather(session=s, unit=u, year=YEAR, registry=registry, zone=ZONE, now=NOW)
        ),
        runs=2,
    )
    start = time.perf_counter()
    content = exports.xlsx(report, "vi", ZONE)
    print(
        f"  {'/export province: build XLSX':<44} {(time.perf_counter() - start) * 1000:8.1f} ms"
        f"   ({len(content) / 1e6:.1f} MB, {len(report.rows):,} rows)"
    )
    start = time.perf_counter()
    files = exports.csv_files(report, "vi", ZONE)
    print(
        f"  {'/export province: build CSV':<44} {(time.perf_counter() - start) * 1000:8.1f} ms"
        f"   ({sum(len(c) for _, c in files) / 1e6:.1f} MB)"
    )
    dist = await timed(
        "/chart province: distribution of totals",
        lambda: with_unit("TINH", lambda s, u: rr.totals_distribution(session=s, unit=u, year=YEAR)),
    )
    progress = await timed(
        "/chart province: monthly progress",
        lambda: with_unit("TINH", lambda s, u: rr.monthly_progress(session=s, unit=u, year=YEAR, zone=ZONE)),
    )
    start = time.perf_counter()
    pngs = charts.all_charts(t, dist, progress, unit="Tỉnh Thử Nghiệm", locale="vi")
    print(
        f"  {'/chart: draw 3 PNGs':<44} {(time.perf_counter() - start) * 1000:8.1f} ms"
        f"   ({sum(len(p) for _, p in pngs) / 1e3:.0f} kB)"
    )
    f = t.total
    print(
        f"  figures: headcount {f.headcount:,}, registered {f.registered:,}, in progress {f.in_progress:,}, "
        f"submitted {f.submitted:,}, returned {f.returned:,}, reviewed {f.reviewed:,}, "
        f"recognised {f.recognised:,} ({f.share_recognised:.1%} of headcount, target "
        f"{f.target_recognised:.1%}), not recognised {f.not_recognised:,}, digital {f.digital:,} "
        f"({f.share_digital:.1%}); weakest {[(i.number, round(i.average or 0, 2)) for i in t.weakest()]}"
    )
    await engine.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", action="store_true", help="use CDHT_TEST_POSTGRES_URL instead of SQLite")
    parser.add_argument("--communes", type=int, default=50)
    parser.add_argument("--villages", type=int, default=10, help="villages or schools per commune")
    parser.add_argument("--people", type=int, default=50_000)
    args = parser.parse_args()
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
