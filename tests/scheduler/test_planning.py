"""Planning with a fixed clock: quiet hours, reminder offsets, officer notices, and who is left out."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from scheduler import planning
from scheduler.planning import CitizenFacts, OfficerFacts, Policy

VN = ZoneInfo("Asia/Ho_Chi_Minh")
POLICY = Policy(zone=VN)


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=VN)


# --------------------------------------------------------------------------- quiet hours


@pytest.mark.parametrize(
    ("moment", "quiet"),
    [
        (local(2026, 12, 1, 7, 59), True),
        (local(2026, 12, 1, 8, 0), False),
        (local(2026, 12, 1, 19, 59), False),
        (local(2026, 12, 1, 20, 0), True),
        (local(2026, 12, 1, 23, 30), True),
        (local(2026, 12, 1, 0, 0), True),
    ],
)
def test_quiet_hours_run_from_20_to_8_local_time(moment: datetime, quiet: bool) -> None:
    assert POLICY.is_quiet(moment) is quiet
    assert POLICY.is_quiet(moment.astimezone(UTC)) is quiet  # the zone, not the clock's, decides


def test_a_time_in_the_quiet_hours_moves_to_their_end() -> None:
    assert POLICY.next_allowed(local(2026, 12, 1, 22, 15)) == local(2026, 12, 2, 8, 0)
    assert POLICY.next_allowed(local(2026, 12, 2, 3, 0)) == local(2026, 12, 2, 8, 0)
    assert POLICY.next_allowed(local(2026, 12, 2, 10, 0)) == local(2026, 12, 2, 10, 0)
    # 31/12 at 21:00 moves into the next year: the planner then drops it (see below).
    assert POLICY.next_allowed(local(2026, 12, 31, 21, 0)) == local(2027, 1, 1, 8, 0)


def test_daytime_quiet_hours_and_none() -> None:
    lunch = Policy(zone=VN, quiet_start=time(11, 30), quiet_end=time(13, 30))
    assert lunch.is_quiet(local(2026, 5, 5, 12, 0)) and not lunch.is_quiet(local(2026, 5, 5, 14, 0))
    assert lunch.next_allowed(local(2026, 5, 5, 12, 0)) == local(2026, 5, 5, 13, 30)
    never = Policy(zone=VN, quiet_start=time(0, 0), quiet_end=time(0, 0))
    assert not never.is_quiet(local(2026, 5, 5, 3, 0))


# --------------------------------------------------------------------------- citizen reminder slots


def cycles(now: datetime, policy: Policy = POLICY) -> list[str]:
    return [s.cycle for s in planning.citizen_slots(now, policy)]


def test_default_offsets_fall_due_at_the_reminder_time_of_their_day() -> None:
    days = {1: 30, 17: 14, 24: 7, 28: 3, 30: 1}
    for day, offset in days.items():
        assert cycles(local(2026, 12, day, 8, 59)) == [], day
        [slot] = planning.citizen_slots(local(2026, 12, day, 9, 0), POLICY)
        assert (slot.cycle, slot.days, slot.year) == (f"2026:d{offset}", offset, 2026)
        assert slot.due_at == local(2026, 12, day, 9, 0)


def test_a_late_planner_still_plans_within_the_grace_day_but_never_stale_reminders() -> None:
    assert cycles(local(2026, 12, 2, 8, 59)) == ["2026:d30"]  # the bot was down on 1/12
    assert cycles(local(2026, 12, 2, 9, 0)) == []
    assert cycles(local(2026, 12, 10, 12, 0)) == []
    assert cycles(local(2026, 6, 1, 9, 30)) == []


def test_configured_offsets_and_time() -> None:
    policy = Policy(zone=VN, offsets=(10, 0), reminder_time=time(18, 30))
    assert cycles(local(2026, 12, 21, 18, 29), policy) == []
    assert cycles(local(2026, 12, 21, 18, 30), policy) == ["2026:d10"]
    assert cycles(local(2026, 12, 31, 19, 0), policy) == ["2026:d0"]


def test_a_reminder_time_in_the_quiet_hours_moves_out_of_them() -> None:
    policy = Policy(zone=VN, offsets=(7,), reminder_time=time(6, 0))
    [slot] = planning.citizen_slots(local(2026, 12, 24, 8, 0), policy)
    assert slot.due_at == local(2026, 12, 24, 8, 0)
    assert not policy.is_quiet(slot.due_at)


def person(status: str | None = "draft", **kw: object) -> CitizenFacts:
    values: dict[str, object] = {"person_id": 1, "registered": True, "reminders": True, "blocked": False}
    values.update(kw)
    return CitizenFacts(status=status, **values)  # type: ignore[arg-type]


@pytest.mark.parametrize("status", [None, "draft", "returned"])
def test_reminded_when_not_started_unfinished_or_returned(status: str | None) -> None:
    assert planning.wants_reminder(person(status))


@pytest.mark.parametrize("status", ["submitted", "reviewed", "recognised", "not_recognised", "expired"])
def test_not_reminded_once_submitted_or_decided(status: str) -> None:
    assert not planning.wants_reminder(person(status))


def test_not_reminded_when_off_blocked_or_not_registered() -> None:
    assert not planning.wants_reminder(person(reminders=False))
    assert not planning.wants_reminder(person(blocked=True))
    assert not planning.wants_reminder(person(registered=False))


def test_citizen_reminders_carry_the_slot() -> None:
    [slot] = planning.citizen_slots(local(2026, 12, 24, 9, 5), POLICY)
    people = [person("draft", person_id=1), person("submitted", person_id=2), person(None, person_id=3)]
    owed = planning.citizen_reminders(people, slot)
    assert [(p.person_id, p.kind, p.cycle) for p in owed] == [(1, "reminder", "2026:d7"), (3, "reminder", "2026:d7")]
    assert owed[0].payload == {"year": 2026, "days": 7} and owed[0].due_at == local(2026, 12, 24, 9, 0)


# --------------------------------------------------------------------------- officers


def officer(pending: int = 2, reports: bool = True, **kw: object) -> OfficerFacts:
    values: dict[str, object] = {"person_id": 9, "reminders": True, "blocked": False}
    values.update(kw)
    return OfficerFacts(pending_reviews=pending, reports=reports, **values)  # type: ignore[arg-type]


def test_pending_reviews_are_noticed_once_a_week_from_monday() -> None:
    monday = local(2026, 11, 30, 8, 59)  # Monday of ISO week 49
    assert planning.review_slot(monday, POLICY) is None
    slot = planning.review_slot(monday + timedelta(minutes=1), POLICY)
    assert slot is not None and slot.cycle == "review:2026-W49"
    later = planning.review_slot(local(2026, 12, 3, 15, 0), POLICY)
    assert later is not None and later.cycle == "review:2026-W49" and later.due_at == local(2026, 12, 3, 15, 0)
    evening = planning.review_slot(local(2026, 12, 3, 21, 0), POLICY)
    assert evening is not None and evening.due_at == local(2026, 12, 4, 8, 0)  # not in the quiet hours
    owed = planning.officer_notices([officer(pending=3), officer(pending=0, person_id=10)], local(2026, 12, 3), POLICY)
    assert [(p.person_id, p.cycle) for p in owed] == [(9, "review:2026-W49")]


def test_report_due_7_and_1_days_before_10_january() -> None:
    assert planning.report_slots(local(2027, 1, 3, 8, 59), POLICY) == []
    [d7] = planning.report_slots(local(2027, 1, 3, 9, 0), POLICY)
    [d1] = planning.report_slots(local(2027, 1, 9, 10, 0), POLICY)
    assert (d7.cycle, d7.year, d1.cycle) == ("report:2026:d7", 2026, "report:2026:d1")
    owed = planning.officer_notices(
        [officer(pending=0), officer(pending=0, reports=False, person_id=10)], local(2027, 1, 9, 10, 0), POLICY
    )
    assert [(p.person_id, p.kind, p.cycle) for p in owed] == [(9, "report_due", "report:2026:d1")]


def test_officers_who_switched_off_or_blocked_get_no_notice() -> None:
    now = local(2027, 1, 9, 10, 0)  # a Saturday: both a review week and a report day
    assert planning.officer_notices([officer(reminders=False), officer(blocked=True)], now, POLICY) == []
    assert {p.kind for p in planning.officer_notices([officer()], now, POLICY)} == {"review_pending", "report_due"}
