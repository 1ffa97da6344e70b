"""The tally counters stay equal to a recount, whatever happens to assessments and people (SQLite and PostgreSQL).

The property test drives a small province through the real writers: citizens through ``journey.apply`` (with
evidence recorded as the handler does, and a unit joined by code set on the person before the transition, as
``citizen._join`` does), the team's adjust / return / confirm, the head's decision, evidence added and removed,
people moved and erased, units moved and the yearly expiry. After the sequence (and every few steps) the stored
counters equal ``recount`` (what ``cdht tally rebuild`` writes) and every unit's tally read from the counters
equals the tally counted from the rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import event as note
from hypothesis import strategies as st
from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel

from conversations import flow
from conversations.criteria import default_registry
from conversations.flow import FlowError, Step
from storage import journey as jr
from storage import repo_assessments as ra
from storage import repo_outbox as ro
from storage import repo_people as rp
from storage import repo_reports as rr
from storage import repo_review as rv
from storage import repo_units as ru
from storage import tally_counters as tc
from storage.db import Sessions, unit_of_work, upgrade
from storage.models import Assessment, AssessmentStatus, Evidence, Person, TallyCount, Unit
from tests.conftest import Database
from tests.storage.test_migrations import fresh  # noqa: F401 (fixture: an empty, unmigrated database)

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
REGISTRY = default_registry()
S = AssessmentStatus
YEARS = (2025, 2026)
# When things happen: in 2025, in 2026, and 00:30 on 1 January 2027 here (still 2026 in UTC).
MOMENTS = (
    datetime(2025, 6, 1, 3, tzinfo=UTC),
    datetime(2026, 3, 1, 3, tzinfo=UTC),
    datetime(2026, 12, 31, 17, 30, tzinfo=UTC),
)
UNITS = ("TINH", "XA1", "V1", "S1", "XA2", "V2")
PEOPLE = 6


async def wipe(sessions: Sessions) -> None:
    async with unit_of_work(sessions) as s:
        for table in reversed(SQLModel.metadata.sorted_tables):
            await s.exec(delete(table))  # type: ignore[call-overload]


@dataclass
class World:
    sessions: Sessions
    units: dict[str, int] = field(default_factory=dict)
    people: list[int] = field(default_factory=list)
    officer: int = 0
    files: int = 0

    @classmethod
    async def build(cls, sessions: Sessions) -> World:
        w = cls(sessions)
        async with unit_of_work(sessions) as s:
            made: dict[str, Unit] = {}
            for code, kind, parent, heads in (
                ("TINH", "province", None, 0),
                ("XA1", "commune", "TINH", 10),
                ("V1", "community", "XA1", 100),
                ("S1", "learning", "XA1", 20),
                ("XA2", "commune", "TINH", 0),
                ("V2", "community", "XA2", 50),
            ):
                made[code] = await rp.add_unit(
                    session=s, code=code, name=code, kind=kind, parent=made.get(parent or ""), headcount=heads
                )
            w.units = {c: u.id or 0 for c, u in made.items()}
            for i in range(PEOPLE):
                p = await rp.create_person(
                    session=s, channel="telegram", external_id=str(100 + i), chat_id=None, locale="vi"
                )
                w.people.append(p.id or 0)
            officer = await rp.create_person(
                session=s, channel="telegram", external_id="999", chat_id=None, locale="vi"
            )
            w.officer = officer.id or 0
        return w

    # ----------------------------------------------------------------- citizens

    async def citizen(self, who: int, year: int, k: int) -> None:
        """One citizen's next move: mostly the one that gets on, sometimes another; an illegal one changes nothing."""
        async with unit_of_work(self.sessions) as s:
            await self._move(s, who, year, k)

    async def hand_in(self, who: int, k: int) -> None:
        """A citizen of 2026 getting on until they hand in (or 50 moves), in one transaction: levels and files
        vary with ``k``."""
        async with unit_of_work(self.sessions) as s:
            for i in range(50):
                journey = await self._move(s, who, 2026, ONWARD[(k + 61 * i) % len(ONWARD)])
                if journey is None or (journey.assessment is not None and journey.assessment.status != S.DRAFT):
                    return

    async def _move(self, s, who: int, year: int, k: int) -> jr.Journey | None:
        person = await s.get(Person, self.people[who])
        if person is None:
            return None
        journey = await jr.load(session=s, registry=REGISTRY, person=person, year=year)
        now = MOMENTS[k % len(MOMENTS)]
        for event in self._events(journey, k):
            if isinstance(event, flow.JoinedUnit) and event.found:
                person.unit_id = self.units[UNITS[k % len(UNITS)]]  # as citizen._join does, before the move
            try:
                transition = flow.transition(journey.state, event, journey.facts)
            except FlowError:
                continue
            journey = await jr.apply(
                session=s, registry=REGISTRY, journey=journey, transition=transition, year=year, now=now
            )
            if isinstance(event, flow.AttachedEvidence) and journey.assessment is not None:
                await self._file(s, journey.assessment.id or 0, event.indicator)
            break
        return journey

    def _events(self, journey: jr.Journey, k: int) -> list[flow.Event]:
        state, facts = journey.state, journey.facts
        n = state.indicator or (facts.numbers[k % len(facts.numbers)] if facts.numbers else 1)
        levels = facts.levels.get(n, (0,))
        points = levels[(k // 7) % len(levels)]
        groups = sorted(facts.groups)
        onward: dict[Step, list[flow.Event]] = {
            Step.CONSENT: [flow.Declined() if k % 11 == 0 else flow.Consented()],
            Step.DECLINED: [flow.Restart()],
            Step.NAME: [flow.GaveName("Nguyễn Văn An")],
            Step.UNIT: [flow.JoinedUnit(found=k % 5 != 0)],
            Step.GROUP: [flow.ChoseGroup(groups[k % len(groups)])] if groups else [],
            Step.LEVEL: [flow.ChoseLevel(n, points)],
            Step.EVIDENCE: [flow.AttachedEvidence(n) if k % 3 else flow.FinishedEvidence(n)],
            Step.SKIP_WARNING: [flow.ConfirmedSkip(n)],
            Step.REVIEW: [flow.Edit(n) if k % 9 == 0 else flow.AskSubmit()],
            Step.CONFIRM_SUBMIT: [flow.ConfirmedSubmit()],
        }
        others: list[flow.Event] = [flow.Back(), flow.FinishedEvidence(n), flow.Cancel()]
        first = onward.get(state.step, [])
        return [*others[k % 3 : k % 3 + 1], *first] if k % 13 == 0 else [*first, *others]

    async def _file(self, s, assessment_id: int, indicator: int) -> None:
        self.files += 1
        await ra.add_evidence(
            session=s,
            evidence=Evidence(
                assessment_id=assessment_id,
                indicator=indicator,
                kind="photo",
                file_id=f"f{self.files}",
                file_unique_id=f"u{self.files}",
                mime_type="image/jpeg",
                size=10,
                sha256="0" * 64,
                path=f"x/{self.files}",
            ),
        )

    # ----------------------------------------------------------------- everyone else

    async def _assessment(self, s, k: int, *statuses: str) -> Assessment | None:
        stmt = select(Assessment).order_by(Assessment.id)
        if statuses:
            stmt = stmt.where(Assessment.status.in_(statuses))  # type: ignore[attr-defined]
        found = list((await s.exec(stmt)).scalars().all())
        return found[k % len(found)] if found else None

    async def evidence(self, k: int) -> None:
        async with unit_of_work(self.sessions) as s:
            a = await self._assessment(s, k)
            if a is None:
                return
            files = await ra.list_evidence(session=s, assessment_id=a.id or 0)
            if files and k % 2:
                await ra.remove_evidence(session=s, evidence=files[k % len(files)], actor_id=None, audited=False)
            else:
                await self._file(s, a.id or 0, 1 + k % 10)

    async def adjust(self, k: int) -> None:
        async with unit_of_work(self.sessions) as s:
            a = await self._assessment(s, k, S.SUBMITTED)
            if a is None or (pack := rv.pack_of(REGISTRY, a)) is None:
                return
            await rv.adjust(
                session=s,
                pack=pack,
                assessment=a,
                indicator=1 + k % 10,
                points=(0, 5, 8, 10)[k % 4],
                reason="x",
                actor_id=self.officer,
            )

    async def give_back(self, k: int) -> None:
        async with unit_of_work(self.sessions) as s:
            a = await self._assessment(s, k, S.SUBMITTED)
            if a is not None:
                await rv.return_to_citizen(
                    session=s, assessment=a, indicators=[1 + k % 10, 1 + k % 3], reason="x", actor_id=self.officer
                )

    async def confirm(self, k: int) -> None:
        async with unit_of_work(self.sessions) as s:
            a = await self._assessment(s, k, S.SUBMITTED)
            if a is not None and (pack := rv.pack_of(REGISTRY, a)) is not None:
                await rv.confirm(session=s, pack=pack, assessment=a, actor_id=self.officer, now=MOMENTS[1])

    async def recognise(self, k: int) -> None:
        async with unit_of_work(self.sessions) as s:
            unit = await s.get(Unit, self.units[UNITS[k % len(UNITS)]])
            assert unit is not None
            await rv.recognise(
                session=s,
                registry=REGISTRY,
                unit_path=unit.path,
                year=YEARS[(k // 6) % 2],
                decision_no="1/QĐ",
                decision_date=MOMENTS[1],
                actor_id=self.officer,
            )

    async def erase(self, k: int) -> None:
        async with unit_of_work(self.sessions) as s:
            person = await s.get(Person, self.people[k % PEOPLE])
            if person is not None:
                await rp.delete_person(session=s, person=person)

    async def move_person(self, k: int) -> None:
        async with unit_of_work(self.sessions) as s:
            person = await s.get(Person, self.people[k % PEOPLE])
            unit = await s.get(Unit, self.units[UNITS[(k // 7) % len(UNITS)]])
            if person is not None and unit is not None:
                await ru.move_person(session=s, person=person, unit=unit, year=YEARS[k % 2], actor_id=None)

    async def move_unit(self, k: int) -> None:
        async with unit_of_work(self.sessions) as s:
            unit = await s.get(Unit, self.units[("V2", "S1", "XA2")[k % 3]])
            parent = await s.get(Unit, self.units[("XA1", "XA2", "TINH")[(k // 3) % 3]])
            assert unit is not None and parent is not None
            with contextlib.suppress(ru.UnitError):  # XA2 under itself
                await ru.move_unit(session=s, unit=unit, parent=parent)

    async def expire(self, k: int) -> None:
        async with unit_of_work(self.sessions) as s:
            await ro.expire_unfinished(session=s, before_year=2026)

    # ----------------------------------------------------------------- the check

    async def check(self) -> None:
        async with self.sessions() as s:
            assert await tc.stored(s) == await tc.recounted(s)
            for code, years in (("TINH", (2025, 2026, 2027)), ("XA1", (2026,)), ("XA2", (2025, 2026)), ("V1", (2026,))):
                unit = await rp.find_unit(session=s, code=code)
                assert unit is not None
                for year in years:
                    kept = await rr.tally(session=s, unit=unit, year=year, registry=REGISTRY, zone=ZONE)
                    counted = await rr.tally_from_rows(session=s, unit=unit, year=year, registry=REGISTRY, zone=ZONE)
                    assert kept == counted, (code, year)


# Moves of 2026 that get on: no decline, a unit found, no edit, no detour, files attached two times in three.
ONWARD = [k for k in range(1, 5000) if k % 4 and k % 13 and k % 11 and k % 9 and k % 5]
# Weights: citizens act most, as they do.
ACTIONS = (
    ["citizen"] * 10 + ["hand_in"] * 2 + ["evidence", "adjust", "give_back", "confirm", "confirm", "recognise", "erase"]
)
ACTIONS += ["move_person", "move_unit", "expire"]
steps = st.lists(
    st.tuples(st.sampled_from(ACTIONS), st.integers(0, PEOPLE - 1), st.integers(0, 10_000)), min_size=15, max_size=50
)


async def play(sessions: Sessions, moves: list[tuple[str, int, int]], every: int = 20) -> None:
    await wipe(sessions)
    world = await World.build(sessions)
    for i, (action, who, k) in enumerate(moves):
        if action == "citizen":
            await world.citizen(who, YEARS[1] if k % 4 else YEARS[0], k)
        elif action == "hand_in":
            await world.hand_in(who, k)
        else:
            await getattr(world, action)(k)
        if i % every == every - 1:
            await world.check()
    await world.check()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(moves=steps)
async def test_counters_equal_a_recount_after_any_changes(
    sessions: Sessions, moves: list[tuple[str, int, int]]
) -> None:
    await play(sessions, moves)
    async with sessions() as s:
        for status in set((await s.exec(select(Assessment.status))).scalars().all()):  # type: ignore[call-overload]
            note(f"reached {status}")


async def test_a_long_season_reaches_every_status(sessions: Sessions) -> None:
    """A fixed long sequence, so the property is seen to hold where it matters: citizens hand in, the team
    adjusts, returns and confirms, the head decides, returned ones come back, then people move, are erased,
    files come and go and last year's drafts expire."""
    rnd = random.Random(2026)
    rounds = [("citizen", who, rnd.choice(ONWARD)) for _ in range(45) for who in range(PEOPLE)]
    last_year = [("citizen", who, 4 * rnd.randrange(1, 1000)) for _ in range(6) for who in range(2)]
    team = [("adjust", 0, 1), ("give_back", 0, 2), ("confirm", 0, 0), ("confirm", 0, 1), ("recognise", 0, 6)]
    later = [(rnd.choice(ACTIONS), rnd.randrange(PEOPLE), rnd.randrange(10_000)) for _ in range(40)]
    moves = last_year + rounds + team + rounds[:60] + [("confirm", 0, 0), ("recognise", 0, 6)] + later
    await play(sessions, [*moves, ("expire", 0, 0)], every=150)
    async with sessions() as s:
        statuses = set((await s.exec(select(Assessment.status))).scalars().all())  # type: ignore[call-overload]
    assert statuses >= {S.SUBMITTED, S.EXPIRED} and statuses & {S.RECOGNISED, S.NOT_RECOGNISED}, statuses


# --------------------------------------------------------------------------- single rules


async def test_joining_by_code_counts_the_person_where_they_joined(sessions: Sessions) -> None:
    world = await World.build(sessions)
    for k in (1, 1, 2):  # consent (in March 2026), name, then the unit: k=2 picks UNITS[2], V1
        await world.citizen(0, 2026, k)
    async with sessions() as s:
        person = await s.get(Person, world.people[0])
        assert person is not None and person.unit_id == world.units["V1"]
        # Registered from 2026 on in V1, with a draft of 2026 there (the group step opens it): its registered
        # corrections (+1 where it counts, -1 where she joined) cancel.
        assert await tc.stored(s) == {
            (world.units["V1"], 2026, "joined"): 1,
            (world.units["V1"], 2026, "status:draft"): 1,
        }
        v1 = await rp.find_unit(session=s, code="V1")
        assert v1 is not None
        t = await rr.tally(session=s, unit=v1, year=2026, registry=REGISTRY, zone=ZONE)
        assert t.total.registered == 1


async def test_a_tally_in_another_zone_is_counted_from_the_rows(sessions: Sessions) -> None:
    world = await World.build(sessions)
    for k in (2, 2):  # consented at 00:30 on 1 January 2027 here (2026 in UTC), then named
        await world.citizen(0, 2026, k)
    await world.move_person(18)  # to V1 by an operator: a unit, and still no assessment
    async with sessions() as s:
        tinh = await rp.find_unit(session=s, code="TINH")
        assert tinh is not None
        here = await rr.tally(session=s, unit=tinh, year=2026, registry=REGISTRY, zone=ZONE)
        utc = await rr.tally(session=s, unit=tinh, year=2026, registry=REGISTRY, zone=ZoneInfo("UTC"))
    assert (here.total.registered, utc.total.registered) == (0, 1)


async def test_rebuild_is_idempotent_and_repairs(sessions: Sessions) -> None:
    world = await World.build(sessions)
    for j in range(40):
        await world.citizen(j % 2, 2026, 4 * j + 1)
    async with unit_of_work(sessions) as s:
        kept = await tc.stored(s)
        assert kept  # something was counted
        await s.exec(delete(TallyCount).where(TallyCount.figure == "joined"))  # type: ignore[call-overload]
        await tc.add(s, {(world.units["V2"], 2026, "status:draft"): 5})
    async with unit_of_work(sessions) as s:
        written = await tc.rebuild(s)
        assert await tc.stored(s) == kept and written == len(kept)
    async with unit_of_work(sessions) as s:
        assert await tc.rebuild(s) == written and await tc.stored(s) == kept


async def test_two_workers_never_lose_a_count(database: Database, sessions: Sessions) -> None:
    """Increments of one counter from concurrent transactions all land (PostgreSQL: really at once)."""
    world = await World.build(sessions)
    key = (world.units["V1"], 2026, "status:draft")

    async def worker(times: int) -> None:
        for _ in range(times):
            async with unit_of_work(sessions) as s:
                await tc.add(s, {key: 1})
                await asyncio.sleep(0)  # let the other worker in while this one holds its increment

    await asyncio.gather(*(worker(25) for _ in range(4)))
    async with sessions() as s:
        assert (await tc.stored(s))[key] == 100


# --------------------------------------------------------------------------- the migration


AT_0006 = [
    "insert into unit (id, code, name, kind, path, headcount, targets, pack_overrides, created_at) "
    "values (1, 'XA1', 'Xã', 'commune', '/1/', 0, '{}', '{}', '2026-01-01')",
    "insert into unit (id, code, name, kind, path, headcount, targets, pack_overrides, created_at, parent_id) "
    "values (2, 'V1', 'Thôn', 'community', '/1/2/', 40, '{}', '{}', '2026-01-01', 1)",
    "insert into person (id, channel, external_id, full_name, unit_id, locale, step, rev, reminders, created_at, "
    "consent_at) values (7, 'telegram', '51', 'Lan', 2, 'vi', 'ready', 3, true, '2026-01-01', '2026-02-01')",
    "insert into person (id, channel, external_id, full_name, unit_id, locale, step, rev, reminders, created_at, "
    "consent_at) values (8, 'zalo', 'ab', 'Minh', 2, 'vi', 'ready', 3, true, '2026-01-01', '2026-02-01')",
    "insert into assessment (id, person_id, unit_id, year, step, indicator, editing, rev, status, pack_id, "
    "pack_version, returned_indicators, created_at, updated_at) values (3, 7, 2, 2026, 'submitted', 0, false, 4, "
    "'submitted', 'phu-luc-i', 1, '[]', '2026-01-01', '2026-01-01')",
    "insert into answer (assessment_id, indicator, chosen, updated_at) values (3, 1, 8, '2026-01-01')",
    "insert into answer (assessment_id, indicator, chosen, updated_at) values (3, 2, 5, '2026-01-01')",
    "insert into evidence (assessment_id, indicator, kind, file_id, file_unique_id, mime_type, size, sha256, path, "
    "created_at) values (3, 1, 'photo', 'f', 'u', 'image/jpeg', 1, 'x', 'p', '2026-01-01')",
]


async def test_migration_counts_what_is_already_stored(fresh: AsyncEngine) -> None:  # noqa: F811 (the fixture)
    await upgrade(fresh, "0006")
    async with fresh.begin() as conn:
        for row in AT_0006:
            await conn.execute(text(row))
    assert await upgrade(fresh, "0007") == ["0007"]
    async with fresh.connect() as conn:
        rows = {
            (u, y, f): n
            for u, y, f, n in (await conn.execute(text("select unit_id, year, figure, n from tally_count"))).all()
        }
    # Lan's assessment counts where she is, so her registered corrections cancel (+1 and -1 in V1): no row.
    assert rows == {
        (2, 2026, "joined"): 2,  # Lan and Minh consented in February 2026 in V1
        (2, 2026, "status:submitted"): 1,
        (2, 2026, "pack:phu-luc-i@1"): 1,
        (2, 2026, "points:1"): 8,  # indicator 2 has no evidence: 0 points, no row
    }
