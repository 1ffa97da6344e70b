"""Tally figures on a small seeded tree, checked against values computed by hand (SQLite and PostgreSQL).

The tree (headcount = the unit's own members):

    TINH  province  0   targets {"community": 50}  (percent: 0.5 for everything below)
    ├── XA1  commune   10
    │   ├── V1  village   100
    │   ├── V2  village    50
    │   └── S1  school     20 (learning)  targets {"staff:2030": 0.7}
    └── XA2  commune    0
        └── V3  village   200

People of 2026 and what they count as is in ``seed()``; every figure asserted below is worked out in the
comment next to it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from conversations.criteria import default_registry
from storage import repo_people as rp
from storage import repo_reports as rr
from storage import tally_counters as tc
from storage.db import Sessions, unit_of_work
from storage.models import Answer, Assessment, Evidence, Person, Unit
from storage.repo_reports import Targets, resolve_targets

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
PACK_I = ("phu-luc-i", 1)
PACK_IV = ("phu-luc-iv", 1)
_ids = iter(range(10_000, 1_000_000))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


FEBRUARY = utc(2026, 2, 1)  # when most people of the tree consented


# --------------------------------------------------------------------------- builders


async def unit(s, code: str, kind: str, headcount: int, parent: Unit | None = None, targets=None) -> Unit:
    u = await rp.add_unit(session=s, code=code, name=f"Đơn vị {code}", kind=kind, parent=parent, headcount=headcount)
    if targets:
        u.targets = targets
        await s.flush()
    return u


async def person(s, at: Unit | None, name: str, consent: datetime | None = FEBRUARY) -> Person:
    p = Person(
        channel="telegram",
        external_id=str(next(_ids)),
        chat_id="1",
        full_name=name,
        unit_id=at.id if at else None,
        consent_at=consent,
        step="ready",
    )
    s.add(p)
    await s.flush()
    return p


def same(
    points: int, *, reviewed: dict[int, int] | None = None, no_evidence: tuple[int, ...] = (), **chosen: int
) -> dict[int, tuple[int | None, bool, int | None]]:
    """Indicator -> (chosen, has evidence, reviewer points): ``points`` everywhere unless said otherwise
    (``i5=5`` chooses 5 on indicator 5)."""
    out: dict[int, tuple[int | None, bool, int | None]] = {}
    for n in range(1, 11):
        out[n] = (chosen.get(f"i{n}", points), n not in no_evidence, (reviewed or {}).get(n))
    return out


async def assess(
    s,
    who: Person,
    at: Unit,
    status: str,
    answers=None,
    *,
    year: int = 2026,
    pack=PACK_I,
    submitted: datetime | None = None,
    reviewer: Person | None = None,
    decision_no: str | None = None,
    decision: datetime | None = None,
    reviewed_at: datetime | None = None,
) -> Assessment:
    a = Assessment(
        person_id=who.id,
        unit_id=at.id,
        year=year,
        status=status,
        pack_id=pack[0],
        pack_version=pack[1],
        submitted_at=submitted,
        reviewed_by=reviewer.id if reviewer else None,
        decision_no=decision_no,
        decision_date=decision,
        reviewed_at=reviewed_at,
        step="level",
    )
    s.add(a)
    await s.flush()
    for n, (chosen, evidenced, reviewed) in (answers or {}).items():
        s.add(Answer(assessment_id=a.id, indicator=n, chosen=chosen, reviewer_points=reviewed))
        if evidenced:
            s.add(
                Evidence(
                    assessment_id=a.id,
                    indicator=n,
                    kind="photo",
                    file_id=f"f{a.id}-{n}",
                    file_unique_id=f"u{a.id}-{n}",
                    mime_type="image/jpeg",
                    size=10,
                    sha256="0" * 64,
                    path=f"x/{a.id}/{n}",
                )
            )
    await s.flush()
    return a


async def seed(sessions: Sessions) -> dict[str, Unit]:
    async with unit_of_work(sessions) as s:
        tinh = await unit(s, "TINH", "province", 0, targets={"community": 50})
        xa1 = await unit(s, "XA1", "commune", 10, tinh)
        v1 = await unit(s, "V1", "community", 100, xa1)
        v2 = await unit(s, "V2", "community", 50, xa1)
        s1 = await unit(s, "S1", "learning", 20, xa1, targets={"staff:2030": 0.7})
        xa2 = await unit(s, "XA2", "commune", 0, tinh)
        v3 = await unit(s, "V3", "community", 200, xa2)
        team = await person(s, None, "Trần Tổ Trưởng", consent=None)

        # V1
        a1 = await person(s, v1, "A1")
        await assess(
            s,
            a1,
            v1,
            "recognised",
            same(10),
            submitted=utc(2026, 2, 28, 18),
            reviewer=team,
            decision_no="12/QĐ-UBND",
            decision=utc(2026, 8, 10),
        )  # 18:00 UTC = 01:00 on 1 March here
        a2 = await person(s, v1, "A2")
        await assess(
            s,
            a2,
            v1,
            "recognised",
            same(10, reviewed={5: 5}),
            submitted=utc(2026, 3, 10),
            reviewer=team,
            decision_no="12/QĐ-UBND",
            decision=utc(2026, 8, 10),
        )
        a3 = await person(s, v1, "A3")
        await assess(s, a3, v1, "submitted", same(10, no_evidence=(10,)), submitted=utc(2026, 4, 2))
        a4 = await person(s, v1, "A4")
        await assess(s, a4, v1, "draft", {1: (10, True, None), 2: (8, False, None)})
        a5 = await person(s, v1, "A5")
        await assess(s, a5, v1, "draft")  # chose a group, no level yet: registered only
        await person(s, v1, "P6")  # registered, never started
        await person(s, v1, "P7", consent=None)  # never consented: not counted
        await person(s, v1, "P8", consent=utc(2027, 1, 5))  # registered after 2026 ended
        # V2
        b1 = await person(s, v2, "B1")
        await assess(s, b1, v2, "returned", same(5), submitted=utc(2026, 5, 3))
        b2 = await person(s, v2, "B2")
        await assess(s, b2, v2, "not_recognised", same(8, reviewed={3: 0}), submitted=utc(2026, 5, 20), reviewer=team)
        b3 = await person(s, v2, "B3", consent=utc(2025, 3, 1))
        await assess(
            s, b3, v2, "recognised", same(10), year=2025, submitted=utc(2025, 6, 1), decision=utc(2025, 12, 20)
        )
        # S1, a school on the staff pack
        c1 = await person(s, s1, "C1")
        await assess(
            s, c1, s1, "recognised", same(10), pack=PACK_IV, submitted=utc(2026, 6, 1), decision=utc(2026, 9, 5)
        )
        c2 = await person(s, s1, "C2")
        await assess(
            s, c2, s1, "reviewed", same(8, reviewed={10: 8}, no_evidence=(10,)), pack=PACK_IV, submitted=utc(2026, 6, 9)
        )
        # XA1's own staff
        d1 = await person(s, xa1, "D1")
        await assess(s, d1, xa1, "submitted", same(5), submitted=utc(2026, 7, 1))
        # V3
        e1 = await person(s, v3, "E1")
        await assess(s, e1, v3, "recognised", same(8), submitted=utc(2026, 7, 15), reviewed_at=utc(2026, 10, 1))
        e2 = await person(s, v1, "E2")  # assessed in V3 this year, has since moved to V1
        await assess(s, e2, v3, "submitted", same(8, i5=5), submitted=utc(2026, 12, 31, 17, 30))
        await tc.rebuild(s)  # rows written by hand, around the counting writers: counted as a migration would
        return {u.code: u for u in (tinh, xa1, v1, v2, s1, xa2, v3)}


# --------------------------------------------------------------------------- tests


def test_targets_follow_the_horizon_and_overrides() -> None:
    assert resolve_targets(2024) == Targets(2025, 0.40, 0.60, 0.70, 0.90)
    assert resolve_targets(2025) == Targets(2025, 0.40, 0.60, 0.70, 0.90)
    assert resolve_targets(2026) == Targets(2030, 0.60, 0.80, 0.90, 0.90)
    # Root first, nearer wins; the horizon-specific key beats the plain one; percentages read as such.
    got = resolve_targets(2026, [{"community": 70, "staff": 0.85}, {"staff:2030": 0.9, "staff": 0.5}, {"x": 1}])
    assert (got.community, got.staff) == (0.70, 0.90)
    assert resolve_targets(2025, [{"staff:2030": 0.9}]).staff == 0.60
    assert resolve_targets(2026, [{"digital": "high", "community": -1}]).digital == 0.90


async def test_tally_of_the_province(sessions: Sessions) -> None:
    await seed(sessions)
    async with sessions() as s:
        tinh = await rp.find_unit(session=s, code="TINH")
        t = await rr.tally(session=s, unit=tinh, year=2026, registry=default_registry(), zone=ZONE)
    assert [c.code for c in t.children] == ["XA1", "XA2"]
    x1, x2 = t.children
    # XA1: 10 own + 100 + 50 + 20 (school) = 180, of which staff 20.
    assert (x1.headcount, x1.headcount_staff, x1.headcount_community) == (180, 20, 160)
    # V1: A1..A5, P6 (not P7: no consent; not P8: after 2026; not E2: assessed in V3); V2: B1..B3; S1: 2; D1.
    assert x1.registered == 6 + 3 + 2 + 1
    assert (x1.in_progress, x1.submitted, x1.returned, x1.reviewed) == (1, 2, 1, 1)  # A4; A3, D1; B1; C2
    assert (x1.recognised, x1.not_recognised, x1.recognised_staff) == (3, 1, 1)  # A1, A2, C1; B2; C1
    assert x1.assessed == 8
    assert x1.digital == 2  # A1 and C1 (A2's indicator 5 reviewed down to 5 < 8)
    assert x1.targets.community == 0.5 and x1.targets.staff == 0.8  # the province's override, inherited
    assert x1.needed == 160 * 0.5 + 20 * 0.8 == 96
    assert x1.share_recognised == pytest.approx(3 / 180)
    assert x1.share_community == pytest.approx(2 / 160)
    assert x1.share_staff == pytest.approx(1 / 20)
    assert x1.share_digital == pytest.approx(2 / 3)
    assert x1.meets_target is False and x1.meets_digital is False and x1.unit_title is None
    # XA2: V3 only; E2 counts here (registered and submitted) although they now live in V1.
    assert (x2.headcount, x2.registered, x2.submitted, x2.recognised, x2.digital) == (200, 2, 1, 1, 1)
    assert x2.needed == 100 and x2.share_staff is None
    # The province: the sum of both, nothing of its own.
    tot = t.total
    assert (tot.headcount, tot.registered, tot.in_progress, tot.assessed, tot.recognised, tot.digital) == (
        380,
        14,
        1,
        10,
        4,
        3,
    )
    assert tot.needed == 360 * 0.5 + 20 * 0.8 == 196
    # Scored: A1 A2 A3 B2 C1 C2 D1 E1 E2 (9); 77 points per indicator, minus: ind 10 A3 has no evidence (-10),
    # ind 3 B2 reviewed to 0 (-8), ind 5 A2 reviewed to 5 (-5) and E2 chose 5 (-3).
    assert [(i.number, i.points, i.count) for i in t.indicators] == [
        (n, {3: 69, 5: 69, 10: 67}.get(n, 77), 9) for n in range(1, 11)
    ]
    assert [i.number for i in t.weakest()] == [10, 3, 5]
    assert t.weakest()[0].average == pytest.approx(67 / 9)
    assert t.pack == PACK_I


async def test_tally_of_a_commune_and_a_past_year(sessions: Sessions) -> None:
    await seed(sessions)
    async with sessions() as s:
        xa1 = await rp.find_unit(session=s, code="XA1")
        t = await rr.tally(session=s, unit=xa1, year=2026, registry=default_registry(), zone=ZONE)
        past = await rr.tally(session=s, unit=xa1, year=2025, registry=default_registry(), zone=ZONE)
        empty = await rr.tally(session=s, unit=xa1, year=2020, registry=default_registry(), zone=ZONE)
    rows = {c.code: c for c in t.children}
    assert list(rows) == ["S1", "V1", "V2"]
    school = rows["S1"]
    assert (school.headcount, school.registered, school.recognised, school.reviewed) == (20, 2, 1, 1)
    assert school.targets.staff == 0.7 and school.targets.community == 0.5
    assert school.needed == 14  # 20 staff x 0.7
    assert school.unit_title is False  # 1/20 = 5% < 90%
    assert (rows["V1"].registered, rows["V1"].in_progress, rows["V1"].recognised) == (6, 1, 2)
    assert t.total.headcount == 180 and t.total.registered == 12  # XA1's own D1 is in the total only
    # 2025: only B3 (consented March 2025, recognised in 2025); 2025 targets, the override still applies.
    assert (past.total.registered, past.total.recognised, past.total.assessed) == (1, 1, 1)
    assert past.total.targets == Targets(2025, 0.5, 0.6, 0.7, 0.9)
    assert rows["V2"].registered == 3 and {c.code: c for c in past.children}["V2"].recognised == 1
    assert empty.total.registered == 0 and empty.weakest() == [] and empty.pack is None


async def test_distribution_progress_and_list(sessions: Sessions) -> None:
    await seed(sessions)
    async with sessions() as s:
        tinh = await rp.find_unit(session=s, code="TINH")
        xa1 = await rp.find_unit(session=s, code="XA1")
        dist = await rr.totals_distribution(session=s, unit=tinh, year=2026)
        progress = await rr.monthly_progress(session=s, unit=tinh, year=2026, zone=ZONE)
        rows = await rr.list_rows(session=s, unit=xa1, year=2026)
    assert dist == {100: 2, 95: 1, 90: 1, 72: 1, 80: 2, 50: 1, 77: 1}  # E2: 9 x 8 + 5
    # A1 handed in at 01:00 on 1 March local time (28 Feb in UTC); E2 at 00:30 on 1 January 2027: December.
    assert progress.submitted == [0, 0, 2, 1, 2, 2, 2, 0, 0, 0, 0, 1]
    # A1 and A2 by decision in August, C1 in September, E1 (no decision date) by its review in October.
    assert progress.recognised == [0, 0, 0, 0, 0, 0, 0, 2, 1, 1, 0, 0]
    assert rr.Progress.cumulative(progress.recognised)[-1] == 4
    # XA1's list: 2026 only (not B3's 2025), ordered by unit path then name.
    assert [r.person for r in rows] == ["D1", "A1", "A2", "A3", "A4", "A5", "B1", "B2", "C1", "C2"]
    by = {r.person: r for r in rows}
    assert by["A3"].points == (10,) * 9 + (0,) and by["A3"].total == 90 and by["A3"].evidence == 9
    assert by["A2"].points[4] == 5 and by["A2"].total == 95
    assert by["A2"].reviewer == "Trần Tổ Trưởng" and by["A2"].decision_no == "12/QĐ-UBND"
    assert by["A2"].decision_date == utc(2026, 8, 10)
    assert by["A4"].points == (10, 0, *(None,) * 8) and by["A4"].status == "draft"
    assert by["A5"].points == (None,) * 10 and by["A5"].evidence == 0
    assert by["C2"].points[9] == 8 and by["C2"].pack_id == "phu-luc-iv" and by["C2"].unit_code == "S1"


async def test_own_members_are_the_total_minus_the_children(sessions: Sessions) -> None:
    await seed(sessions)
    async with sessions() as s:
        xa1 = await rp.find_unit(session=s, code="XA1")
        xa2 = await rp.find_unit(session=s, code="XA2")
        t = await rr.tally(session=s, unit=xa1, year=2026, registry=default_registry(), zone=ZONE)
        t2 = await rr.tally(session=s, unit=xa2, year=2026, registry=default_registry(), zone=ZONE)
        leaf = await rr.tally(
            session=s, unit=await rp.find_unit(session=s, code="V3"), year=2026, registry=default_registry(), zone=ZONE
        )
    own = t.own
    assert own is not None and own.code == "XA1"
    # XA1's own: 10 staff places, D1 registered and submitted.
    assert (own.headcount, own.registered, own.submitted, own.recognised, own.assessed) == (10, 1, 1, 0, 1)
    assert t2.own is None  # XA2 has no members of its own
    assert leaf.children == [] and leaf.own is None and leaf.total.registered == 2
