"""The evidence reader's queue and results (bot.evidence_reader reads; this module only keeps the rows).

A stored file with no ``evidence_reading`` row is waiting to be read. A reader *claims* a file by inserting
its row with status ``reading`` (insert-if-absent on the primary key), so of several processes only the one
whose insert lands reads it; the slow OCR runs outside any transaction, then ``store`` fills the row in.
A claim whose process died (still ``reading`` after ``lease``) is claimable again; ``read_at`` of a
``reading`` row is when it was claimed. Rows in ``reading`` are not results: ``readings`` leaves them out.

The citizen's follow-up is owed here too (``owe_followups``): one outbox row per person for the files just
read that need a word, each file marked ``notified_at`` by a conditional update, so never twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, exists, func, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations.evidence_facts import phash_bands
from storage import repo_outbox as ro
from storage.models import Assessment, Evidence, EvidenceReading, Person

READING = "reading"  # claimed, being read: not a result
READ = "read"
UNREADABLE = "unreadable"
FAILED = "failed"
OFF = "off"  # allowed by the schema for a file left unread on purpose; the reader stores none today
FOLLOWUP_KIND = "evidence_check"  # the outbox kind of the citizen's follow-up (composed in bot.reminders)


@dataclass(frozen=True)
class Pending:
    """A claimed file and what reading it needs: where it is, and what to compare its text with."""

    evidence_id: int
    assessment_id: int
    person_id: int
    indicator: int
    kind: str
    mime_type: str
    path: str
    created_at: datetime
    year: int
    pack_id: str | None
    pack_version: int | None
    full_name: str | None


@dataclass(frozen=True)
class Found:
    """What the reader found in one file; ``phash`` is hex, its bands are derived when stored; ``phash_probes``
    are the picture's search probes (bot.evidence_hash), hex."""

    status: str
    reader_version: int
    text: str | None = None
    dates: list[str] = field(default_factory=list)
    name_found: bool = False
    matched_indicators: list[int] = field(default_factory=list)
    confidence: float | None = None
    sharpness: float | None = None
    brightness: float | None = None
    phash: str | None = None
    phash_probes: list[str] | None = None
    flags: list[str] = field(default_factory=list)


def _insert(session: AsyncSession) -> Any:
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    return postgresql.insert(EvidenceReading) if dialect == "postgresql" else sqlite.insert(EvidenceReading)


def _unread() -> Any:
    return ~exists().where(col(EvidenceReading.evidence_id) == col(Evidence.id))


async def claim(
    *, session: AsyncSession, limit: int, now: datetime, reader_version: int, lease: timedelta
) -> list[Pending]:
    """Claims up to ``limit`` files to read (oldest first): unread ones, then claims older than ``lease``.
    Returns only the files this call claimed; another process's concurrent claim never returns the same."""
    # PostgreSQL: rows another claimer is taking right now are skipped, so concurrent claims take disjoint
    # files instead of racing for the same ones (the insert-if-absent below is what makes it safe anyway).
    unread = select(Evidence.id).where(_unread()).order_by(col(Evidence.id)).limit(limit)
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        unread = unread.with_for_update(skip_locked=True, key_share=True)
    ids = list((await session.exec(unread)).all())
    mine: list[int] = []
    if ids:
        stmt = (
            _insert(session)
            .values(
                [
                    {
                        "evidence_id": i,
                        "reader_version": reader_version,
                        "status": READING,
                        "dates": [],
                        "name_found": False,
                        "matched_indicators": [],
                        "flags": [],
                        "read_at": now,
                    }
                    for i in ids
                ]
            )
            .on_conflict_do_nothing(index_elements=["evidence_id"])
            .returning(EvidenceReading.__table__.c.evidence_id)
        )
        mine = list((await session.exec(stmt)).scalars().all())  # type: ignore[call-overload]
    if len(mine) < limit:
        stale = (
            select(EvidenceReading.evidence_id)
            .where(col(EvidenceReading.status) == READING, col(EvidenceReading.read_at) < now - lease)
            .order_by(col(EvidenceReading.evidence_id))
            .limit(limit - len(mine))
        )
        retaken = await session.exec(
            update(EvidenceReading)
            .where(
                col(EvidenceReading.evidence_id).in_(stale.scalar_subquery()),
                col(EvidenceReading.status) == READING,
                col(EvidenceReading.read_at) < now - lease,  # repeated: a claim another process just renewed
            )
            .values(read_at=now)
            .returning(col(EvidenceReading.evidence_id))
        )
        mine += list(retaken.scalars().all())
    return await pending(session=session, evidence_ids=mine)


async def pending(*, session: AsyncSession, evidence_ids: Sequence[int]) -> list[Pending]:
    """The reading details of the given files, in id order (a file deleted meanwhile is left out)."""
    if not evidence_ids:
        return []
    rows = await session.exec(
        select(Evidence, Assessment, Person)
        .join(Assessment, col(Assessment.id) == col(Evidence.assessment_id))
        .join(Person, col(Person.id) == col(Assessment.person_id))
        .where(col(Evidence.id).in_(list(evidence_ids)))
        .order_by(col(Evidence.id))
    )
    out = []
    for ev, a, p in rows.all():
        assert ev.id is not None and a.id is not None and p.id is not None
        out.append(
            Pending(
                evidence_id=ev.id,
                assessment_id=a.id,
                person_id=p.id,
                indicator=ev.indicator,
                kind=ev.kind,
                mime_type=ev.mime_type,
                path=ev.path,
                created_at=ev.created_at,
                year=a.year,
                pack_id=a.pack_id,
                pack_version=a.pack_version,
                full_name=p.full_name,
            )
        )
    return out


async def release(*, session: AsyncSession, evidence_id: int) -> None:
    """Gives a claim back unread (its file is not on disk yet): the file is in the queue again."""
    await session.exec(
        delete(EvidenceReading).where(
            col(EvidenceReading.evidence_id) == evidence_id, col(EvidenceReading.status) == READING
        )
    )


async def store(*, session: AsyncSession, evidence_id: int, found: Found, now: datetime) -> bool:
    """Fills in a claimed file's row; False when it is no longer claimed (its file was removed)."""
    bands = phash_bands(found.phash) if found.phash else (None, None, None, None)
    result = await session.exec(
        update(EvidenceReading)
        .where(col(EvidenceReading.evidence_id) == evidence_id, col(EvidenceReading.status) == READING)
        .values(
            reader_version=found.reader_version,
            status=found.status,
            text=found.text,
            dates=list(found.dates),
            name_found=found.name_found,
            matched_indicators=list(found.matched_indicators),
            confidence=found.confidence,
            sharpness=found.sharpness,
            brightness=found.brightness,
            phash=found.phash,
            phash_b0=bands[0],
            phash_b1=bands[1],
            phash_b2=bands[2],
            phash_b3=bands[3],
            phash_probes=list(found.phash_probes) if found.phash_probes is not None else None,
            flags=list(found.flags),
            read_at=now,
        )
    )
    return (result.rowcount or 0) > 0


async def unprobed(*, session: AsyncSession, limit: int) -> list[tuple[int, str]]:
    """Pictures read before their search probes were stored (migration 0009): (evidence id, path), oldest first."""
    rows = await session.exec(
        select(Evidence.id, Evidence.path)
        .join(EvidenceReading, col(EvidenceReading.evidence_id) == col(Evidence.id))
        .where(col(EvidenceReading.phash).is_not(None), col(EvidenceReading.phash_probes).is_(None))
        .order_by(col(Evidence.id))
        .limit(limit)
    )
    return [(evidence_id or 0, path) for evidence_id, path in rows.all()]


async def store_probes(*, session: AsyncSession, probes: dict[int, tuple[str, ...]]) -> None:
    """Stores the search probes of pictures read before they were stored; where another process was quicker,
    its probes stay. An empty list marks a file that gave none (gone, or no image after all)."""
    for evidence_id, found in probes.items():
        await session.exec(
            update(EvidenceReading)
            .where(col(EvidenceReading.evidence_id) == evidence_id, col(EvidenceReading.phash_probes).is_(None))
            .values(phash_probes=list(found))
        )


async def readings(*, session: AsyncSession, evidence_ids: Iterable[int]) -> dict[int, EvidenceReading]:
    """The finished readings of the given files (claims still being read are left out), by evidence id."""
    ids = list(evidence_ids)
    if not ids:
        return {}
    rows = await session.exec(
        select(EvidenceReading).where(col(EvidenceReading.evidence_id).in_(ids), col(EvidenceReading.status) != READING)
    )
    return {r.evidence_id: r for r in rows.all()}


async def queue_size(*, session: AsyncSession) -> int:
    """Files waiting to be read, the ones being read now included."""
    unread = (await session.exec(select(func.count()).select_from(Evidence).where(_unread()))).one()
    reading = (
        await session.exec(
            select(func.count()).select_from(EvidenceReading).where(col(EvidenceReading.status) == READING)
        )
    ).one()
    return int(unread) + int(reading)


async def owe_followups(
    *, session: AsyncSession, flagged: Sequence[tuple[int, int]], now: datetime
) -> list[tuple[int, list[int]]]:
    """Owes each person one follow-up for their files just read that need a word: ``flagged`` holds
    (person id, evidence id). Files already told about are skipped (``notified_at``, set here only where it
    was empty), so a file is never in two follow-ups. Returns (person id, evidence ids) for each row owed."""
    by_person: dict[int, list[int]] = {}
    for person_id, evidence_id in flagged:
        by_person.setdefault(person_id, []).append(evidence_id)
    owed = []
    for person_id, ids in sorted(by_person.items()):
        marked = await session.exec(
            update(EvidenceReading)
            .where(col(EvidenceReading.evidence_id).in_(ids), col(EvidenceReading.notified_at).is_(None))
            .values(notified_at=now)
            .returning(col(EvidenceReading.evidence_id))
        )
        fresh = sorted(marked.scalars().all())
        if not fresh:
            continue
        await ro.enqueue(
            session=session,
            person_id=person_id,
            kind=FOLLOWUP_KIND,
            cycle=f"evidence:{fresh[0]}",  # a file is in one follow-up only, so its first file names it
            due_at=now,
            payload={"evidence_ids": fresh},
        )
        owed.append((person_id, fresh))
    return owed


async def followup_files(
    *, session: AsyncSession, evidence_ids: Sequence[int]
) -> list[tuple[Evidence, EvidenceReading, Assessment]]:
    """The files a follow-up names that still exist, with their readings and assessment, in id order."""
    if not evidence_ids:
        return []
    rows = await session.exec(
        select(Evidence, EvidenceReading, Assessment)
        .join(EvidenceReading, col(EvidenceReading.evidence_id) == col(Evidence.id))
        .join(Assessment, col(Assessment.id) == col(Evidence.assessment_id))
        .where(col(Evidence.id).in_(list(evidence_ids)))
        .order_by(col(Evidence.id))
    )
    return [(ev, rd, a) for ev, rd, a in rows.all()]
