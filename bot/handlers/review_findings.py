"""What the evidence reader found, as the review card shows it under each indicator, and what counts as a
warning (the batch confirm takes only assessments without one).

One line per indicator that has files: the dates found (Babel, the officer's language), ⚠ outside the
assessed year, ⚠ hard to read, ⚠ fits another indicator better, ⚠ a copy of someone else's file, or
✓ matches the indicator; "reading…" after them while another file waits for the reader. An indicator none
of whose files is read yet shows nothing (nor does any while the reader is off). Who else used a copy is named only
when their unit lies within the reviewer's scope (storage.repo_duplicates.visible); otherwise the line says
only that it was also used outside the reviewer's unit.

A file's near copies are searched with the probes of its picture (bot.evidence_hash) that the reader stored
with its reading: a card or a batch confirm reads stored values only and never decodes a picture.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from html import escape

from babel.dates import format_date
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.context import BotData
from bot.handlers.officer_scope import REVIEWERS
from conversations import evidence_facts as ef
from locales import gettext
from storage import repo_duplicates as rd
from storage import repo_evidence_reading as rer
from storage import repo_roles as rr
from storage.models import Evidence, EvidenceReading, Person

DATES_SHOWN = 3  # dates listed per indicator, then "+N"
NAMES_SHOWN = 2  # people named per indicator, then "+N"
_DATE_PATTERN = {"vi": "dd/MM/yyyy", "en": "d MMM yyyy"}


@dataclass(frozen=True)
class FileFacts:
    """One file of an assessment with what was found about it."""

    evidence: Evidence
    reading: EvidenceReading | None  # None: not read yet (or being read)
    copies: tuple[rd.Copy, ...] = ()

    @property
    def read(self) -> bool:
        return self.reading is not None and self.reading.status in (rer.READ, rer.UNREADABLE)

    @property
    def unreadable(self) -> bool:
        r = self.reading
        return r is not None and (r.status == rer.UNREADABLE or ef.UNREADABLE in r.flags)

    @property
    def warned(self) -> bool:
        """Anything the team should look at: a flag, an unreadable file, a copy used elsewhere."""
        return bool(self.copies) or self.unreadable or bool(self.reading and self.reading.flags)


@dataclass(frozen=True)
class AssessmentFacts:
    """Every file of one assessment with its findings."""

    assessment_id: int
    year: int
    files: tuple[FileFacts, ...] = field(default_factory=tuple)

    @property
    def clean(self) -> bool:
        """All files read, none with a warning: what the batch confirm may take."""
        return all(f.read and not f.warned for f in self.files)


async def facts_of(session: AsyncSession, assessments: Sequence[tuple[int, int]]) -> dict[int, AssessmentFacts]:
    """The findings of each (assessment id, year), read now: its files, their readings and their copies."""
    ids = [a for a, _ in assessments]
    files = (
        await session.exec(
            select(Evidence).where(col(Evidence.assessment_id).in_(ids)).order_by(Evidence.indicator, Evidence.id)
        )
    ).all()
    readings = await rer.readings(session=session, evidence_ids=[f.id or 0 for f in files])
    copies = await rd.copies_of(session=session, evidence_ids=[f.id or 0 for f in files])
    by_assessment: dict[int, list[FileFacts]] = defaultdict(list)
    for f in files:
        by_assessment[f.assessment_id].append(FileFacts(f, readings.get(f.id or 0), tuple(copies.get(f.id or 0, ()))))
    return {a: AssessmentFacts(a, year, tuple(by_assessment.get(a, ()))) for a, year in assessments}


async def scope_paths(session: AsyncSession, data: BotData, officer: Person) -> list[str] | None:
    """The path prefixes of the reviewer's scope; None: everywhere (an admin)."""
    roots = await rr.scope_roots(session=session, person=officer, roles=REVIEWERS, admin_ids=data.settings.admin_ids)
    return None if roots is None else [u.path for u in roots]


def show_date(iso: str, locale: str) -> str:
    """An ISO date the reader found, as the officer's language writes it (as stored, should it not be one)."""
    try:
        day = date.fromisoformat(iso)
    except ValueError:
        return escape(iso)
    return format_date(day, _DATE_PATTERN.get(locale, "dd/MM/yyyy"), locale=locale)


def _more(items: list[str], shown: int, locale: str) -> str:
    text = ", ".join(items[:shown])
    if len(items) > shown:
        text += " " + gettext("officer.findings.more", locale, n=len(items) - shown)
    return text


def _copies_text(copies: Iterable[rd.Copy], scope: Sequence[str] | None, locale: str) -> list[str]:
    inside, outside = rd.visible(copies, scope)
    parts = []
    if inside:
        seen: dict[tuple[int, int, int], str] = {}  # one mention per person, year and indicator
        for c in inside:
            seen.setdefault(
                (c.person_id, c.year, c.indicator),
                gettext(
                    "officer.findings.copy_of",
                    locale,
                    name=escape(c.full_name or "—"),
                    unit=escape(c.unit_name or "—"),
                    year=c.year,
                    n=c.indicator,
                ),
            )
        parts.append(gettext("officer.findings.duplicate", locale, who=_more(list(seen.values()), NAMES_SHOWN, locale)))
    if outside:
        parts.append(gettext("officer.findings.outside_scope", locale))
    return parts


def indicator_line(
    files: Sequence[FileFacts], indicator: int, year: int, scope: Sequence[str] | None, locale: str
) -> str:
    """The findings of one indicator's files (of an assessment of ``year``), in one line; "" until one is read."""
    read = [f for f in files if f.read]
    if not read:  # nothing to tell yet (or the reader is off): the card stays as it was
        return ""
    parts: list[str] = []
    dates = sorted({d for f in read for d in (f.reading.dates if f.reading else [])})
    if dates:
        parts.append(
            gettext(
                "officer.findings.dates",
                locale,
                dates=_more([show_date(d, locale) for d in dates], DATES_SHOWN, locale),
            )
        )
    flags = {flag for f in read for flag in (f.reading.flags if f.reading else [])}
    if ef.OUTSIDE_YEAR in flags:
        parts.append(gettext("officer.findings.outside_year", locale, year=year))
    if any(f.unreadable for f in read):
        parts.append(gettext("officer.findings.unreadable", locale))
    if ef.OTHER_INDICATOR in flags:
        others = sorted(
            {n for f in read for n in (f.reading.matched_indicators if f.reading else []) if n != indicator}
        )
        parts.append(gettext("officer.findings.other_indicator", locale, indicators=", ".join(map(str, others)) or "?"))
    parts += _copies_text((c for f in files for c in f.copies), scope, locale)
    if any(f.reading and indicator in f.reading.matched_indicators for f in read) and ef.OTHER_INDICATOR not in flags:
        parts.append(gettext("officer.findings.matches", locale))
    if len(read) < len(files):  # more to come
        parts.append(gettext("officer.findings.reading", locale))
    return gettext("officer.findings.line", locale, findings=" · ".join(parts)) if parts else ""


async def card_lines(
    session: AsyncSession, data: BotData, officer: Person, assessment_id: int, year: int, locale: str
) -> dict[int, str]:
    """The card's findings line of each indicator that has something to show, for this reviewer."""
    facts = (await facts_of(session, [(assessment_id, year)]))[assessment_id]
    scope = await scope_paths(session, data, officer)
    by_indicator: dict[int, list[FileFacts]] = defaultdict(list)
    for f in facts.files:
        by_indicator[f.evidence.indicator].append(f)
    lines = {n: indicator_line(files, n, year, scope, locale) for n, files in by_indicator.items()}
    return {n: line for n, line in lines.items() if line}
