"""How long the duplicate search takes among 100,000 stored evidence hashes, and how far copies lie.

Not a test. Run from the project root:

    .venv/bin/python bench/duplicates.py                 # SQLite, seeded in a temporary folder
    .venv/bin/python bench/duplicates.py --postgres      # PostgreSQL (CDHT_TEST_POSTGRES_URL), own schema
    .venv/bin/python bench/duplicates.py --files 100000 --uniform

1. Distances (bot.evidence_hash): for generated certificates (tests/fakes/certificate_images.py), the bits
   between a copy (JPEG quality 30; 5, 8 and 10% cut off each edge) and the original's stored hash, from its
   best probe, both ways round; and the closest two different certificates come. This is what NEAR_BITS
   (storage.repo_duplicates) was chosen from.
2. The search: FILES evidence rows with their readings are seeded directly (10 files a person, people in 50
   villages), their hashes drawn around the hashes of 300 generated certificates (10–22 bits flipped: pictures
   of documents share much of their hash; ``--uniform`` draws them at random instead), plus one certificate and
   its copies. ``repo_duplicates.copies_of`` is timed for one file with its probes given, then as the card
   runs it (the probes stored with the reading), and the probes' own cost (decoding a 4000×2900 photo and
   hashing it, which the reader pays once) apart; the band rows each search fetched are
   counted, and on PostgreSQL the plan of the band probe is printed (index scans, no sequential scan).

``--preview [--postgres]``: the batch confirm's preview (``/confirmclean``) over 50 submissions of 10 photos each
(generated certificates at 1,280 px, what Telegram and Zalo deliver), timed through
``bot.handlers.batch_confirm.confirm_clean_command``: the first preview after start, then two more.

``--ocr --distances-only --certificates 200``: the look-alike pairs the hash alone calls copies, read with
Tesseract to see how many the dates and words still call copies (and that true copies stay copies).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from itertools import combinations
from pathlib import Path

import sqlalchemy as sa
from PIL import Image
from sqlalchemy.ext.asyncio import AsyncEngine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.evidence_hash import ImageHashes, file_hashes, hashes
from conversations.evidence_facts import find_dates, hamming, phash_bands
from storage import repo_duplicates as rd
from storage.db import make_engine, make_sessions, upgrade
from storage.models import Assessment, Evidence, EvidenceReading, Person, Unit
from tests.fakes.certificate_images import certificate, cropped, jpeg, recompressed

NOW = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
JSON_UNIT = {"targets": {}, "pack_overrides": {}}  # a core insert does not fill the models' defaults
COPIES = {
    "JPEG q30": lambda im: recompressed(im, 30),
    "cut 3%": lambda im: cropped(im, 0.03),
    "cut 5%": lambda im: cropped(im, 0.05),
    "cut 8% + q30": lambda im: recompressed(cropped(im, 0.08), 30),
    "cut 10%": lambda im: cropped(im, 0.10),
}


def best(query: ImageHashes, stored: ImageHashes) -> int:
    return min(hamming(p, stored.stored) for p in query.probes)


def distances(n: int, ocr: bool) -> None:
    pictures = [certificate(seed) for seed in range(n)]
    hashed = [hashes(p) for p in pictures]
    print(f"distances over {n} generated certificates (bits from the best probe; NEAR_BITS = {rd.NEAR_BITS})")
    for label, make in COPIES.items():
        copies = [hashes(make(p)) for p in pictures]
        there = [best(c, h) for c, h in zip(copies, hashed, strict=True)]
        back = [best(h, c) for c, h in zip(copies, hashed, strict=True)]
        print(f"  {label:14} copy searched: max {max(there)}  original searched: max {max(back)}")
    pairs = [(min(best(a, b), best(b, a)), i, j) for (i, a), (j, b) in combinations(enumerate(hashed), 2)]
    cross = sorted(d for d, _, _ in pairs)
    close = [(i, j) for d, i, j in pairs if d <= rd.NEAR_BITS]
    print(f"  different certificates: closest {cross[:5]}; {len(close)} of {len(cross)} pairs within NEAR_BITS")
    if ocr and close:
        import pytesseract  # the reader's OCR (Debian tesseract-ocr, tesseract-ocr-vie)

        read: dict[object, tuple[list[str], frozenset[str]]] = {}

        def facts(key: object, picture: Image.Image) -> tuple[list[str], frozenset[str]]:
            if key not in read:
                text = pytesseract.image_to_string(picture.convert("L"), lang="vie")
                read[key] = (find_dates(text), rd.words_of(text))
            return read[key]

        kept = sum(rd.same_document(*facts(i, pictures[i]), *facts(j, pictures[j])) for i, j in close)
        print(f"  of those, still copies by the dates and words OCR read on them: {kept}")
        copies_kept = total = 0
        for k in range(0, n, max(1, n // 10)):
            for label, make in COPIES.items():
                total += 1
                copies_kept += rd.same_document(*facts(k, pictures[k]), *facts((k, label), make(pictures[k])))
        print(f"  true copies kept by the dates and words: {copies_kept} of {total}")


def _hex(value: int) -> str:
    return f"{value:016x}"


def _drawn(bases: list[int], rng: random.Random, uniform: bool) -> str:
    if uniform:
        return _hex(rng.getrandbits(64))
    value = rng.choice(bases)
    for bit in rng.sample(range(64), rng.randint(10, 22)):
        value ^= 1 << bit
    return _hex(value)


async def seed(engine: AsyncEngine, files: int, uniform: bool, folder: Path) -> tuple[int, Path]:
    """FILES readings around certificate hashes; returns the id of the searched file and its path."""
    rng = random.Random(7)
    bases = [int(hashes(certificate(1000 + i)).stored, 16) for i in range(300)]
    people = files // 10
    t = time.perf_counter()
    async with engine.begin() as conn:
        await conn.execute(
            sa.insert(Unit.__table__), [{"id": 1, "code": "XA", "name": "Xã", "path": "/1/", **JSON_UNIT}]
        )
        await conn.execute(
            sa.insert(Unit.__table__),
            [
                {"id": 2 + v, "code": f"T{v}", "name": f"Thôn {v}", "path": f"/1/{2 + v}/", "parent_id": 1, **JSON_UNIT}
                for v in range(50)
            ],
        )
        for start in range(0, people, 5000):
            chunk = range(start, min(start + 5000, people))
            await conn.execute(
                sa.insert(Person.__table__),
                [{"id": p + 1, "channel": "telegram", "external_id": str(p), "full_name": f"Người {p}"} for p in chunk],
            )
            await conn.execute(
                sa.insert(Assessment.__table__),
                [
                    {
                        "id": p + 1,
                        "person_id": p + 1,
                        "unit_id": 2 + p % 50,
                        "year": 2026,
                        "status": "submitted",
                        "returned_indicators": [],
                    }
                    for p in chunk
                ],
            )
        for start in range(0, files, 5000):
            chunk = range(start, min(start + 5000, files))
            rows, readings = [], []
            for i in chunk:
                rows.append(
                    {
                        "id": i + 1,
                        "assessment_id": i // 10 + 1,
                        "indicator": i % 10 + 1,
                        "kind": "photo",
                        "file_id": f"f{i}",
                        "file_unique_id": f"u{i}",
                        "mime_type": "image/jpeg",
                        "size": 1,
                        "sha256": hashlib.sha256(str(i).encode()).hexdigest(),
                        "path": f"{i}.jpg",
                    }
                )
                phash = _drawn(bases, rng, uniform)
                b = phash_bands(phash)
                readings.append(
                    {
                        "evidence_id": i + 1,
                        "reader_version": 1,
                        "status": "read",
                        "dates": [],
                        "name_found": False,
                        "matched_indicators": [],
                        "flags": [],
                        "phash": phash,
                        "phash_b0": b[0],
                        "phash_b1": b[1],
                        "phash_b2": b[2],
                        "phash_b3": b[3],
                        "read_at": NOW,
                    }
                )
            await conn.execute(sa.insert(Evidence.__table__), rows)
            await conn.execute(sa.insert(EvidenceReading.__table__), readings)
        # The searched file (the last person's), and copies of it stored by three others.
        original = certificate(4242)
        searched_path = folder / "searched.jpg"
        searched_path.write_bytes(jpeg(original.resize((4000, 2900))))
        extra = [(files + 1, searched_path.read_bytes())] + [
            (files + 2 + k, jpeg(make(original))) for k, make in enumerate(COPIES.values())
        ]
        for evidence_id, data in extra:
            person = (evidence_id * 7) % people + 1
            hashed = hashes(Image.open(io.BytesIO(data)).convert("RGB"))
            phash = hashed.stored
            b = phash_bands(phash)
            await conn.execute(
                sa.insert(Evidence.__table__),
                [
                    {
                        "id": evidence_id,
                        "assessment_id": person if evidence_id != files + 1 else people,
                        "indicator": 3,
                        "kind": "photo",
                        "file_id": f"x{evidence_id}",
                        "file_unique_id": f"x{evidence_id}",
                        "mime_type": "image/jpeg",
                        "size": len(data),
                        "sha256": hashlib.sha256(data).hexdigest(),
                        "path": str(searched_path) if evidence_id == files + 1 else f"x{evidence_id}.jpg",
                    }
                ],
            )
            await conn.execute(
                sa.insert(EvidenceReading.__table__),
                [
                    {
                        "evidence_id": evidence_id,
                        "reader_version": 1,
                        "status": "read",
                        "dates": [],
                        "name_found": False,
                        "matched_indicators": [],
                        "flags": [],
                        "phash": phash,
                        "phash_b0": b[0],
                        "phash_b1": b[1],
                        "phash_b2": b[2],
                        "phash_b3": b[3],
                        "phash_probes": list(hashed.probes),  # as the reader stores them
                        "read_at": NOW,
                    }
                ],
            )
        if engine.dialect.name == "postgresql":
            for table in ("unit", "person", "assessment", "evidence", "evidence_reading"):
                await conn.execute(sa.text(f"analyze {table}"))
    print(f"seeded {files:,} files ({people:,} people) in {time.perf_counter() - t:.1f} s")
    return files + 1, searched_path


async def bench(url: str, schema: str | None, args: argparse.Namespace) -> None:
    engine = make_engine(url, schema=schema)
    await upgrade(engine)
    with tempfile.TemporaryDirectory() as folder:
        searched, path = await seed(engine, args.files, args.uniform, Path(folder))
        sessions = make_sessions(engine)

        cold = []
        for _ in range(args.runs):
            t = time.perf_counter()
            probes = file_hashes(path)
            cold.append(time.perf_counter() - t)
        assert probes is not None
        print(f"probes of a 4000×2900 JPEG, decoded and hashed: median {statistics.median(cold) * 1000:.1f} ms")

        values = rd.band_values((*probes.probes, probes.stored))
        print(f"band values probed: {sum(len(v) for v in values)} ({len(probes.probes)} probes, four bands each)")
        async with sessions() as s:
            cols = (
                EvidenceReading.phash_b0,
                EvidenceReading.phash_b1,
                EvidenceReading.phash_b2,
                EvidenceReading.phash_b3,
            )
            stmt = sa.select(sa.func.count()).where(
                sa.or_(*(c.in_(sorted(v)) for c, v in zip(cols, values, strict=True)))
            )
            fetched = (await s.exec(stmt)).one()[0]
            print(f"candidate rows a search fetches: {fetched}")
            if engine.dialect.name == "postgresql":
                probe = sa.select(EvidenceReading.evidence_id).where(
                    sa.or_(*(c.in_(sorted(v)) for c, v in zip(cols, values, strict=True)))
                )
                compiled = probe.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True})
                plan = (await s.exec(sa.text(f"explain {compiled}"))).all()
                print("plan of the band probe:")
                for row in plan:
                    print("   ", row[0])

        times, found = [], []
        for _ in range(args.runs):
            async with sessions() as s:
                t = time.perf_counter()
                copies = await rd.copies_of(session=s, evidence_ids=[searched], probes={searched: probes.probes})
                times.append(time.perf_counter() - t)
                found = copies.get(searched, [])
        print(
            f"copies_of one file among {args.files:,}: median {statistics.median(times) * 1000:.1f} ms, "
            f"max {max(times) * 1000:.1f} ms over {args.runs} runs; found {len(found)} copies "
            f"(bits {[c.bits for c in found]}; {len(COPIES)} planted)"
        )
        times = []
        for _ in range(args.runs):
            async with sessions() as s:
                t = time.perf_counter()
                copies = await rd.copies_of(session=s, evidence_ids=[searched])  # the card: stored probes only
                times.append(time.perf_counter() - t)
                found = copies.get(searched, [])
        print(
            f"the card's check (probes read from the reading, nothing decoded): median "
            f"{statistics.median(times) * 1000:.1f} ms, max {max(times) * 1000:.1f} ms; found {len(found)} copies"
        )

        # A batch confirm's check: every file of BATCH submitted files at once, each with 21 probes. The seeded
        # files are not on disk: their probes are drawn around their stored hash (cuts of a picture hash a few
        # bits to a dozen away from it), which is what the band lookups see.
        rng = random.Random(11)
        ids = list(range(1, args.batch + 1))
        async with sessions() as s:
            rows = (
                await s.exec(
                    sa.select(EvidenceReading.evidence_id, EvidenceReading.phash).where(
                        EvidenceReading.evidence_id.in_(ids)
                    )
                )
            ).all()
        probes_of = {}
        for evidence_id, phash in rows:
            value = int(phash, 16)
            drawn = [phash]
            for _ in range(20):
                v = value
                for bit in rng.sample(range(64), rng.randint(4, 14)):
                    v ^= 1 << bit
                drawn.append(_hex(v))
            probes_of[evidence_id] = drawn
        t = time.perf_counter()
        async with sessions() as s:
            found_all = await rd.copies_of(session=s, evidence_ids=ids, probes=probes_of)
        took = time.perf_counter() - t
        print(
            f"copies_of {args.batch:,} files at once (a batch confirm's check): {took:.2f} s "
            f"({took / args.batch * 1000:.1f} ms a file); {sum(map(len, found_all.values()))} copies found among them"
        )
    await engine.dispose()


async def preview(url: str, schema: str | None, args: argparse.Namespace) -> None:
    """/confirmclean over PREVIEW_PEOPLE submissions of 10 photos each, written as the reader leaves them."""
    from bot.handlers import batch_confirm
    from storage.db import unit_of_work
    from tests.bot.findings_desk import add_file, bot_data, reviewer, seed_units, submitted

    engine = make_engine(url, schema=schema)
    await upgrade(engine)
    sessions = make_sessions(engine)
    with tempfile.TemporaryDirectory() as folder:
        t = time.perf_counter()
        await seed_units(sessions)
        desk = await reviewer(sessions, "900", "XA1", "vi")
        for person in range(args.people):
            a = await submitted(sessions, f"Người {person}", "THON1")
            for n in range(1, 11):
                picture = certificate(5000 + person * 10 + n).resize((1280, 924))
                day = (date(2026, 1, 1) + timedelta(days=person * 10 + n)).isoformat()  # look-alikes: no date shared
                await add_file(sessions, Path(folder), a, n, jpeg(picture), dates=[day])
        print(f"seeded {args.people} submissions × 10 photos in {time.perf_counter() - t:.1f} s")
        data = bot_data(sessions, Path(folder))
        for run in range(3):
            t = time.perf_counter()
            plan = await batch_confirm.confirm_clean_command(data, desk, [])
            took = time.perf_counter() - t
            first = plan.screens[0].text.splitlines()[0] if plan.screens else ""
            print(f"preview {run + 1}: {took:.2f} s ({took / (args.people * 10) * 1000:.1f} ms a file) — {first}")
            async with unit_of_work(sessions) as s:
                await s.exec(sa.text("delete from officer_pending"))
    await engine.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", action="store_true", help="use CDHT_TEST_POSTGRES_URL instead of SQLite")
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--batch", type=int, default=2500, help="files checked at once, as a batch confirm does")
    parser.add_argument("--certificates", type=int, default=40, help="generated certificates for the distances")
    parser.add_argument("--uniform", action="store_true", help="stored hashes drawn at random")
    parser.add_argument(
        "--ocr", action="store_true", help="read the look-alikes with Tesseract: do dates/words part them?"
    )
    parser.add_argument("--distances-only", action="store_true", help="skip the database part")
    parser.add_argument("--preview", action="store_true", help="time /confirmclean's preview instead")
    parser.add_argument("--people", type=int, default=50, help="submissions of 10 photos the preview looks at")
    args = parser.parse_args()
    run = preview if args.preview else bench
    if not args.preview:
        distances(args.certificates, args.ocr)
    if args.distances_only:
        return
    if args.postgres:
        url = os.environ.get("CDHT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
        schema = f"cdht_bench_{uuid.uuid4().hex[:8]}"
        admin = make_engine(url)
        async with admin.begin() as conn:
            await conn.execute(sa.text(f'create schema "{schema}"'))
        try:
            await run(url, schema, args)
        finally:
            async with admin.begin() as conn:
                await conn.execute(sa.text(f'drop schema if exists "{schema}" cascade'))
            await admin.dispose()
        return
    with tempfile.TemporaryDirectory() as folder:
        await run(f"sqlite:///{folder}/bench.db", None, args)


if __name__ == "__main__":
    asyncio.run(main())
