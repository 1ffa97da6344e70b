"""The journey store on SQLite and PostgreSQL: state and effects written together, rights, locking."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from conversations import flow
from conversations.criteria import default_registry
from conversations.flow import FlowError, Step
from storage import journey as jr
from storage import repo_assessments as ra
from storage import repo_people as rp
from storage.db import Sessions, unit_of_work
from storage.models import Answer, Assessment, AuditEvent, Evidence, Outbox, OutboxStatus, Person

NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
YEAR = 2026


async def make_person(sessions: Sessions, user_id: int = 1, code: str = "T1") -> int:
    """A registered person in a new unit, at the group step."""
    async with unit_of_work(sessions) as s:
        unit = await rp.add_unit(session=s, code=code, name=f"Unit {code}")
        person = await rp.create_person(
            session=s, channel="telegram", external_id=str(user_id), chat_id=str(user_id), locale="vi"
        )
        person.full_name, person.unit_id, person.consent_at, person.step = "Lan", unit.id, NOW, jr.READY
        return person.id


async def step(sessions: Sessions, user_id: int, event: flow.Event) -> jr.Journey:
    async with unit_of_work(sessions) as s:
        person = await rp.get_person(session=s, channel="telegram", external_id=str(user_id), lock=True)
        assert person is not None
        j = await jr.load(session=s, registry=default_registry(), person=person, year=YEAR)
        t = flow.transition(j.state, event, j.facts)
        return await jr.apply(session=s, registry=default_registry(), journey=j, transition=t, year=YEAR, now=NOW)


async def test_group_choice_records_pack_and_version(sessions: Sessions) -> None:
    await make_person(sessions)
    j = await step(sessions, 1, flow.ChoseGroup("community"))
    assert j.state == flow.State(Step.LEVEL, 1)
    assert j.assessment is not None
    assert (j.assessment.pack_id, j.assessment.pack_version, j.assessment.year) == ("phu-luc-i", 1, YEAR)


async def test_state_and_answer_are_written_together(sessions: Sessions) -> None:
    await make_person(sessions)
    await step(sessions, 1, flow.ChoseGroup("community"))
    j = await step(sessions, 1, flow.ChoseLevel(1, 8))
    assert j.state == flow.State(Step.EVIDENCE, 1)
    async with sessions() as s:
        a = (await s.exec(select(Assessment))).one()
        answer = (await s.exec(select(Answer))).one()
    assert (a.step, a.indicator, answer.indicator, answer.chosen) == ("evidence", 1, 1, 8)


async def test_a_failed_transaction_leaves_neither_state_nor_answer(sessions: Sessions) -> None:
    await make_person(sessions)
    await step(sessions, 1, flow.ChoseGroup("community"))
    with pytest.raises(RuntimeError):
        async with unit_of_work(sessions) as s:
            person = await rp.get_person(session=s, channel="telegram", external_id="1", lock=True)
            j = await jr.load(session=s, registry=default_registry(), person=person, year=YEAR)
            t = flow.transition(j.state, flow.ChoseLevel(1, 10), j.facts)
            await jr.apply(session=s, registry=default_registry(), journey=j, transition=t, year=YEAR, now=NOW)
            raise RuntimeError("the process dies before commit")
    async with sessions() as s:
        assert (await s.exec(select(Answer))).all() == []
        assert (await s.exec(select(Assessment))).one().step == "level"


async def test_submission_scores_and_cancels_pending_reminders(sessions: Sessions) -> None:
    person_id = await make_person(sessions)
    await step(sessions, 1, flow.ChoseGroup("community"))
    async with unit_of_work(sessions) as s:
        s.add(Outbox(person_id=person_id, kind="reminder", cycle="2026:d30", due_at=NOW))
        a = (await s.exec(select(Assessment))).one()
        for n in range(1, 11):
            await ra.set_level(session=s, assessment=a, indicator=n, points=8)
            s.add(
                Evidence(
                    assessment_id=a.id,
                    indicator=n,
                    kind="photo",
                    file_id=f"f{n}",
                    file_unique_id=f"u{n}",
                    mime_type="image/jpeg",
                    size=1,
                    sha256="0" * 64,
                    path=f"p{n}",
                )
            )
        a.step, a.indicator = "review", 0
    await step(sessions, 1, flow.AskSubmit())
    j = await step(sessions, 1, flow.ConfirmedSubmit())
    assert j.state.step is Step.SUBMITTED
    async with sessions() as s:
        a = (await s.exec(select(Assessment))).one()
        row = (await s.exec(select(Outbox))).one()
    assert (a.status, a.total) == ("submitted", 80)
    assert row.status == OutboxStatus.CANCELLED


async def test_evidence_is_unique_per_indicator_and_file(sessions: Sessions) -> None:
    await make_person(sessions)
    await step(sessions, 1, flow.ChoseGroup("community"))

    def item(indicator: int) -> Evidence:
        return Evidence(
            assessment_id=1,
            indicator=indicator,
            kind="photo",
            file_id="f",
            file_unique_id="same",
            mime_type="image/jpeg",
            size=1,
            sha256="0" * 64,
            path="p",
        )

    async with unit_of_work(sessions) as s:
        await ra.add_evidence(session=s, evidence=item(1))
        await ra.add_evidence(session=s, evidence=item(2))  # the same file may prove another indicator
    with pytest.raises(IntegrityError):
        async with unit_of_work(sessions) as s:
            await ra.add_evidence(session=s, evidence=item(1))


async def test_delete_person_erases_everything_and_returns_file_paths(sessions: Sessions) -> None:
    person_id = await make_person(sessions)
    await step(sessions, 1, flow.ChoseGroup("community"))
    await step(sessions, 1, flow.ChoseLevel(1, 8))
    async with unit_of_work(sessions) as s:
        s.add(
            Evidence(
                assessment_id=1,
                indicator=1,
                kind="photo",
                file_id="f",
                file_unique_id="u",
                mime_type="image/jpeg",
                size=1,
                sha256="0" * 64,
                path="2026/1/1/u.jpg",
            )
        )
        s.add(Outbox(person_id=person_id, kind="reminder", cycle="2026", due_at=NOW))
        await ra.record_audit(session=s, action="submitted", actor_id=person_id, assessment_id=1)
    other = await make_person(sessions, user_id=2, code="T2")
    async with unit_of_work(sessions) as s:
        person = await rp.get_person(session=s, channel="telegram", external_id="1")
        erased = await rp.delete_person(session=s, person=person)
    assert erased == rp.Erased(["2026/1/1/u.jpg"], [(2026, 1)])
    async with sessions() as s:
        assert [p.id for p in (await s.exec(select(Person))).all()] == [other]
        for table in (Assessment, Answer, Evidence, Outbox, AuditEvent):
            assert (await s.exec(select(table))).all() == []


async def test_concurrent_presses_of_one_button_apply_once(sessions: Sessions, database) -> None:  # type: ignore[no-untyped-def]
    """Two processes get the same button press: the row lock makes the second see the first's result."""
    if database.backend != "postgresql":
        pytest.skip("row locks are a PostgreSQL matter; SQLite serves from one process")
    await make_person(sessions)
    await step(sessions, 1, flow.ChoseGroup("community"))
    outcomes: list[str] = []

    async def press() -> None:
        try:
            async with unit_of_work(sessions) as s:
                person = await rp.get_person(session=s, channel="telegram", external_id="1", lock=True)
                j = await jr.load(session=s, registry=default_registry(), person=person, year=YEAR)
                t = flow.transition(j.state, flow.ChoseLevel(1, 8), j.facts)
                await asyncio.sleep(0.05)  # widen the window in which the other press waits
                await jr.apply(session=s, registry=default_registry(), journey=j, transition=t, year=YEAR, now=NOW)
                outcomes.append("applied")
        except FlowError as exc:
            outcomes.append(exc.reason)

    await asyncio.gather(press(), press())
    assert sorted(outcomes) == ["applied", "stale"]
    async with sessions() as s:
        assert len((await s.exec(select(Answer))).all()) == 1


async def test_a_stale_unit_override_falls_back_to_the_group_pack(
    sessions: Sessions, caplog: pytest.LogCaptureFixture
) -> None:
    """The unit's override names a pack the registry no longer holds: the citizen gets the group's own pack and
    the log names the unit and the pack, not the person."""
    await make_person(sessions, code="TRUONG")
    async with unit_of_work(sessions) as s:
        unit = await rp.find_unit(session=s, code="TRUONG")
        assert unit is not None
        unit.pack_overrides = {"phu-luc-iv": "phu-luc-iv-removed"}  # as a pack removed after the unit was set up
    with caplog.at_level(logging.WARNING, logger="storage.journey"):
        j = await step(sessions, 1, flow.ChoseGroup("staff"))
    assert j.assessment is not None and (j.assessment.pack_id, j.assessment.pack_version) == ("phu-luc-iv", 1)
    assert j.state == flow.State(Step.LEVEL, 1)
    warnings = [r.getMessage() for r in caplog.records if r.name == "storage.journey"]
    assert warnings and all("TRUONG" in w and "phu-luc-iv-removed" in w and "Lan" not in w for w in warnings)
