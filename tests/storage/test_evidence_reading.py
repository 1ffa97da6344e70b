"""The evidence reader's queue: a file is claimed by one reader only, a dead reader's claim comes back after its
lease, results are stored with their hash bands, and a follow-up is owed once per file (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlmodel import col, select

from storage import repo_evidence_reading as rer
from storage.db import Sessions, unit_of_work
from storage.models import Assessment, Evidence, EvidenceReading, Outbox, Person

NOW = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
LEASE = timedelta(minutes=10)


async def seed_files(sessions: Sessions, n: int, *, name: str = "Nguyễn Văn An", external: str = "1") -> list[int]:
    """One person with one assessment of 2026 holding ``n`` photos for indicator 2; returns the files' ids."""
    async with unit_of_work(sessions) as s:
        person = Person(channel="telegram", external_id=external, full_name=name, step="ready")
        s.add(person)
        await s.flush()
        assert person.id is not None
        a = Assessment(person_id=person.id, year=2026, pack_id="phu-luc-i", pack_version=1)
        s.add(a)
        await s.flush()
        assert a.id is not None
        files = [
            Evidence(
                assessment_id=a.id,
                indicator=2,
                kind="photo",
                file_id=f"f{i}",
                file_unique_id=f"u{external}-{i}",
                mime_type="image/jpeg",
                size=10,
                sha256=f"{i:064x}",
                path=f"2026/{a.id}/{i}.jpg",
            )
            for i in range(n)
        ]
        s.add_all(files)
        await s.flush()
        return [f.id for f in files if f.id is not None]


async def claim(sessions: Sessions, limit: int, now: datetime = NOW) -> list[rer.Pending]:
    async with unit_of_work(sessions) as s:
        return await rer.claim(session=s, limit=limit, now=now, reader_version=1, lease=LEASE)


async def test_claims_are_disjoint_and_carry_what_reading_needs(sessions: Sessions) -> None:
    ids = await seed_files(sessions, 5)
    first = await claim(sessions, 3)
    second = await claim(sessions, 3)
    assert [p.evidence_id for p in first] == ids[:3]
    assert [p.evidence_id for p in second] == ids[3:]
    assert await claim(sessions, 3) == []
    p = first[0]
    assert (p.indicator, p.year, p.pack_id, p.full_name, p.kind) == (2, 2026, "phu-luc-i", "Nguyễn Văn An", "photo")
    async with sessions() as s:
        assert await rer.queue_size(session=s) == 5  # being read still counts
        assert await rer.readings(session=s, evidence_ids=ids) == {}  # claims are not results


async def test_concurrent_claims_never_share_a_file(sessions: Sessions) -> None:
    await seed_files(sessions, 12)
    got: list[int] = []
    for _ in range(4):  # each round: four readers at once; together they take every file exactly once
        batches = await asyncio.gather(*(claim(sessions, 4) for _ in range(4)))
        got += [p.evidence_id for b in batches for p in b]
    assert len(got) == len(set(got)) == 12


async def test_a_dead_readers_claim_comes_back_after_the_lease(sessions: Sessions) -> None:
    [only] = await seed_files(sessions, 1)
    assert [p.evidence_id for p in await claim(sessions, 5)] == [only]
    assert await claim(sessions, 5, NOW + LEASE / 2) == []
    assert [p.evidence_id for p in await claim(sessions, 5, NOW + LEASE * 2)] == [only]


async def test_store_keeps_the_result_and_its_hash_bands(sessions: Sessions) -> None:
    [only] = await seed_files(sessions, 1)
    await claim(sessions, 1)
    found = rer.Found(
        status=rer.READ,
        reader_version=1,
        text="ngày 12 tháng 5 năm 2026",
        dates=["2026-05-12"],
        name_found=True,
        matched_indicators=[2, 3],
        confidence=88.5,
        sharpness=900.0,
        brightness=200.0,
        phash="0123456789abcdef",
        phash_probes=["0123456789abcdef", "fedcba9876543210"],
        flags=[],
    )
    async with unit_of_work(sessions) as s:
        assert await rer.store(session=s, evidence_id=only, found=found, now=NOW)
    async with unit_of_work(sessions) as s:
        assert not await rer.store(session=s, evidence_id=only, found=found, now=NOW)  # no longer claimed
    async with sessions() as s:
        got = (await rer.readings(session=s, evidence_ids=[only]))[only]
        assert (got.phash_b0, got.phash_b1, got.phash_b2, got.phash_b3) == (0x0123, 0x4567, 0x89AB, 0xCDEF)
        assert got.phash_probes == ["0123456789abcdef", "fedcba9876543210"]
        assert got.dates == ["2026-05-12"] and got.matched_indicators == [2, 3] and got.status == "read"
        assert await rer.queue_size(session=s) == 0


async def test_a_released_claim_is_queued_again(sessions: Sessions) -> None:
    [only] = await seed_files(sessions, 1)
    await claim(sessions, 1)
    async with unit_of_work(sessions) as s:
        await rer.release(session=s, evidence_id=only)
    assert [p.evidence_id for p in await claim(sessions, 1)] == [only]


async def test_one_followup_per_person_and_never_twice_per_file(sessions: Sessions) -> None:
    mine = await seed_files(sessions, 3)
    theirs = await seed_files(sessions, 1, name="Trần Thị Bình", external="2")
    await claim(sessions, 10)
    for i in mine + theirs:
        async with unit_of_work(sessions) as s:
            await rer.store(session=s, evidence_id=i, found=rer.Found(status=rer.READ, reader_version=1), now=NOW)
    async with unit_of_work(sessions) as s:
        people = {p.external_id: p.id for p in (await s.exec(select(Person))).all()}
        flagged = [(people["1"], mine[0]), (people["1"], mine[2]), (people["2"], theirs[0])]
        owed = await rer.owe_followups(session=s, flagged=flagged, now=NOW)
    assert sorted(owed) == sorted([(people["1"], [mine[0], mine[2]]), (people["2"], [theirs[0]])])
    async with unit_of_work(sessions) as s:
        assert await rer.owe_followups(session=s, flagged=flagged, now=NOW + LEASE) == []
    async with sessions() as s:
        rows = (await s.exec(select(Outbox).order_by(col(Outbox.person_id)))).all()
        assert [(r.kind, r.payload["evidence_ids"]) for r in rows] == [
            (rer.FOLLOWUP_KIND, [mine[0], mine[2]]),
            (rer.FOLLOWUP_KIND, theirs),
        ]
        told = (await s.exec(select(EvidenceReading).where(col(EvidenceReading.notified_at).is_not(None)))).all()
        assert sorted(r.evidence_id for r in told) == sorted([mine[0], mine[2], theirs[0]])
