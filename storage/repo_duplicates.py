"""Copies of an evidence file used elsewhere: the same bytes (SHA-256) or a near copy (perceptual hash), found
by index lookups only, never by comparing all pairs.

A copy is *of interest* when another person used it (any year), or the same person in another year; the same
person attaching one file twice in one year is not (that is a question of which indicator it fits, which the
reader's ``other_indicator`` flag asks).

Near copies: the stored hash of each read photo is cut in four 16-bit bands, each indexed
(``EvidenceReading.phash_b0..b3``). A search looks up each band's values among the bands of the searched
file's probes (bot.evidence_hash: its stored hash and 21 cuts of it, stored with its reading, so no picture
is decoded here), so any stored hash within 3 bits of a
probe is a candidate (3 differing bits leave one band whole); candidates are kept when within ``NEAR_BITS``
of a probe they share a band with. Measured on generated certificates (bench/duplicates.py): re-compressed
(quality 30) and cropped (3–10% off each edge) copies lie 0–4 bits from their best probe and always shared
a band with it; different certificates mostly lie 8 or more apart, but certificates drawn on one template
can come within 4. So what the reader read decides too: a near (not exact) copy is dismissed when both files
show their own person's name (two people), when both carry dates and none in common, or when both carry
words and share too few of them (``SAME_WORDS``: OCR of a copy shared 48–85% of the original's words,
different certificates 17–54%).

Who may learn what (bot.handlers.review_findings): a reviewer sees who used a copy only when the copy's unit
lies within their scope (``visible``); otherwise only that it was also used outside their unit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations.evidence_facts import PHASH_BANDS, fold, phash_bands
from storage.models import Assessment, Evidence, EvidenceReading, Person, Unit

NEAR_BITS = 5  # a near copy: within this many bits of one of the searched file's probes
MOST = 20  # copies kept per file: enough to see it is a pattern, short enough to show
SAME_WORDS = 0.4  # a near copy's share of words in common with the file (Jaccard), where both have text
WORDS_NEEDED = 5  # fewer words read than this on either file: the words do not decide
CHUNK = 40  # files probed in one band lookup (a whole assessment's, or a batch confirm's in steps)
CHUNK_IDS = 500  # ids in one IN list


@dataclass(frozen=True)
class Copy:
    """One other use of a file: where it is and whose it is (shown only within the viewer's scope)."""

    evidence_id: int
    of: int  # the searched file's evidence id
    exact: bool  # the same bytes; else a near copy
    bits: int  # Hamming distance of the closest probe (0 for the same bytes)
    assessment_id: int
    person_id: int
    full_name: str | None
    unit_id: int | None
    unit_name: str | None
    unit_path: str | None
    year: int
    indicator: int


@dataclass(frozen=True)
class _Searched:
    evidence_id: int
    sha256: str
    person_id: int
    year: int
    name_found: bool
    probes: tuple[str, ...]
    dates: frozenset[str] = frozenset()
    words: frozenset[str] = frozenset()


def words_of(text: str | None) -> frozenset[str]:
    """The words of a file's text as compared: folded (no accents, lower case), two letters or more."""
    return frozenset(w for w in fold(text or "").split() if len(w) >= 2)


def same_document(
    a_dates: Iterable[str], a_words: frozenset[str], b_dates: Iterable[str], b_words: frozenset[str]
) -> bool:
    """Whether two pictures that hash alike may be the same document by what the reader read on them: not when
    both carry dates and share none, nor when both carry words and share too few."""
    a_set, b_set = set(a_dates), set(b_dates)
    if a_set and b_set and not a_set & b_set:
        return False
    if len(a_words) >= WORDS_NEEDED and len(b_words) >= WORDS_NEEDED:
        return len(a_words & b_words) / len(a_words | b_words) >= SAME_WORDS
    return True


def band_values(probes: Iterable[str]) -> list[set[int]]:
    """For each band: the probes' values there."""
    values: list[set[int]] = [set() for _ in range(PHASH_BANDS)]
    for probe in probes:
        for band, value in enumerate(phash_bands(probe)):
            values[band].add(value)
    return values


async def _in_chunks(session: AsyncSession, stmt: Any, column: Any, values: Iterable[Any]) -> list[Any]:
    """``stmt`` where ``column`` is one of ``values``, CHUNK_IDS values a statement (no database's limit met)."""
    wanted, rows = list(values), []
    for start in range(0, len(wanted), CHUNK_IDS):
        rows += (await session.exec(stmt.where(column.in_(wanted[start : start + CHUNK_IDS])))).all()
    return rows


def _band_columns() -> tuple[Any, ...]:
    return (
        col(EvidenceReading.phash_b0),
        col(EvidenceReading.phash_b1),
        col(EvidenceReading.phash_b2),
        col(EvidenceReading.phash_b3),
    )


async def _searched(
    session: AsyncSession, evidence_ids: Sequence[int], probes: Mapping[int, Sequence[str]]
) -> list[_Searched]:
    stmt = (
        select(Evidence, Assessment.person_id, Assessment.year, EvidenceReading)
        .join(Assessment, col(Assessment.id) == Evidence.assessment_id)
        .join(EvidenceReading, col(EvidenceReading.evidence_id) == Evidence.id, isouter=True)
    )
    found = []
    for evidence, person_id, year, reading in await _in_chunks(session, stmt, col(Evidence.id), evidence_ids):
        own = tuple(probes.get(evidence.id or 0) or (reading.phash_probes if reading else None) or ())
        phash = reading.phash if reading else None
        found.append(
            _Searched(
                evidence_id=evidence.id or 0,
                sha256=evidence.sha256,
                person_id=person_id,
                year=year,
                name_found=bool(reading and reading.name_found),
                probes=(*own, phash) if phash and phash not in own else own,
                dates=frozenset(reading.dates if reading else ()),
                words=words_of(reading.text if reading else None),
            )
        )
    return found


async def _near(session: AsyncSession, searched: Sequence[_Searched]) -> dict[int, dict[int, tuple[int, bool]]]:
    """For each searched file, the other files whose stored hash lies within NEAR_BITS of one of its probes and
    may be the same document: searched id -> other id -> (bits, their name found). Files are probed CHUNK at a
    time, one band lookup for them all; a candidate is compared only with the probes it shares a band with (the
    ones the lookup found it by)."""
    close: dict[int, dict[int, int]] = {}
    for start in range(0, len(searched), CHUNK):
        chunk = [s for s in searched[start : start + CHUNK] if s.probes]
        if not chunk:
            continue
        # band -> band value -> (the searched file's id, the probe) of every probe with that value there
        holders: list[dict[int, list[tuple[int, int]]]] = [{} for _ in range(PHASH_BANDS)]
        for s in chunk:
            for probe in set(s.probes):
                for band, value in enumerate(phash_bands(probe)):
                    holders[band].setdefault(value, []).append((s.evidence_id, int(probe, 16)))
        probed = or_(*(c.in_(sorted(h)) for c, h in zip(_band_columns(), holders, strict=True)))
        stmt = select(EvidenceReading.evidence_id, EvidenceReading.phash).where(probed)
        for other_id, phash in (await session.exec(stmt)).all():
            if phash is None:
                continue
            value = int(phash, 16)
            best: dict[int, int] = {}
            for band, v in enumerate(phash_bands(phash)):
                for searched_id, probe in holders[band].get(v, ()):
                    bits = (probe ^ value).bit_count()
                    if bits < best.get(searched_id, NEAR_BITS + 1):
                        best[searched_id] = bits
            for searched_id, bits in best.items():
                if searched_id != other_id:
                    close.setdefault(searched_id, {})[other_id] = bits
    others = sorted({o for found in close.values() for o in found})
    readings = {
        r.evidence_id: r
        for r in await _in_chunks(session, select(EvidenceReading), col(EvidenceReading.evidence_id), others)
    }
    by_id = {s.evidence_id: s for s in searched}
    near: dict[int, dict[int, tuple[int, bool]]] = {}
    for searched_id, found in close.items():
        s = by_id[searched_id]
        for other_id, bits in found.items():
            r = readings[other_id]
            if same_document(s.dates, s.words, r.dates, words_of(r.text)):
                near.setdefault(searched_id, {})[other_id] = (bits, r.name_found)
    return near


async def _exact(session: AsyncSession, shas: Iterable[str]) -> dict[str, list[int]]:
    """Files by SHA-256, for the given digests (ix_evidence_sha256)."""
    wanted = sorted(set(shas))
    if not wanted:
        return {}
    rows = await _in_chunks(session, select(Evidence.id, Evidence.sha256), col(Evidence.sha256), wanted)
    by_sha: dict[str, list[int]] = {}
    for evidence_id, sha in rows:
        by_sha.setdefault(sha, []).append(evidence_id or 0)
    return by_sha


async def _details(
    session: AsyncSession, evidence_ids: Iterable[int]
) -> dict[int, tuple[Evidence, Assessment, Person, Unit | None]]:
    ids = sorted(set(evidence_ids))
    if not ids:
        return {}
    stmt = (
        select(Evidence, Assessment, Person, Unit)
        .join(Assessment, col(Assessment.id) == Evidence.assessment_id)
        .join(Person, col(Person.id) == Assessment.person_id)
        .join(Unit, col(Unit.id) == Assessment.unit_id, isouter=True)
    )
    return {e.id or 0: (e, a, p, u) for e, a, p, u in await _in_chunks(session, stmt, col(Evidence.id), ids)}


async def copies_of(
    *, session: AsyncSession, evidence_ids: Sequence[int], probes: Mapping[int, Sequence[str]] | None = None
) -> dict[int, list[Copy]]:
    """The copies of interest of each file (by its evidence id; files with none are left out), the same bytes
    first, then the nearest. A file is searched with the probes stored with its reading (``phash_probes``), or
    those given in ``probes`` (bot.evidence_hash.file_hashes); a file with neither (read before migration 0009,
    until the reader fills them in) has only its stored hash, which finds re-compressed copies, not cropped."""
    searched = await _searched(session, evidence_ids, probes or {})
    exact = await _exact(session, (s.sha256 for s in searched))
    hits: dict[int, dict[int, tuple[bool, int, bool]]] = {}  # searched id -> other id -> (exact, bits, named)
    near = await _near(session, searched)
    for s in searched:
        found: dict[int, tuple[bool, int, bool]] = {}
        for other_id, (bits, named) in near.get(s.evidence_id, {}).items():
            found[other_id] = (False, bits, named)
        for other_id in exact.get(s.sha256, ()):
            if other_id != s.evidence_id:
                found[other_id] = (True, 0, False)
        if found:
            hits[s.evidence_id] = found
    details = await _details(session, (other for found in hits.values() for other in found))
    copies: dict[int, list[Copy]] = {}
    for s in searched:
        kept = []
        for other_id, (is_exact, bits, named) in hits.get(s.evidence_id, {}).items():
            if other_id not in details:
                continue
            evidence, assessment, person, unit = details[other_id]
            if assessment.person_id == s.person_id and assessment.year == s.year:
                continue  # the same person's same year: not a duplicate of interest
            if not is_exact and named and s.name_found and assessment.person_id != s.person_id:
                continue  # look-alike certificates, each with its own person's name on it
            kept.append(
                Copy(
                    evidence_id=other_id,
                    of=s.evidence_id,
                    exact=is_exact,
                    bits=bits,
                    assessment_id=assessment.id or 0,
                    person_id=person.id or 0,
                    full_name=person.full_name,
                    unit_id=unit.id if unit else None,
                    unit_name=unit.name if unit else None,
                    unit_path=unit.path if unit else None,
                    year=assessment.year,
                    indicator=evidence.indicator,
                )
            )
        if kept:
            kept.sort(key=lambda c: (not c.exact, c.bits, -c.year, c.evidence_id))
            copies[s.evidence_id] = kept[:MOST]
    return copies


def visible(copies: Iterable[Copy], scope_paths: Sequence[str] | None) -> tuple[list[Copy], bool]:
    """What a viewer whose scope is the subtrees at ``scope_paths`` (None: everywhere) may learn: the copies
    within it, and whether there are any outside it (of which nothing else is told)."""
    inside, outside = [], False
    for c in copies:
        if scope_paths is None or (c.unit_path is not None and any(c.unit_path.startswith(p) for p in scope_paths)):
            inside.append(c)
        else:
            outside = True
    return inside, outside
