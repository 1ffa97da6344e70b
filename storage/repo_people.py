"""People and their units: lookup, registration and the Decree 13 rights (see and delete one's data)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations.units import clean_name, code_problem, name_problem
from storage import tally_counters as tc
from storage.models import Answer, Assessment, Broadcast, Evidence, Person, Unit
from storage.repo_outbox import BroadcastStatus


async def get_person(*, session: AsyncSession, channel: str, external_id: str, lock: bool = False) -> Person | None:
    """The person a messenger knows by ``external_id``; ``lock`` serialises concurrent updates of one person
    (PostgreSQL)."""
    stmt = select(Person).where(Person.channel == channel, Person.external_id == external_id)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.exec(stmt)).first()


async def create_person(
    *,
    session: AsyncSession,
    channel: str,
    external_id: str,
    chat_id: str | None,
    locale: str,
    display_name: str | None = None,
) -> Person:
    person = Person(channel=channel, external_id=external_id, chat_id=chat_id, locale=locale, display_name=display_name)
    session.add(person)
    await session.flush()
    return person


async def find_unit(*, session: AsyncSession, code: str) -> Unit | None:
    """A unit by its join code, ignoring case and surrounding blanks."""
    code = code.strip().upper()
    if not code:
        return None
    return (await session.exec(select(Unit).where(func.upper(Unit.code) == code))).first()


async def get_unit(*, session: AsyncSession, unit_id: int) -> Unit | None:
    return await session.get(Unit, unit_id)


async def add_unit(
    *,
    session: AsyncSession,
    code: str,
    name: str,
    kind: str = "community",
    parent: Unit | None = None,
    headcount: int = 0,
    pack_overrides: dict[str, str] | None = None,
) -> Unit:
    """A new unit; a code a join link cannot carry, or an empty name, is refused (ValueError, one line)."""
    if (problem := code_problem(code, name) or name_problem(name)) is not None:
        raise ValueError(problem)
    if headcount < 0:
        raise ValueError("the headcount cannot be negative")
    unit = Unit(
        code=code.upper(),
        name=clean_name(name),
        kind=kind,
        parent_id=parent.id if parent else None,
        headcount=headcount,
        pack_overrides=pack_overrides or {},
    )
    session.add(unit)
    await session.flush()
    unit.path = f"{parent.path if parent else '/'}{unit.id}/"
    await session.flush()
    return unit


async def person_data(*, session: AsyncSession, person: Person) -> dict[str, Any]:
    """Everything stored about a person, for the right to see one's own data."""
    assessments = (await session.exec(select(Assessment).where(Assessment.person_id == person.id))).all()
    out: dict[str, Any] = {
        "channel": person.channel,
        "external_id": person.external_id,
        "display_name": person.display_name,
        "full_name": person.full_name,
        "unit_id": person.unit_id,
        "locale": person.locale,
        "consent_at": person.consent_at,
        "reminders": person.reminders,
        "assessments": [],
    }
    for a in assessments:
        answers = (await session.exec(select(Answer).where(Answer.assessment_id == a.id))).all()
        files = (await session.exec(select(Evidence).where(Evidence.assessment_id == a.id))).all()
        out["assessments"].append(
            {
                "year": a.year,
                "pack": f"{a.pack_id}@{a.pack_version}",
                "status": a.status,
                "answers": {x.indicator: x.chosen for x in answers},
                "evidence_files": len(files),
            }
        )
    return out


@dataclass(frozen=True)
class Erased:
    """What erasing a person leaves to remove outside the database, once the erasure has committed."""

    evidence_paths: list[str]  # the files their evidence rows named, under EVIDENCE_DIR
    assessments: list[tuple[int, int]]  # (year, id) of each of their assessments: the folders of their files


# Broadcasts that reached others are history kept about them; one never sent is only its author's.
_SENT_BROADCASTS = (BroadcastStatus.QUEUED, BroadcastStatus.DONE)


async def delete_person(*, session: AsyncSession, person: Person) -> Erased:
    """Erases a person, citizen or officer, with all they stored; returns what the caller removes from disk.

    The delete rules of the foreign keys (models, migration 0004) do the work: the person's own rows go
    with them (assessments with their answers, evidence and the audit of them; roles, outbox rows, a
    pending officer step), and history kept about others stays without the link to them (assessments they
    reviewed, roles they granted, audit entries they wrote, broadcasts sent, role links they made or used).
    What they added to the tally counters goes with them.
    """
    counted = await tc.person_counts(session, person, committed=True)
    assessments = [
        (year, assessment_id)
        for year, assessment_id in (
            await session.exec(select(Assessment.year, Assessment.id).where(Assessment.person_id == person.id))
        ).all()
        if assessment_id is not None
    ]
    ids = [assessment_id for _, assessment_id in assessments]
    paths = list((await session.exec(select(Evidence.path).where(col(Evidence.assessment_id).in_(ids)))).all())
    unsent = col(Broadcast.status).not_in(_SENT_BROADCASTS)
    await session.exec(delete(Broadcast).where(col(Broadcast.officer_id) == person.id, unsent))
    await session.delete(person)
    await session.flush()
    await tc.count_change(session, counted, {})
    return Erased(paths, assessments)


def touch(person: Person, step: str) -> None:
    """Moves a person to a registration step; the revision makes older buttons stale."""
    person.step = step
    person.rev += 1
