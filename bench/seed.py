"""Seeds a realistic province into DATABASE_URL and keeps it there: for measuring tallies (bench/tally_large.py
--seeded) and anything else at a size no test reaches.

Not a test. Run from the project root, on an empty database of its own:

    createdb -h 127.0.0.1 -U postgres cdht_bench
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/cdht_bench \
        .venv/bin/python bench/seed.py --people 1000000 --communes 100

The tree: one province TINH, ``--communes`` communes XA001..., each with ``--villages`` villages or schools
(every tenth a school: X001V01, X001T10 ...); the people spread evenly over the villages and schools, each with
a consent date this year or last, about 90% with an assessment of ``--year`` in a mix of statuses (handed-in ones
with 10 answers, ~90% evidenced) and a fifth with last year's too. Rows go in with COPY on PostgreSQL (asyncpg),
with batched INSERTs on SQLite, then the tally counters are counted from them (``cdht tally rebuild``) and the
planner's statistics refreshed. The database is migrated first; one that already holds units is refused.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from storage import tally_counters as tc
from storage.db import make_engine, make_sessions, normalise_url, unit_of_work, upgrade
from storage.models import Answer, Assessment, Evidence, Person, Unit

STATUSES = [  # (status of this year's assessment, share of people)
    (None, 0.10),
    ("draft-empty", 0.08),
    ("draft", 0.12),
    ("submitted", 0.15),
    ("returned", 0.05),
    ("reviewed", 0.10),
    ("recognised", 0.33),
    ("not_recognised", 0.07),
]
LAST_YEAR = [("recognised", 0.6), ("not_recognised", 0.1), ("expired", 0.3)]  # for a fifth of the people
LEVELS = [10, 10, 10, 8, 8, 5, 0]
BATCH = 20_000  # people per batch (with their assessments, answers and evidence)

COLUMNS: dict[str, tuple[str, ...]] = {
    "unit": ("id", "code", "name", "kind", "parent_id", "path", "headcount", "targets", "pack_overrides", "created_at"),
    "person": (
        "id",
        "channel",
        "external_id",
        "chat_id",
        "full_name",
        "unit_id",
        "locale",
        "consent_at",
        "step",
        "rev",
        "reminders",
        "created_at",
    ),
    "assessment": (
        "id",
        "person_id",
        "unit_id",
        "year",
        "group_code",
        "pack_id",
        "pack_version",
        "step",
        "indicator",
        "editing",
        "rev",
        "status",
        "returned_indicators",
        "submitted_at",
        "decision_no",
        "decision_date",
        "created_at",
        "updated_at",
    ),
    "answer": ("id", "assessment_id", "indicator", "chosen", "reviewer_points", "updated_at"),
    "evidence": (
        "id",
        "assessment_id",
        "indicator",
        "kind",
        "file_id",
        "file_unique_id",
        "mime_type",
        "size",
        "sha256",
        "path",
        "created_at",
    ),
}
MODELS = {"unit": Unit, "person": Person, "assessment": Assessment, "answer": Answer, "evidence": Evidence}
JSON_COLUMNS = {"targets", "pack_overrides", "returned_indicators"}
Row = tuple[Any, ...]


@dataclass(frozen=True)
class Shape:
    people: int
    communes: int
    villages: int
    year: int
    seed: int = 7


def _at(year: int, day: int) -> datetime:
    return datetime(year, 1, 1, tzinfo=UTC) + timedelta(days=day, hours=3)


def units(shape: Shape) -> tuple[list[Row], list[Row]]:
    """Every unit row, and the leaves (villages and schools) people belong to."""
    now = _at(shape.year, 0)
    rows: list[Row] = [(1, "TINH", "Tỉnh Thử Nghiệm", "province", None, "/1/", 0, "{}", "{}", now)]
    leaves = []
    next_id = 2
    per_leaf = max(1, shape.people // max(1, shape.communes * shape.villages))
    for c in range(shape.communes):
        cid = next_id
        next_id += 1
        rows.append((cid, f"XA{c + 1:03d}", f"Xã số {c + 1}", "commune", 1, f"/1/{cid}/", 30, "{}", "{}", now))
        for v in range(shape.villages):
            vid = next_id
            next_id += 1
            school = v % 10 == 9
            row = (
                vid,
                f"X{c + 1:03d}{'T' if school else 'V'}{v + 1:02d}",
                f"{'Trường' if school else 'Thôn'} {v + 1} xã {c + 1}",
                "learning" if school else "community",
                cid,
                f"/1/{cid}/{vid}/",
                int(per_leaf * 1.6),  # the list of members is longer than those who registered
                "{}",
                "{}",
                now,
            )
            rows.append(row)
            leaves.append(row)
    return rows, leaves


class Ids:
    def __init__(self) -> None:
        self.person = self.assessment = self.answer = self.evidence = 0


def people(shape: Shape, leaves: list[Row]) -> Iterator[dict[str, list[Row]]]:
    """Batches of rows by table, people first; ids are given here (the tables' sequences are set after)."""
    rnd = random.Random(shape.seed)
    ids = Ids()
    y = shape.year
    now = _at(y, 320)
    weights = [w for _, w in STATUSES]
    names = [s for s, _ in STATUSES]
    last_weights = [w for _, w in LAST_YEAR]
    last_names = [s for s, _ in LAST_YEAR]
    total = shape.people
    batch: dict[str, list[Row]] = {t: [] for t in ("person", "assessment", "answer", "evidence")}
    for i in range(total):
        leaf = leaves[i * len(leaves) // total]
        unit_id = leaf[0]
        pack = "phu-luc-iv" if leaf[3] == "learning" else "phu-luc-i"
        ids.person += 1
        pid = ids.person
        earlier = rnd.random() < 0.2
        consent = _at(y - 1, rnd.randrange(0, 300)) if earlier else _at(y, rnd.randrange(0, 200))
        external = str(10_000_000 + pid)
        person = (
            pid,
            "telegram",
            external,
            external,
            f"Người dùng {pid}",
            unit_id,
            "vi",
            consent,
            "ready",
            0,
            True,
            now,
        )
        batch["person"].append(person)
        if earlier:
            _assessment(rnd, ids, batch, pid, unit_id, pack, y - 1, rnd.choices(last_names, last_weights)[0])
        status = rnd.choices(names, weights)[0]
        if status is not None:
            _assessment(rnd, ids, batch, pid, unit_id, pack, y, status)
        if len(batch["person"]) >= BATCH:
            yield batch
            batch = {t: [] for t in batch}
    if batch["person"]:
        yield batch


def _assessment(
    rnd: random.Random, ids: Ids, batch: dict[str, list[Row]], pid: int, unit_id: int, pack: str, year: int, status: str
) -> None:
    ids.assessment += 1
    aid = ids.assessment
    handed_in = status not in ("draft", "draft-empty", "expired")
    at = _at(year, 330)
    batch["assessment"].append(
        (aid, pid, unit_id, year, "community", pack, 1, "level", 0, False, 0)
        + ("draft" if status == "draft-empty" else status, "[]")
        + (_at(year, rnd.randrange(30, 320)) if handed_in else None,)
        + (("15/QĐ-UBND", _at(year, rnd.randrange(200, 330))) if status == "recognised" else (None, None))
        + (at, at)
    )
    count = 0 if status == "draft-empty" else 3 if status in ("draft", "expired") else 10
    for n in range(1, count + 1):
        ids.answer += 1
        chosen = 10 if status == "recognised" and rnd.random() < 0.7 else rnd.choice(LEVELS)
        reviewed = rnd.choice((5, 8)) if status in ("reviewed", "not_recognised") and n == 5 else None
        batch["answer"].append((ids.answer, aid, n, chosen, reviewed, at))
        if rnd.random() < 0.9:
            ids.evidence += 1
            e = ids.evidence
            batch["evidence"].append((e, aid, n, "photo", f"f{e}", f"u{e}", "image/jpeg", 1000, "0" * 64, f"e/{e}", at))


# --------------------------------------------------------------------------- writing


async def _copy(url: str, schema: str | None, shape: Shape, unit_rows: list[Row], leaves: list[Row]) -> dict[str, int]:
    import asyncpg

    settings = {"search_path": schema} if schema else None
    conn = await asyncpg.connect(
        normalise_url(url).replace("postgresql+asyncpg://", "postgresql://"), server_settings=settings
    )
    counts = dict.fromkeys(COLUMNS, 0)
    try:
        # The rows are made consistent here: skip the foreign-key triggers, one per row and most of the time
        # (needs a superuser, as the trust-auth bench server gives; elsewhere the keys are checked).
        with contextlib.suppress(asyncpg.InsufficientPrivilegeError):
            await conn.execute("SET session_replication_role = replica")
        async with conn.transaction():
            await conn.copy_records_to_table("unit", records=unit_rows, columns=list(COLUMNS["unit"]))
            counts["unit"] = len(unit_rows)
            for batch in people(shape, leaves):
                for table, rows in batch.items():
                    await conn.copy_records_to_table(table, records=rows, columns=list(COLUMNS[table]))
                    counts[table] += len(rows)
            for table in COLUMNS:  # later inserts (the bot's) take ids after the seeded ones
                top = f"(SELECT coalesce(max(id), 1) FROM {table})"
                await conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {top})")
    finally:
        await conn.close()
    return counts


def _sqlite_value(column: str, value: Any) -> Any:
    return json.loads(value) if column in JSON_COLUMNS else value


async def _insert(engine: Any, shape: Shape, unit_rows: list[Row], leaves: list[Row]) -> dict[str, int]:
    counts = dict.fromkeys(COLUMNS, 0)

    async def put(conn: Any, table: str, rows: list[Row]) -> None:
        if not rows:
            return
        names = COLUMNS[table]
        data = [{c: _sqlite_value(c, v) for c, v in zip(names, row, strict=True)} for row in rows]
        await conn.execute(sa.insert(MODELS[table].__table__), data)  # type: ignore[attr-defined]
        counts[table] += len(rows)

    async with engine.begin() as conn:
        await put(conn, "unit", unit_rows)
        for batch in people(shape, leaves):
            for table, rows in batch.items():
                await put(conn, table, rows)
    return counts


async def seed(url: str, shape: Shape, *, schema: str | None = None) -> dict[str, int]:
    """Migrates the database at ``url``, writes the province and counts its tally counters; returns rows per
    table (and ``tally_count``)."""
    engine = make_engine(url, schema=schema)
    try:
        await upgrade(engine)
        async with engine.connect() as conn:
            if (await conn.execute(sa.text("SELECT count(*) FROM unit"))).scalar():
                raise SystemExit("seed: the database already holds units: seed an empty one (createdb cdht_bench)")
        unit_rows, leaves = units(shape)
        start = time.perf_counter()
        if engine.dialect.name == "postgresql":
            counts = await _copy(url, schema, shape, unit_rows, leaves)
        else:
            counts = await _insert(engine, shape, unit_rows, leaves)
        print(f"  rows written in {time.perf_counter() - start:.1f} s", file=sys.stderr)
        if engine.dialect.name == "postgresql":
            async with engine.connect() as conn:
                await conn.execute(sa.text("ANALYZE"))
        start = time.perf_counter()
        async with unit_of_work(make_sessions(engine)) as session:
            counts["tally_count"] = await tc.rebuild(session)
        print(f"  tally counters counted in {time.perf_counter() - start:.1f} s", file=sys.stderr)
        if engine.dialect.name == "postgresql":
            async with engine.connect() as conn:
                await conn.execute(sa.text("ANALYZE tally_count"))
        return counts
    finally:
        await engine.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=50_000)
    parser.add_argument("--communes", type=int, default=50)
    parser.add_argument("--villages", type=int, default=10, help="villages or schools per commune")
    parser.add_argument("--year", type=int, default=2026)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL")
    if not url:
        raise SystemExit("seed: set DATABASE_URL to an empty database of its own")
    start = time.perf_counter()
    counts = await seed(url, Shape(args.people, args.communes, args.villages, args.year, args.seed))
    print(
        f"seeded {', '.join(f'{n:,} {t}' for t, n in counts.items())} in {time.perf_counter() - start:.1f} s"
        f" ({args.people:,} people, {args.communes} communes x {args.villages}, year {args.year})"
    )


if __name__ == "__main__":
    asyncio.run(main())
