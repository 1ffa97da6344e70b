"""Builders for the review card's findings and the batch confirm: a commune, reviewers, submitted assessments
whose files and readings are written directly (no OCR), and the neutral handlers' BotData."""

from __future__ import annotations

import hashlib
import itertools
from datetime import UTC, datetime
from pathlib import Path

from bot.context import BotData
from bot.evidence_hash import file_hashes
from bot.sender import Sender
from conversations.criteria import default_registry
from conversations.evidence_facts import phash_bands
from storage import repo_people as rp
from storage import repo_roles as rr
from storage.db import Sessions, unit_of_work
from storage.models import Answer, Assessment, Evidence, EvidenceReading, Person, Unit
from tests.bot.harness import Clock, make_settings

NOW = datetime(2026, 12, 3, 3, 0, tzinfo=UTC)
PACK = default_registry().get("phu-luc-i", 1)
_n = itertools.count(1)


def bot_data(sessions: Sessions, evidence: Path) -> BotData:
    return BotData(settings=make_settings(evidence), sessions=sessions, registry=default_registry(), clock=Clock(NOW))


async def seed_units(sessions: Sessions) -> dict[str, Unit]:
    """XA1 (commune) with THON1 and THON2 below it, and XA2 beside it with THON3."""
    async with unit_of_work(sessions) as s:
        xa1 = await rp.add_unit(session=s, code="XA1", name="Xã Văn Bình", kind="commune")
        t1 = await rp.add_unit(session=s, code="THON1", name="Thôn Bình Vọng", parent=xa1)
        t2 = await rp.add_unit(session=s, code="THON2", name="Thôn Đông", parent=xa1)
        xa2 = await rp.add_unit(session=s, code="XA2", name="Xã Bên", kind="commune")
        t3 = await rp.add_unit(session=s, code="THON3", name="Thôn Ba", parent=xa2)
        return {u.code: u for u in (xa1, t1, t2, xa2, t3)}


async def reviewer(
    sessions: Sessions, external_id: str, code: str, locale: str = "vi", channel: str = "telegram"
) -> Sender:
    """A reviewer of ``code``'s subtree, and the sender their updates come from."""
    async with unit_of_work(sessions) as s:
        person = await rp.create_person(
            session=s, channel=channel, external_id=external_id, chat_id=external_id, locale=locale
        )
        unit = await rp.find_unit(session=s, code=code)
        await rr.grant(session=s, person=person, role="reviewer", unit=unit)
    return Sender(channel, external_id, external_id, language_code=locale, buttons=channel == "telegram")


async def officer(sessions: Sessions, sender: Sender) -> Person:
    async with sessions() as s:
        person = await rp.get_person(session=s, channel=sender.channel, external_id=sender.external_id)
        assert person is not None
        return person


async def submitted(sessions: Sessions, name: str, code: str, year: int = 2026, points: int | None = None) -> int:
    """A citizen of ``code`` whose assessment of ``year`` is submitted, every indicator at its top level (or
    ``points`` where the level exists); returns the assessment id."""
    async with unit_of_work(sessions) as s:
        unit = await rp.find_unit(session=s, code=code)
        assert unit is not None
        person = Person(channel="telegram", external_id=f"c{next(_n)}", full_name=name, unit_id=unit.id, step="ready")
        s.add(person)
        await s.flush()
        a = Assessment(
            person_id=person.id or 0,
            unit_id=unit.id,
            year=year,
            pack_id=PACK.id,
            pack_version=PACK.version,
            status="submitted",
            step="done",
            submitted_at=NOW,
        )
        s.add(a)
        await s.flush()
        for ind in PACK.indicators:
            top = max(lv.points for lv in ind.levels)
            chosen = points if points is not None and ind.level(points) is not None else top
            s.add(Answer(assessment_id=a.id or 0, indicator=ind.number, chosen=chosen))
        return a.id or 0


async def add_file(
    sessions: Sessions,
    evidence: Path,
    assessment_id: int,
    indicator: int,
    data: bytes,
    *,
    read: bool = True,
    dates: list[str] | None = None,
    matched: list[int] | None = None,
    flags: list[str] | None = None,
    status: str = "read",
    text: str | None = None,
) -> int:
    """Stores ``data`` as evidence and, unless ``read`` is False, the reader's findings about it (its hash and
    search probes as the reader stores them)."""
    n = next(_n)
    relative = f"2026/{assessment_id}/{indicator}/{n}.jpg"
    (evidence / relative).parent.mkdir(parents=True, exist_ok=True)
    (evidence / relative).write_bytes(data)
    async with unit_of_work(sessions) as s:
        e = Evidence(
            assessment_id=assessment_id,
            indicator=indicator,
            kind="photo",
            file_id=f"f{n}",
            file_unique_id=f"u{n}",
            mime_type="image/jpeg",
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            path=relative,
        )
        s.add(e)
        await s.flush()
        if read:
            hashed = file_hashes(evidence / relative)
            phash = hashed.stored if hashed else None
            bands = phash_bands(phash) if phash else (None, None, None, None)
            s.add(
                EvidenceReading(
                    evidence_id=e.id or 0,
                    status=status,
                    dates=dates or [],
                    text=text,
                    matched_indicators=[indicator] if matched is None else matched,
                    flags=flags or [],
                    phash=phash,
                    phash_b0=bands[0],
                    phash_b1=bands[1],
                    phash_b2=bands[2],
                    phash_b3=bands[3],
                    phash_probes=list(hashed.probes) if hashed else None,
                    read_at=NOW,
                )
            )
        return e.id or 0
